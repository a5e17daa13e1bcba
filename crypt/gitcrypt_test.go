package crypt

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/tooltest"
)

const gcToken = "ghp_gitcryptSECRET0123456789abcdefghijk"

// gcEnv is the environment of every git the tests run: a home of the
// test's own, no system config, a fixed author.
func gcEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
}

// gcRepo makes a git repository with git-crypt initialized and secrets/
// covered by its filter, and returns it and a Git for it.
func gcRepo(t *testing.T) (string, *Git) {
	t.Helper()
	tooltest.Installed(t, "git")
	tooltest.Installed(t, "git-crypt")
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	g := &Git{Env: gcEnv(dir)}
	gcRun(t, g, dir, "git", "init", "-q", repo)
	gcRun(t, g, repo, "git-crypt", "init")
	if err := os.WriteFile(filepath.Join(repo, ".gitattributes"), []byte("secrets/** filter=git-crypt diff=git-crypt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gcRun(t, g, repo, "git", "add", ".gitattributes")
	gcRun(t, g, repo, "git", "commit", "-qm", "git-crypt")
	return repo, g
}

func gcRun(t *testing.T, g *Git, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, g.Env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func gcCreate(t *testing.T, path string, g *Git) *File {
	t.Helper()
	f, err := Create(path, nil, CreateOptions{Now: stNow, Format: FormatGitCrypt, Git: g})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(Entry{Host: "github.com", Token: gcToken, Provider: "github", User: "octocat"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// The whole life of a git-crypt store with the real git and git-crypt:
// detected, written in clear and 0600, committed as git-crypt ciphertext,
// unreadable when locked, readable again when unlocked.
func TestGitCryptStore(t *testing.T) {
	repo, g := gcRepo(t)
	for _, name := range []string{"tokens.json", "tokens.yaml"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(repo, "secrets", name)
			format, err := DetectFormat(p, "", g)
			if err != nil || format != FormatGitCrypt {
				t.Fatalf("DetectFormat = %q, %v; want git-crypt", format, err)
			}
			f := gcCreate(t, p, g)
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
			}
			data, _ := os.ReadFile(p)
			es, err := ReadDecrypted(p, data, stNow())
			if err != nil || len(es) != 1 || es[0].Token != gcToken {
				t.Fatalf("the plaintext is not the store's tree: %v %v", es, err)
			}
			// A checkout leaves it 0644; a write makes it 0600 again.
			os.Chmod(p, 0o644)
			f, err = Open(p, OpenOptions{Now: stNow, Git: g})
			if err != nil || f.Format() != FormatGitCrypt {
				t.Fatalf("Open: %v", err)
			}
			if err := f.Put(Entry{Host: "gitlab.com", Token: "PAT:glpat-gitcryptSECRET01234567"}); err != nil {
				t.Fatal(err)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode after a save: %v", fi.Mode())
			}
			meta, err := OpenMeta(p, OpenOptions{Now: stNow, Git: g})
			if err != nil || meta.Format != FormatGitCrypt || len(meta.Entries) != 2 || meta.Entries[0].Token != "" || meta.Entries[0].User != "octocat" {
				t.Fatalf("OpenMeta = %+v, %v", meta, err)
			}
			if _, err := Rekey(p, nil, nil, RekeyOptions{Now: stNow, Git: g}); !errors.Is(err, ErrGitCryptKeys) {
				t.Errorf("Rekey: %v, want ErrGitCryptKeys", err)
			}
		})
	}
	gcRun(t, g, repo, "git", "add", "-A")
	gcRun(t, g, repo, "git", "commit", "-qm", "tokens")
	for _, name := range []string{"tokens.json", "tokens.yaml"} {
		blob := gcRun(t, g, repo, "git", "cat-file", "-p", "HEAD:secrets/"+name)
		if !IsGitCryptCiphertext(blob) || bytes.Contains(blob, []byte(gcToken)) {
			t.Errorf("the committed %s is not git-crypt ciphertext", name)
		}
	}

	key := filepath.Join(filepath.Dir(repo), "git-crypt.key")
	gcRun(t, g, repo, "git-crypt", "export-key", key)
	gcRun(t, g, repo, "git-crypt", "lock")
	p := filepath.Join(repo, "secrets", "tokens.json")
	if _, err := Open(p, OpenOptions{Now: stNow, Git: g}); !errors.Is(err, ErrGitCryptLocked) {
		t.Errorf("Open of a locked file: %v", err)
	}
	if _, err := Load(p, nil, nil, stNow); !errors.Is(err, ErrGitCryptLocked) {
		t.Errorf("Load of a locked file: %v", err)
	}
	if _, err := LoadMeta(p); !errors.Is(err, ErrGitCryptLocked) {
		t.Errorf("LoadMeta of a locked file: %v", err)
	}
	data, _ := os.ReadFile(p)
	if _, err := ReadDecrypted(p, data, stNow()); !errors.Is(err, ErrGitCryptLocked) {
		t.Errorf("ReadDecrypted of a locked file: %v", err)
	}
	for _, forced := range []Format{"", FormatGitCrypt, FormatSOPS} {
		if _, err := DetectFormat(p, forced, g); !errors.Is(err, ErrGitCryptLocked) {
			t.Errorf("DetectFormat(%q) of a locked file: %v", forced, err)
		}
	}
	// A new file where git-crypt's filter is gone would be committed in
	// clear.
	if _, err := DetectFormat(filepath.Join(repo, "secrets", "new.json"), "", g); !errors.Is(err, ErrGitCryptLocked) {
		t.Errorf("DetectFormat of a new file in a locked repository: %v", err)
	}

	gcRun(t, g, repo, "git-crypt", "unlock", key)
	f, err := Open(p, OpenOptions{Now: stNow, Git: g})
	if err != nil || len(f.Entries()) != 2 {
		t.Fatalf("Open after unlock: %v", err)
	}
	if err := f.Put(Entry{Host: "example.org", Token: "tok_gitcryptSECRET0123456789"}); err != nil {
		t.Fatal(err)
	}
	// Locked between Open and Save: Save asks git again and writes nothing.
	gcRun(t, g, repo, "git-crypt", "lock")
	for _, f := range []*File{f, gcCreate(t, filepath.Join(repo, "secrets", "new.yaml"), g)} {
		before, _ := os.ReadFile(p)
		if err := f.Save(); !errors.Is(err, ErrGitCryptLocked) {
			t.Errorf("Save of %s into a locked repository: %v", f.Path(), err)
		}
		if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
			t.Errorf("Save changed the file")
		}
	}
	if _, err := os.Lstat(filepath.Join(repo, "secrets", "new.yaml")); err == nil {
		t.Errorf("a new plaintext file was written into a locked repository")
	}
}

// A path git-crypt does not cover is never a git-crypt store.
func TestGitCryptNotCovered(t *testing.T) {
	repo, g := gcRepo(t)
	p := filepath.Join(repo, "tokens.json")
	if format, err := DetectFormat(p, "", g); err != nil || format != FormatSOPS {
		t.Errorf("DetectFormat = %q, %v; want sops", format, err)
	}
	if _, err := DetectFormat(p, FormatGitCrypt, g); !errors.Is(err, ErrNotGitCrypt) {
		t.Errorf("forced git-crypt on an uncovered path: %v", err)
	}
	outside := filepath.Join(t.TempDir(), "tokens.json")
	if _, err := DetectFormat(outside, FormatGitCrypt, g); !errors.Is(err, ErrNotGitCrypt) {
		t.Errorf("forced git-crypt outside a repository: %v", err)
	}
	if format, err := DetectFormat(outside, "", g); err != nil || format != FormatSOPS {
		t.Errorf("DetectFormat outside a repository = %q, %v", format, err)
	}
	// The name decides what a forced format may be.
	for _, c := range []struct {
		name   string
		forced Format
	}{{"secrets/t.age", FormatGitCrypt}, {"secrets/t.json", FormatAge}, {"secrets/t.age", FormatSOPS}, {"secrets/t.json", "gpg"}} {
		if _, err := DetectFormat(filepath.Join(repo, c.name), c.forced, g); !errors.Is(err, ErrFormatMismatch) {
			t.Errorf("%s as %s: %v, want ErrFormatMismatch", c.name, c.forced, err)
		}
	}
	// An .age file in git-crypt's folder stays age; a sops file stays sops.
	if format, err := DetectFormat(filepath.Join(repo, "secrets", "t.age"), "", g); err != nil || format != FormatAge {
		t.Errorf(".age in git-crypt's folder = %q, %v", format, err)
	}
	// A plaintext file git-crypt does not cover is not read as a store.
	if err := os.WriteFile(p, []byte(`{"hosts": {"github.com": {"token": "`+gcToken+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, OpenOptions{Now: stNow, Git: g}); !errors.Is(err, ErrNoMetadata) {
		t.Errorf("Open of an uncovered plaintext file: %v", err)
	}
	// Writing one is refused by Save too, whatever made the File.
	f := gcCreate(t, filepath.Join(repo, "clear.json"), g)
	if err := f.Save(); !errors.Is(err, ErrNotGitCrypt) {
		t.Errorf("Save outside git-crypt's filter: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(repo, "clear.json")); err == nil {
		t.Errorf("the plaintext was written")
	}
}

// .gitattributes is repository content nobody authenticated: a filter
// value git-crypt would not write is not git-crypt's (a key name is a
// path below .git/git-crypt/keys).
func TestGitCryptHostileAttributes(t *testing.T) {
	repo, g := gcRepo(t)
	attrs := "a.json filter=git-crypt-../../../etc\nb.json filter=git-crypt-default\nc.json filter=git-crypt\x1b[2J\nd.json filter=git-cryptx\ne.json filter=git-crypt-other\n"
	if err := os.WriteFile(filepath.Join(repo, ".gitattributes"), []byte(attrs), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.json", "b.json", "c.json", "d.json"} {
		st, err := g.GitCrypt(filepath.Join(repo, name))
		if err != nil || st.Covered {
			t.Errorf("%s: %+v, %v; want not covered", name, st, err)
		}
	}
	// A named key that was never set up: covered, and locked.
	if _, err := DetectFormat(filepath.Join(repo, "e.json"), "", g); !errors.Is(err, ErrGitCryptLocked) {
		t.Errorf("e.json: %v, want ErrGitCryptLocked", err)
	}
	// A filter named git-crypt whose clean command is not git-crypt's
	// would commit the plaintext.
	os.WriteFile(filepath.Join(repo, ".gitattributes"), []byte("secrets/** filter=git-crypt\n"), 0o644)
	for _, clean := range []string{"cat", `cat # "git-crypt" clean`, `"git-crypt" clean; cat`, `"/x/git-crypt" clean --key-name=other`} {
		gcRun(t, g, repo, "git", "config", "filter.git-crypt.clean", clean)
		if _, err := DetectFormat(filepath.Join(repo, "secrets", "t.json"), "", g); !errors.Is(err, ErrGitCryptLocked) {
			t.Errorf("clean filter %q, not git-crypt's: %v, want ErrGitCryptLocked", clean, err)
		}
	}
}

// TestIsGitCryptClean: the clean commands git-crypt init writes, and
// others that only look like them.
func TestIsGitCryptClean(t *testing.T) {
	for _, c := range []struct {
		cmd, key string
		want     bool
	}{
		{`"git-crypt" clean`, "default", true},
		{`"/nix/store/abc-git-crypt-0.7.0/bin/git-crypt" clean`, "default", true},
		{`"/Users/Jo Doe/bin/git-crypt" clean`, "default", true},
		{`"git-crypt" clean --key-name=other`, "other", true},
		{`git-crypt clean`, "default", true},
		{`"git-crypt" clean --key-name=other`, "default", false},
		{`"git-crypt" clean`, "other", false},
		{`cat # git-crypt clean`, "default", false},
		{`"git-crypt" clean; cat`, "default", false},
		{`"git-crypt" clean | cat`, "default", false},
		{`"$(cat)/git-crypt" clean`, "default", false},
		{`"git-crypt-wrapper" clean`, "default", false},
		{`"git-crypt clean`, "default", false},
		{``, "default", false},
	} {
		if got := isGitCryptClean(c.cmd, c.key); got != c.want {
			t.Errorf("%q (key %s): %v, want %v", c.cmd, c.key, got, c.want)
		}
	}
}

// A git that answers nonsense, floods, or hangs is an error, never a
// guess and never a hang.
func TestGitCryptHostileGit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	for name, script := range map[string]string{
		"garbage": "#!/bin/sh\nprintf 'true\\n/x\\n/x/.git\\n/x/.git\\n'\n[ \"$1\" = check-attr ] && printf 'x\\0filter\\0git-crypt\\0extra\\0'\nexit 0\n",
		"flood":   "#!/bin/sh\nexec yes\n",
		"hang":    "#!/bin/sh\nexec sleep 30\n",
		// A child holding the pipes: killed with its group.
		"hang-child": "#!/bin/sh\nsleep 30 &\nwait\n",
		// git exits, a child keeps its stdout open.
		"left-child":  "#!/bin/sh\n(sleep 30) &\nexit 0\n",
		"flood-child": "#!/bin/sh\n(trap '' TERM HUP PIPE; yes) &\nwait\n",
		"fails":       "#!/bin/sh\necho 'fatal: \033[31mbad\033[0m' >&2\nexit 128\n",
	} {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "git")
			if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			g := &Git{Command: bin, Timeout: 500 * time.Millisecond}
			start := time.Now()
			_, err := DetectFormat(p, "", g)
			if !errors.Is(err, ErrGit) {
				t.Errorf("DetectFormat: %v, want ErrGit", err)
			}
			if err != nil && strings.ContainsRune(err.Error(), '\x1b') {
				t.Errorf("git's output reached the message raw: %q", err)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
	// No git at all: no git-crypt; the name decides.
	g := &Git{Env: []string{"PATH=" + dir}}
	if format, err := DetectFormat(p, "", g); err != nil || format != FormatSOPS {
		t.Errorf("without git: %q, %v", format, err)
	}
}

func TestNixPathRefs(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"hosts/a.nix":   "{ tokens = builtins.fromJSON (builtins.readFile ../secrets/tokens.json); }\n",
		"b.nix":         "{\n  x = \"${./secrets/tokens.json}\";\n}\n",
		"c.nix":         "{ x = \"/etc/nixos/secrets/tokens.json\"; y = ./secrets/tokens.jsonx; }\n",
		".hidden/d.nix": "./tokens.json\n",
		"e.nix":         "{ x = secrets/tokens.json; }\n",
	}
	for name, data := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Join(nixPathRefs(root, "tokens.json"), " ")
	if got != "b.nix:2 e.nix:1 hosts/a.nix:1" {
		t.Errorf("nixPathRefs = %q", got)
	}
	st := &GitCryptState{Toplevel: root}
	if w := NixPathWarning(filepath.Join(root, "secrets", "tokens.json"), st); !strings.Contains(w, "b.nix:2") || !strings.Contains(w, "world-readable") {
		t.Errorf("NixPathWarning = %q", w)
	}
	if w := NixPathWarning(filepath.Join(root, "secrets", "other.json"), st); w != "" {
		t.Errorf("a file nothing names, outside a flake: %q", w)
	}
	os.WriteFile(filepath.Join(root, "flake.nix"), []byte("{}\n"), 0o644)
	if w := NixPathWarning(filepath.Join(root, "secrets", "other.json"), st); !strings.Contains(w, "flake") {
		t.Errorf("in a flake: %q", w)
	}
}
