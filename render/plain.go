package render

// Plain inputs: files that sops-nix or agenix already decrypted. sops-nix
// deploys what `sops -d` prints (the YAML or JSON tree of our schema);
// agenix deploys the .age store's plaintext as it is, a nix.conf fragment
// whose comment lines carry nix-auth's metadata:
//
//	# nix-auth: host=github.com provider=github user=octocat expires=2026-12-24T21:00:00Z
//	access-tokens = github.com=ghp_...
//
// Both are read by crypt, the owner of both formats: the fragment by
// crypt.ParseFragment (nixconf's parser, Nix's rules), the tree by
// crypt.ReadDecrypted (the store's reader, with its checks), so a plain
// file and a store get the same reading; this file adds render's messages
// and hints.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/safefile"
)

// maxPlainSize bounds a plain input: a token file is a few KiB even for a
// large fleet, and activation must not read a stray huge file into memory.
const maxPlainSize = 4 << 20

// loadPlain reads a decrypted file: the access-tokens fragment when it has
// an access-tokens line, else the sops tree, whose times are judged by
// now. warn gets lines it leaves out.
func loadPlain(path string, now time.Time, warn func(string)) ([]crypt.Entry, error) {
	// A FIFO or device planted at path is refused, not read: activation
	// must not hang on it.
	data, err := safefile.ReadLimited(path, maxPlainSize)
	if errors.Is(err, safefile.ErrTooLarge) {
		return nil, &Error{msg: fmt.Sprintf("%s is more than %d MiB: too large to be a decrypted token file", path, maxPlainSize>>20), kind: ErrNotPlain}
	}
	if err != nil {
		return nil, err
	}
	if isFragment(data) {
		return parseFragment(path, data, warn)
	}
	return parseTree(path, data, now)
}

// isFragment reports whether data has an access-tokens or
// extra-access-tokens setting line, which YAML and JSON never have. It only
// tells the formats apart, loosely (`access-tokens=x` counts), so that a
// fragment Nix would refuse gets nixconf's error, not a YAML one.
func isFragment(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		if name, ok := settingName(sc.Text()); ok && (name == SettingReplace || name == SettingMerge) {
			return true
		}
	}
	return false
}

// settingName is the name of a "name = value" line, comments cut off.
func settingName(line string) (string, bool) {
	setting, _, _ := strings.Cut(line, "#")
	name, _, ok := strings.Cut(setting, "=")
	return strings.TrimSpace(name), ok
}

// parseFragment reads the fragment with crypt's parser for the .age
// store's plaintext (Nix's rules: access-tokens assigns, the first value
// for a host wins, extra-access-tokens adds). Other settings are left out
// with a warning that names only the setting: render writes tokens only.
func parseFragment(path string, data []byte, warn func(string)) ([]crypt.Entry, error) {
	es, other, err := crypt.ParseFragment(path, data)
	if err != nil {
		return nil, err
	}
	for _, line := range other {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, _ := settingName(line)
		warn(fmt.Sprintf("%s: a %q line is not an access-tokens setting; left out (render writes tokens only)", path, name))
	}
	return es, nil
}

// parseTree reads what `sops -d` prints for our schema (crypt reads it as
// it reads a store) and words its errors for a decrypted copy. What the
// input should have been is said by cmd, which knows the flag
// (ErrNotPlain, crypt.ErrStillEncrypted).
func parseTree(path string, data []byte, now time.Time) ([]crypt.Entry, error) {
	es, err := crypt.ReadDecrypted(path, data, now)
	var fe *crypt.FileError
	switch {
	case err == nil:
		return es, nil
	case errors.Is(err, crypt.ErrStillEncrypted), errors.Is(err, crypt.ErrGitCryptLocked):
		return nil, err
	case errors.Is(err, crypt.ErrCorrupt) && errors.As(err, &fe):
		return nil, &Error{msg: fmt.Sprintf("%s is neither an access-tokens line nor a YAML/JSON token tree: %s", path, fe.Detail), kind: ErrNotPlain}
	case errors.As(err, &fe) && fe.Host == "" && fe.Field == "hosts":
		return nil, &Error{msg: path + " has no access-tokens line and no hosts: mapping", kind: ErrNotPlain}
	case errors.As(err, &fe):
		// crypt's hints name the file it was given, here a decrypted copy.
		return nil, &Error{msg: err.Error(), hints: []string{"fix the store with `sops edit FILE` and let sops-nix deploy it again"}}
	}
	return nil, err
}
