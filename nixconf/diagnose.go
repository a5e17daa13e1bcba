package nixconf

// What `nix-auth doctor` needs to explain the config that this package
// reads: settings by layer, the netrc files the user's nix and the daemon
// read, and whether a managed nix.conf lacks nix-auth's include.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SettingIn returns the line that gives a single-valued setting (such as
// netrc-file) its value, as Nix reads the config: the last one. With
// layers given, only lines of those layers count: LayerBefore alone is
// what a process that reads no user config of this user sees, such as
// the nix-daemon, which runs as root.
func (c *Config) SettingIn(name string, layers ...Layer) (Setting, bool) {
	var s Setting
	ok := false
	for _, a := range c.assigns {
		if a.st.include != "" || a.st.name != name {
			continue
		}
		if len(layers) > 0 && !slices.Contains(layers, a.layer) {
			continue
		}
		s, ok = Setting{Value: a.st.value, File: a.file, Line: a.st.line, Layer: a.layer}, true
	}
	return s, ok
}

// DaemonNetrc is the netrc file the nix-daemon reads, as far as the files
// this user can see tell: the netrc-file the system's config sets, else
// DefaultNetrc. (Root's own user config may set another.)
func (s *Store) DaemonNetrc(cfg *Config) string {
	if set, ok := cfg.SettingIn(settingNetrc, LayerBefore); ok {
		return set.Value
	}
	return s.Paths.DefaultNetrc()
}

// ReadNetrcEntries reads the machine entries of the netrc file at path as
// curl reads the file: readable is false when it is missing or cannot be
// read (curl then sends nothing, without a word). A file curl fails on is
// an error naming its line.
func ReadNetrcEntries(path string) (entries []NetrcEntry, readable bool, err error) {
	data, err := readNetrc(path)
	if err != nil || data == nil {
		return nil, false, err
	}
	d, err := parseNetrc(data, path)
	if err != nil {
		return nil, true, err
	}
	return d.Entries(), true, nil
}

// InStore reports whether path, with its symlinks followed, is in the Nix
// store storeDir (empty: DefaultStoreDir): a file every user can read,
// copied with every closure that refers to it.
func InStore(path, storeDir string) bool {
	if storeDir == "" {
		storeDir = DefaultStoreDir
	}
	if inDir(path, storeDir) {
		return true
	}
	real, err := filepath.EvalSymlinks(path)
	return err == nil && inDir(real, storeDir)
}

// ManagedWithoutInclude reports a user nix.conf that home-manager or NixOS
// makes (a symlink into the Nix store, which nix-auth does not edit) and
// that includes neither the tokens file nor render's output, so login and
// set-token cannot add the include. The *ReadOnlyError's hints are the
// lines to add to that configuration; nil when nix.conf is not managed or
// has an include.
func (s *Store) ManagedWithoutInclude() (*ReadOnlyError, error) {
	fi, err := os.Lstat(s.Paths.NixConf)
	if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	reason, err := inspect(s.Paths.NixConf, s.StoreDir)
	if err != nil || reason == "" || !InStore(s.Paths.NixConf, s.StoreDir) {
		return nil, err
	}
	for _, f := range []string{s.Paths.TokensFile, s.Paths.RenderFile} {
		has, err := hasInclude(s.Paths.NixConf, f)
		if err != nil || has {
			return nil, err
		}
	}
	return &ReadOnlyError{NixConf: s.Paths.NixConf, TokensFile: s.Paths.TokensFile, Reason: reason}, nil
}

// ReadRegular reads at most limit bytes of the regular file at path,
// following symlinks, without blocking on a FIFO; anything but a regular
// file is an error.
func ReadRegular(path string, limit int64) ([]byte, error) {
	return readRegular(path, true, limit)
}

// RenderSource returns the store a file render wrote was rendered from,
// as its first line (RenderHeader) names it.
func RenderSource(data []byte) (string, bool) {
	if WriterOf(data) != WriterRender {
		return "", false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	rest, ok := strings.CutPrefix(line, renderMark+" from ")
	if !ok {
		return "", false
	}
	src, ok := strings.CutSuffix(rest, "; changes here are overwritten.")
	return src, ok && src != ""
}
