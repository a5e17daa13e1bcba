package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-auth/nix-auth/nixconf"
)

// TestRenderWritesOnlyItsOwnFiles: render replaces its output whole, so it
// refuses a file it did not make (login's access-tokens.conf, or one
// written by hand), before anything is written.
func TestRenderWritesOnlyItsOwnFiles(t *testing.T) {
	plain := writePlain(t, "secret", sopsDecrypted)
	for name, content := range map[string]string{
		"login":   "# Access tokens for Nix, written by nix-auth and included from nix.conf.\nextra-access-tokens = a.com=LOGINTOKEN\n",
		"by-hand": "access-tokens = a.com=HANDTOKEN\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "access-tokens.conf")
			conf := filepath.Join(dir, "nix.conf")
			if err := os.WriteFile(out, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			own := filepath.Join(dir, nixconf.RenderFileName)
			for _, check := range []bool{true, false} {
				_, err := Render(Options{Plain: plain, Output: out, NixConf: conf, Own: own, Check: check, Now: now})
				var we *nixconf.WriterError
				// The commands name Own in the hint (cmd's TestFlagHints).
				if !errors.As(err, &we) || !strings.Contains(err.Error(), out) || we.Own != own || we.Want != nixconf.WriterRender {
					t.Fatalf("check=%v: err = %v, want a WriterError naming %s with a hint naming %s", check, err, out, own)
				}
			}
			if got := readFile(t, out); got != content {
				t.Errorf("the file changed: %q", got)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("files written beside it: %v", ents)
			}
		})
	}
	// Its own file (and an empty one) it rewrites.
	out := filepath.Join(t.TempDir(), nixconf.RenderFileName)
	for range 2 {
		if _, err := Render(Options{Plain: plain, Output: out, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	if w := nixconf.WriterOf([]byte(readFile(t, out))); w != nixconf.WriterRender {
		t.Errorf("render's output is marked %q", w)
	}
}

// TestPlainReadAsNixAndCryptRead: a fragment Nix refuses is refused (the
// agenix path includes it as it is), and a tree's token follows crypt's
// rule: a string, never digits YAML read as a number.
func TestPlainReadAsNixAndCryptRead(t *testing.T) {
	for name, c := range map[string]struct{ content, want string }{
		"no-spaces":      {"access-tokens=github.com=" + ghTok + "\n", "line 1"},
		"junk-line":      {"access-tokens = github.com=" + ghTok + "\njunk\n", "line 2"},
		"token-number":   {"hosts:\n  github.com:\n    token: 0123456789\n", "token is not a string"},
		"refresh-number": {"hosts:\n  github.com:\n    token: abc\n    refresh_token: 12345\n", "refresh_token is not a string"},
	} {
		t.Run(name, func(t *testing.T) {
			plain := writePlain(t, "secret", c.content)
			out := filepath.Join(t.TempDir(), "out.conf")
			_, err := Render(Options{Plain: plain, Output: out, Now: now})
			if err == nil || !strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one naming %s and %q", err, plain, c.want)
			}
			if strings.Contains(err.Error(), ghTok) {
				t.Error("the error shows the token")
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an output was written")
			}
		})
	}
	// Quoted digits are a string.
	plain := writePlain(t, "secret", "hosts:\n  github.com:\n    token: \"0123456789\"\n")
	out := filepath.Join(t.TempDir(), "out.conf")
	if _, err := Render(Options{Plain: plain, Output: out, Now: now}); err != nil || !strings.Contains(readFile(t, out), "github.com=0123456789\n") {
		t.Errorf("quoted digits: %v", err)
	}
}
