package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/internal/proc"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

type setupGitOptions struct {
	undo bool
}

func newSetupGitCmd(f *Factory) *cobra.Command {
	o := &setupGitOptions{}
	c := &cobra.Command{
		Use:   "setup-git [host...]",
		Short: "Make git ask nix-auth for the tokens of these hosts",
		Long: strings.TrimSpace(`
Configure git (with "git config --global", so in the file git itself picks:
$GIT_CONFIG_GLOBAL, ~/.gitconfig or $XDG_CONFIG_HOME/git/config) to ask
"nix-auth git-credential" for https:// URLs of each host, by default every host
that has a token. For each host it adds, as "gh auth setup-git" does, an empty
credential."https://HOST".helper entry, which stops git from asking the helpers
configured for all hosts, then "!nix-auth git-credential". When the section
already lists helpers of your own, they are kept and nix-auth comes after them.
No token is ever written to git's config: git asks nix-auth each time.

The helper runs "nix-auth" as found on PATH when that is this program, so a
Nix profile upgrade keeps working; otherwise this program's absolute path.

--undo removes exactly what setup-git added (by default for every host), and
leaves every entry you wrote.`),
		Example: strings.Trim(`
  nix-auth setup-git
  nix-auth setup-git github.com gitlab.example.com
  nix-auth setup-git --undo`, "\n"),
		RunE: func(c *cobra.Command, a []string) error {
			return runSetupGit(f, configFlag(c), a, o)
		},
	}
	c.Flags().BoolVar(&o.undo, "undo", false, "remove the entries setup-git added")
	return c
}

func runSetupGit(f *Factory, config string, targets []string, o *setupGitOptions) error {
	hosts, err := gitHostsOf(targets)
	if err != nil {
		return err
	}
	g, err := newGitConfig(f)
	if err != nil {
		return err
	}
	if o.undo {
		return undoSetupGit(f, g, hosts)
	}
	store, err := openStore(f, config, false)
	if err != nil {
		return err
	}
	entries, err := store.Tokens()
	if err != nil {
		return err
	}
	if hosts, err = setupHosts(f, hosts, entries, store.Paths.NixConf); err != nil {
		return err
	}
	helper, err := helperCommand(f, config)
	if err != nil {
		return err
	}
	// Every host's entries are read and planned before the first write.
	plans := make([][]string, len(hosts))
	olds := make([][]string, len(hosts))
	for i, h := range hosts {
		if olds[i], err = g.getAll(helperKey(h)); err != nil {
			return err
		}
		plans[i] = withHelper(olds[i], helper)
	}
	for i, h := range hosts {
		if slices.Equal(olds[i], plans[i]) {
			termsafe.Fprintf(f.IO.Out, "git already asks nix-auth for https://%s.\n", h)
			continue
		}
		if err := g.set(helperKey(h), olds[i], plans[i]); err != nil {
			return err
		}
		termsafe.Fprintf(f.IO.Out, "git now asks nix-auth for https://%s.\n", h)
	}
	for _, h := range hosts {
		if !pathScoped(entries, h) {
			continue
		}
		on, err := g.usesHTTPPath(h)
		if err != nil {
			return err
		}
		if !on {
			termsafe.Fprintf(f.IO.Out, "Tokens for %s are scoped to paths (%s/OWNER): git sends the path only with\n"+
				"  git config --global credential.https://%s.useHttpPath true\n", h, h, h)
		}
	}
	return nil
}

// gitHostsOf turns the command's arguments into hosts (host[:port], the
// part of an access-tokens key before any /path), through the one resolver
// and host validator every command uses.
func gitHostsOf(targets []string) ([]string, error) {
	var hosts []string
	for _, t := range targets {
		_, host, _, err := providers.Resolve(t, "")
		if err != nil {
			return nil, &usageError{err}
		}
		if err := nixconf.ValidateHost(host); err != nil {
			return nil, &usageError{err}
		}
		h, _, _ := strings.Cut(host, "/")
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// setupHosts checks that each named host has a token git can use, or, with
// none named, lists every such host.
func setupHosts(f *Factory, named []string, entries []nixconf.Entry, conf string) ([]string, error) {
	usable := func(h string) (found, ok bool) {
		for _, e := range entries {
			if eh, _, _ := strings.Cut(e.Host, "/"); eh == h {
				found = true
				_, _, ok = providers.GitCredential(h, e.Token)
				return found, ok
			}
		}
		return false, false
	}
	if len(named) > 0 {
		for _, h := range named {
			switch found, ok := usable(h); {
			case !found:
				return nil, &usageError{&hintError{
					msg:   fmt.Sprintf("no token for %s in %s or the files it includes; nothing was changed", h, conf),
					hints: []string{fmt.Sprintf("run `nix-auth login %s` first, or `nix-auth status` to see the hosts that have tokens", h)},
				}}
			case !ok:
				return nil, &usageError{&hintError{
					msg:   fmt.Sprintf("%s takes no token over HTTPS git; nothing was changed", h),
					hints: []string{"push to it over SSH (git@" + h + ":~user/repo)"},
				}}
			}
		}
		return named, nil
	}
	var hosts []string
	for _, e := range entries {
		h, _, _ := strings.Cut(e.Host, "/")
		if slices.Contains(hosts, h) {
			continue
		}
		if err := nixconf.ValidateHost(e.Host); err != nil {
			f.warn(fmt.Sprintf("skipping the access-tokens key at %s:%d: %v", e.File, e.Line, err))
			continue
		}
		if _, ok := usable(h); !ok {
			termsafe.Fprintf(f.IO.Out, "Skipping %s: it takes no token over HTTPS git (push over SSH).\n", h)
			continue
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, &hintError{
			msg:   fmt.Sprintf("no host in %s or the files it includes has a token git can use; nothing was changed", conf),
			hints: []string{"run `nix-auth login` first"},
		}
	}
	return hosts, nil
}

// pathScoped reports whether h's tokens name paths (github.com/org), which
// git tells a helper only with credential.useHttpPath.
func pathScoped(entries []nixconf.Entry, h string) bool {
	return slices.ContainsFunc(entries, func(e nixconf.Entry) bool { return strings.HasPrefix(e.Host, h+"/") })
}

func undoSetupGit(f *Factory, g *gitConfig, hosts []string) error {
	keys := make([]string, 0, len(hosts))
	for _, h := range hosts {
		keys = append(keys, helperKey(h))
	}
	if len(hosts) == 0 {
		var err error
		if keys, err = g.helperKeys(); err != nil {
			return err
		}
	}
	changed := false
	for _, k := range keys {
		old, err := g.getAll(k)
		if err != nil {
			return err
		}
		url := strings.TrimSuffix(strings.TrimPrefix(k, "credential."), ".helper")
		undone := withoutHelper(old)
		if slices.Equal(old, undone) {
			if len(hosts) > 0 {
				termsafe.Fprintf(f.IO.Out, "git does not ask nix-auth for %s; nothing to remove.\n", url)
			}
			continue
		}
		if err := g.set(k, old, undone); err != nil {
			return err
		}
		changed = true
		termsafe.Fprintf(f.IO.Out, "git no longer asks nix-auth for %s.\n", url)
	}
	if !changed && len(hosts) == 0 {
		termsafe.Fprintln(f.IO.Out, "git does not ask nix-auth for any host; nothing to remove.")
	}
	return nil
}

func helperKey(host string) string { return "credential.https://" + host + ".helper" }

// withHelper is the helper list of a section once setup-git has run. An
// entry of nix-auth's already there (perhaps an older store path) is
// replaced where it stands. Otherwise an empty entry, which resets the
// helpers configured for all hosts, and nix-auth's go at the end; the
// user's helpers of this section stay in front, and then the empty entry is
// left out so that they keep working. It is added even after an empty entry
// of the user's, so that undo, which removes the empty entry right before
// nix-auth's, always removes setup-git's own.
func withHelper(old []string, helper string) []string {
	if i := slices.IndexFunc(old, isOurHelper); i >= 0 {
		out := slices.Clone(old[:i+1])
		out[i] = helper
		return append(out, withoutHelper(old[i+1:])...)
	}
	out := slices.Clone(old)
	if len(out) == 0 || out[len(out)-1] == "" {
		out = append(out, "")
	}
	return append(out, helper)
}

// withoutHelper removes nix-auth's entries, each with the empty entry right
// before it, which setup-git added with it.
func withoutHelper(old []string) []string {
	var out []string
	for _, v := range old {
		if isOurHelper(v) {
			if n := len(out); n > 0 && out[n-1] == "" {
				out = out[:n-1]
			}
			continue
		}
		out = append(out, v)
	}
	return out
}

// helperCommand is the helper entry for this program: "nix-auth" when that
// name on PATH is this very binary, which survives a Nix profile upgrade
// (the store path changes, the profile's bin/nix-auth does not); otherwise
// the absolute path, with a warning when it is in the Nix store, where an
// upgrade or a garbage collection will take it away.
func helperCommand(f *Factory, config string) (string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", fmt.Errorf("cannot tell where this nix-auth binary is: %w", err)
	}
	cmd := ""
	if p, err := exec.LookPath("nix-auth"); err == nil && sameFile(p, exe) {
		cmd = "nix-auth"
	}
	if cmd == "" {
		if strings.ContainsAny(exe, "\n\x00") {
			return "", errors.New("the path of this nix-auth binary contains a line break; git cannot run it as a helper")
		}
		cmd = shellQuote(exe)
		storeDir := f.Getenv("NIX_STORE_DIR")
		if storeDir == "" {
			storeDir = nixconf.DefaultStoreDir
		}
		if strings.HasPrefix(exe, storeDir+"/") {
			f.warn(fmt.Sprintf("nix-auth is not on PATH, so git will run %s, which an upgrade or a garbage collection removes; install nix-auth in your profile and run setup-git again", exe))
		}
	}
	h := "!" + cmd + " git-credential"
	if config != "" {
		abs, err := filepath.Abs(config)
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(abs, "\n\x00") {
			return "", errors.New("the --config path contains a line break; git cannot pass it to a helper")
		}
		h += " --config " + shellQuote(abs)
	}
	return h, nil
}

// sameFile reports whether a and b are one file, through any symlinks or
// hard links.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// isOurHelper reports whether a helper entry is one setup-git writes:
// "!CMD git-credential [--config PATH]" where CMD is nix-auth or a path
// ending in /nix-auth, quoted as shellQuote quotes. Entries for another
// binary path count too, so that undo and a new setup-git clear the entry
// an older nix-auth (an older store path) wrote.
func isOurHelper(v string) bool {
	rest, ok := strings.CutPrefix(v, "!")
	if !ok {
		return false
	}
	w, ok := shellWords(rest)
	if !ok || len(w) < 2 || w[1] != "git-credential" || filepath.Base(w[0]) != "nix-auth" {
		return false
	}
	return len(w) == 2 || len(w) == 4 && w[2] == "--config"
}

// shellQuote quotes s for sh when it needs it.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%,=", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellWords splits what shellQuote writes: plain words, single quotes and
// backslash escapes outside them. Anything else a shell gives a meaning to
// (other quotes, $, ;, |...) is not ours, and ok is false.
func shellWords(s string) (words []string, ok bool) {
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, false
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '\\':
			if i+1 == len(s) {
				return nil, false
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte("\"`$;&|<>()*?[]{}~#\t\n!", c) >= 0:
			return nil, false
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, true
}

// gitConfig runs "git config --global": git decides which file that is
// and how to write it (lock, rename), as it does for the user.
type gitConfig struct {
	git string
	env []string
}

// gitConfigEnv are the variables by which git finds the global config;
// they come from the Factory's environment, so that a command run with a
// temporary HOME writes there and nowhere else.
var gitConfigEnv = []string{"HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"}

func newGitConfig(f *Factory) (*gitConfig, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, &hintError{
			msg:   "git is not installed (or not on PATH); nothing was changed",
			hints: []string{"install git, then run `nix-auth setup-git` again"},
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(gitConfigEnv, k) || strings.HasPrefix(k, "GIT_CONFIG_")
	})
	for _, k := range gitConfigEnv {
		if v := f.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return &gitConfig{git: git, env: append(env, "LC_ALL=C")}, nil
}

// run runs git config --global with args. For a query (get), exit status
// 1 with nothing on stderr is git's "no such key", reported as found=false.
func (g *gitConfig) run(query bool, args ...string) (out []byte, found bool, err error) {
	res, err := proc.Run(context.Background(), proc.Cmd{Path: g.git, Args: append([]string{"config", "--global"}, args...), Env: g.env})
	if query && proc.IsQuietExit(err, 1) {
		return nil, false, nil
	}
	if err != nil {
		// git names the file, key or value it refuses: config it was
		// asked about, not secrets; escaped and cut all the same.
		msg := fmt.Sprintf("git config --global failed (%v)", err)
		if line, _, _ := strings.Cut(strings.TrimSpace(string(proc.StderrOf(err))), "\n"); line != "" {
			msg += ": " + termsafe.Line(line)
		}
		return nil, false, &hintError{
			msg:   msg,
			hints: []string{"check that git can read and write its global config: run `git config --global --list`"},
		}
	}
	return res.Stdout, true, nil
}

// getAll is every value of key, in order.
func (g *gitConfig) getAll(key string) ([]string, error) {
	out, found, err := g.run(true, "-z", "--get-all", key)
	if err != nil || !found {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), nil
}

// usesHTTPPath reports whether git tells helpers the path of URLs on host,
// by the global config's setting for that URL.
func (g *gitConfig) usesHTTPPath(host string) (bool, error) {
	out, found, err := g.run(true, "--type=bool", "--get-urlmatch", "credential.usehttppath", "https://"+host)
	return found && strings.TrimSpace(string(out)) == "true", err
}

// credentialEntries is every credential.* entry, as key and value.
func (g *gitConfig) credentialEntries() ([][2]string, error) {
	out, found, err := g.run(true, "-z", "--get-regexp", `^credential\.`)
	if err != nil || !found {
		return nil, err
	}
	var kvs [][2]string
	for _, rec := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(rec, "\n")
		kvs = append(kvs, [2]string{k, v})
	}
	return kvs, nil
}

// helperKeys lists the credential.https://HOST.helper keys that name
// nix-auth's helper.
func (g *gitConfig) helperKeys() ([]string, error) {
	kvs, err := g.credentialEntries()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, kv := range kvs {
		k := kv[0]
		if strings.HasPrefix(k, "credential.https://") && strings.HasSuffix(k, ".helper") &&
			isOurHelper(kv[1]) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// set changes key's values from old to new with as few git calls as the
// change allows, each of which git writes atomically (and git drops a
// section its last entry leaves empty): new values only
// appended are added; values only removed are unset by exact value when
// none of that value stays; anything else replaces the list.
func (g *gitConfig) set(key string, old, new []string) error {
	if len(new) >= len(old) && slices.Equal(new[:len(old)], old) {
		for _, v := range new[len(old):] {
			if _, _, err := g.run(false, "--add", key, v); err != nil {
				return err
			}
		}
		return nil
	}
	if len(new) == 0 {
		_, _, err := g.run(false, "--unset-all", key)
		return err
	}
	if removed, ok := removedValues(old, new); ok {
		for _, v := range removed {
			if _, _, err := g.run(false, "--fixed-value", "--unset-all", key, v); err != nil {
				return err
			}
		}
		return nil
	}
	if _, _, err := g.run(false, "--replace-all", key, new[0]); err != nil {
		return err
	}
	for _, v := range new[1:] {
		if _, _, err := g.run(false, "--add", key, v); err != nil {
			return err
		}
	}
	return nil
}

// removedValues returns the distinct values that old has and new lacks,
// when new is old with every occurrence of exactly those values removed.
func removedValues(old, new []string) ([]string, bool) {
	var removed []string
	for _, v := range old {
		if !slices.Contains(new, v) && !slices.Contains(removed, v) {
			removed = append(removed, v)
		}
	}
	kept := slices.DeleteFunc(slices.Clone(old), func(v string) bool { return slices.Contains(removed, v) })
	return removed, len(removed) > 0 && slices.Equal(kept, new)
}
