package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nix-auth/nix-auth/crypt"
)

// storeFormats are what --format takes.
var storeFormats = []crypt.Format{crypt.FormatSOPS, crypt.FormatAge, crypt.FormatGitCrypt}

func formatNames() string {
	names := make([]string, len(storeFormats))
	for i, f := range storeFormats {
		names[i] = string(f)
	}
	return strings.Join(names, "|")
}

// addFormatFlag adds --format to a command that writes a store.
func (o *keyOptions) addFormatFlag(fl *pflag.FlagSet) {
	fl.StringVar(&o.format, "format", "",
		"the store's format, "+formatNames()+" (default: git-crypt where git-crypt's filter covers the path, else by its name)")
}

// gitEnvKeep are the git variables kept from the process's environment:
// those that say where git's config is, which is where git-crypt's filter
// is configured. The others (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE,
// GIT_ATTR_SOURCE...) would make git answer for another repository or
// tree than the one holding the store, when nix-auth runs in a git hook.
var gitEnvKeep = []string{"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"}

// git is the git crypt asks whether git-crypt covers a store: the
// Factory's HOME, XDG_CONFIG_HOME, PATH and git config variables (a test's
// world), the process's other variables, C messages.
func (f *Factory) git() *crypt.Git {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(k, "GIT_") || k == "LC_ALL" || slices.Contains([]string{"HOME", "XDG_CONFIG_HOME", "PATH"}, k)
	})
	for _, k := range append([]string{"HOME", "XDG_CONFIG_HOME"}, gitEnvKeep...) {
		if v, ok := f.lookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	path := f.Getenv("PATH")
	if path == "" {
		path = os.Getenv("PATH")
	}
	return &crypt.Git{Env: append(env, "PATH="+path, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")}
}

// forcedFormat is --format checked against the store's name: a format
// that cannot fit it is a wrong call (exit 2), refused before git is
// asked or a file read.
func forcedFormat(path, format string) (crypt.Format, error) {
	if format == "" {
		return "", nil
	}
	if !slices.Contains(storeFormats, crypt.Format(format)) {
		return "", usagef("--format must be %s, not %q", formatNames(), format)
	}
	byName, err := formatOf(path)
	if err != nil {
		return "", err
	}
	switch f := crypt.Format(format); {
	case f == crypt.FormatGitCrypt && byName != crypt.FormatSOPS:
		return "", usagef("--format git-crypt does not fit %s: a git-crypt store is JSON or YAML (.json, .yaml, .yml)", path)
	case f != crypt.FormatGitCrypt && f != byName:
		return "", usagef("--format %s does not fit %s: its name makes it %s (sops: .yaml, .yml, .json; age: .age)", f, path, byName)
	}
	return crypt.Format(format), nil
}

// storeFormat decides what the store at path is for a write: --format, or
// git-crypt where git says git-crypt encrypts the path, or its name
// (crypt.DetectFormat has the rule).
func (f *Factory) storeFormat(path, format string) (crypt.Format, error) {
	forced, err := forcedFormat(path, format)
	if err != nil {
		return "", err
	}
	return crypt.DetectFormat(path, forced, f.git())
}

// readFormat is the format a reader (render, status) opens path with:
// --format when given, else found out by crypt.Open with git's help.
func readFormat(path, format string) (crypt.Format, error) {
	if format != "" {
		return forcedFormat(path, format)
	}
	_, err := formatOf(path)
	return "", err
}

// warnNixPath warns, for a git-crypt store, where a Nix path to it would
// copy its plaintext into the world-readable Nix store.
func (f *Factory) warnNixPath(path string) {
	st, err := f.git().GitCrypt(path)
	if err != nil {
		return
	}
	if w := crypt.NixPathWarning(path, st); w != "" {
		f.warn(w)
	}
}

// absPath is path made absolute, for a command that runs elsewhere.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// gitCryptRecipients refuses --recipient for a git-crypt store: git-crypt
// decides who can read it.
func gitCryptRecipients(path string, o *keyOptions) error {
	if len(o.recipients) == 0 {
		return nil
	}
	return usagef("--recipient does not apply to %s: it is a git-crypt store, which git-crypt's own GPG users and keys can read", path)
}

// warnGitCryptMode warns when a git-crypt store's plaintext is readable by
// other users: a checkout (git-crypt unlock) makes files 0644 under the
// usual umask, and nix-auth's writes make it 0600 again.
func warnGitCryptMode(f *Factory, path string) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		f.warn(fmt.Sprintf("%s holds tokens in clear and other users can read it (mode %04o): run `chmod 600 %s`", path, fi.Mode().Perm(), path))
	}
}
