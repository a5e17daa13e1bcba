package render

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/crypt"
)

// tokenFile writes content as a token file (mode 0400, as sops-nix
// deploys it) and returns its path.
func tokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "oauth_token")
	if err := os.WriteFile(p, []byte(content), 0o400); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadTokenFile(t *testing.T) {
	for _, c := range []struct {
		name, host, content, want string
	}{
		{"bare", "github.com", ghTok, ghTok},
		{"newline", "github.com", ghTok + "\n", ghTok},
		{"crlf", "github.com", ghTok + "\r\n", ghTok},
		{"gitlab gets PAT:", "gitlab.com", "glpat-abcdefghijklmnopqrst\n", glTok},
		{"gitlab keeps OAuth2:", "gitlab.com", "OAuth2:abcdef0123456789\n", "OAuth2:abcdef0123456789"},
		{"unknown host as is", "git.example.com", cbTok + "\n", cbTok},
		{"base64 padding is not a host", "git.example.com", "c2VjcmV0dG9rZW4=\n", "c2VjcmV0dG9rZW4="},
	} {
		e, err := ReadTokenFile(TokenFile{Host: c.host, Path: tokenFile(t, c.content)})
		if err != nil || e.Host != c.host || e.Token != c.want {
			t.Errorf("%s: got %q %v", c.name, e.Host, err)
		}
	}
}

func TestReadTokenFileRefuses(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, content, want string
		path                string // instead of a file with content
	}{
		{name: "empty", content: "", want: "empty"},
		{name: "only newline", content: "\n", want: "empty"},
		{name: "two lines", content: ghTok + "\nextra-substituters = https://evil.example.com\n", want: "2 lines"},
		{name: "blank second line", content: ghTok + "\n\n", want: "2 lines"},
		{name: "host=token", content: "github.com=" + ghTok + "\n", want: "host=token"},
		{name: "setting line", content: "access-tokens = github.com=" + ghTok + "\n", want: "whitespace"},
		{name: "space", content: "ghp_abc " + ghTok, want: "whitespace at byte 8"},
		{name: "NUL", content: "ghp_abc\x00" + ghTok, want: "control character (0x00)"},
		{name: "escape", content: "ghp\x1b]0;x\x07" + ghTok, want: "control character (0x1b)"},
		{name: "hash", content: "ghp_abc#" + ghTok, want: "'#'"},
		{name: "non-UTF-8", content: "ghp_\xff\xfe", want: "UTF-8"},
		{name: "huge", content: strings.Repeat("a", 1<<20), want: "larger than"},
		{name: "too long for a token", content: strings.Repeat("a", 20<<10), want: "bytes long"},
		{name: "github token with a GitLab prefix", content: "PAT:" + ghTok, want: "only GitLab tokens take"},
		{name: "fifo", path: fifo, want: "a FIFO"},
		{name: "directory", path: t.TempDir(), want: "a directory"},
		{name: "missing", path: filepath.Join(t.TempDir(), "none"), want: "does not exist"},
	} {
		p := c.path
		if p == "" {
			p = tokenFile(t, c.content)
		}
		_, err := ReadTokenFile(TokenFile{Host: "github.com", Path: p})
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !errors.Is(err, ErrTokenFile) && !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), p) {
			t.Errorf("%s: error %q, want one starting with the path and saying %q", c.name, err, c.want)
		}
		if strings.Contains(err.Error(), ghTok) || strings.Contains(err.Error(), "evil") {
			t.Errorf("%s: the error quotes the file", c.name)
		}
	}
	if _, err := ReadTokenFile(TokenFile{Host: "github.com x", Path: tokenFile(t, ghTok)}); !errors.Is(err, ErrTokenFile) {
		t.Errorf("a bad host: %v", err)
	}
}

// TestRenderTokenFilesFollowLink: sops-nix and agenix deploy through
// symlinks (/run/secrets -> /run/secrets.d/N).
func TestRenderTokenFilesFollowLink(t *testing.T) {
	target := tokenFile(t, ghTok+"\n")
	link := filepath.Join(t.TempDir(), "github-token")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	e, err := ReadTokenFile(TokenFile{Host: "github.com", Path: link})
	if err != nil || e.Token != ghTok {
		t.Fatalf("through a link: %v", err)
	}
}

func TestRenderTokenFiles(t *testing.T) {
	l := &logs{t: t}
	out := filepath.Join(t.TempDir(), "access-tokens.conf")
	tfs := []TokenFile{
		{Host: "github.com", Path: tokenFile(t, ghTok+"\n")},
		{Host: "gitlab.com", Path: tokenFile(t, "glpat-abcdefghijklmnopqrst\n")},
	}
	res, err := Render(l.opts(Options{TokenFiles: tfs, Output: out}))
	if err != nil || !res.Changed {
		t.Fatalf("render: %v %+v", err, res)
	}
	got := readFile(t, out)
	if !strings.HasSuffix(got, "extra-access-tokens = github.com="+ghTok+" gitlab.com="+glTok+"\n") {
		t.Errorf("output:\n%s", got)
	}
	fi, _ := os.Stat(out)
	if fi.Mode().Perm() != DefaultMode {
		t.Errorf("mode %o", fi.Mode().Perm())
	}
	// Idempotent: nothing rewritten, mtime kept.
	res, err = Render(l.opts(Options{TokenFiles: tfs, Output: out}))
	if err != nil || res.Changed {
		t.Errorf("second render: %v %+v", err, res)
	}
	if fi2, _ := os.Stat(out); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("an unchanged render touched the file")
	}
	if _, err := Render(l.opts(Options{TokenFiles: tfs, Output: out, Check: true})); err != nil {
		t.Errorf("check: %v", err)
	}
	l.noSecrets()
}

// TestRenderTokenFilesBesideStore: token files add hosts to a store's; a
// host both give is an error and nothing is written.
func TestRenderTokenFilesBesideStore(t *testing.T) {
	store, id := newStore(t, "tokens.yaml", crypt.Entry{Host: "github.com", Token: ghTok, Provider: "github"})
	l := &logs{t: t}
	out := filepath.Join(t.TempDir(), "access-tokens.conf")
	cb := TokenFile{Host: "codeberg.org", Path: tokenFile(t, cbTok+"\n")}
	res, err := Render(l.opts(Options{Store: store, Identities: []age.Identity{id}, TokenFiles: []TokenFile{cb}, Output: out}))
	if err != nil || strings.Join(res.Hosts, " ") != "github.com codeberg.org" {
		t.Fatalf("render: %v %+v", err, res)
	}
	before := readFile(t, out)
	dup := TokenFile{Host: "github.com", Path: tokenFile(t, ghTok+"\n")}
	_, err = Render(l.opts(Options{Store: store, Identities: []age.Identity{id}, TokenFiles: []TokenFile{cb, dup}, Output: out}))
	if !errors.Is(err, ErrDuplicateHost) || !strings.Contains(err.Error(), store) || !strings.HasPrefix(err.Error(), dup.Path) {
		t.Fatalf("a host in both: %v", err)
	}
	if readFile(t, out) != before {
		t.Error("a refused render changed the output")
	}
	l.noSecrets()
}

// TestRuntimeDirIsTheUsers: the home-manager unit renders below
// XDG_RUNTIME_DIR, the user's own directory: no warning that only the
// owner can read it.
func TestRuntimeDirIsTheUsers(t *testing.T) {
	runtime := t.TempDir()
	out := filepath.Join(runtime, "nix-auth", "access-tokens.rendered.conf")
	l := &logs{t: t}
	_, err := Render(l.opts(Options{TokenFiles: []TokenFile{{Host: "github.com", Path: tokenFile(t, ghTok)}},
		Output: out, Home: "/nonexistent-home", RuntimeDir: runtime}))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.warns) > 0 {
		t.Errorf("warnings for a file in the user's runtime directory: %q", l.warns)
	}
	if homeOwner(out, "/nonexistent-home", "") != -1 {
		t.Error("without a runtime directory the file is a system file")
	}
}
