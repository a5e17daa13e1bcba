package nixquery

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeNix writes a nix that answers --version with version and runs body
// for anything else, in a directory of its own; it returns the PATH.
func fakeNix(t *testing.T, version, body string) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '" + version + "'; exit 0; fi\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, "nix"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

const okJSON = `{"access-tokens":{"value":{"github.com":"ghp_x"}},"netrc-file":{"value":"/etc/nix/netrc"},` +
	`"substituters":{"value":["https://cache.nixos.org/"]},"trusted-substituters":{"value":[]}}`

func query(t *testing.T, path string, timeout time.Duration) (*Config, error) {
	t.Helper()
	return Query(context.Background(), Options{Env: []string{"PATH=" + path + ":/usr/bin:/bin"}, Timeout: timeout})
}

func TestCommandByVersion(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"nix (Nix) 2.8.0", "nix show-config --json"},
		{"nix (Nix) 2.19.3", "nix show-config --json"},
		{"nix (Nix) 2.20.0", "nix config show --json"},
		{"nix (Nix) 2.26.3", "nix config show --json"},
		{"nix (Lix, like Nix) 2.91.1", "nix config show --json"},
		{"nix (Nix) 3.0.0pre", "nix config show --json"},
	} {
		// The fake answers only the command its version has.
		sub := "show-config"
		if strings.Contains(tc.want, "config show") {
			sub = "config"
		}
		body := `case "$3" in ` + sub + `) echo '` + okJSON + `';; *) echo "error: unknown command" >&2; exit 1;; esac`
		c, err := query(t, fakeNix(t, tc.version, body), 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.version, err)
		}
		if c.Command != tc.want || c.AccessTokens["github.com"] != "ghp_x" || c.NetrcFile != "/etc/nix/netrc" || len(c.Substituters) != 1 {
			t.Errorf("%s: got %+v", tc.version, c)
		}
	}
}

// An unknown version tries the new command, then the old one.
func TestUnknownVersionFallsBack(t *testing.T) {
	body := `case "$3" in show-config) echo '` + okJSON + `';; *) exit 1;; esac`
	c, err := query(t, fakeNix(t, "something else", body), 0)
	if err != nil || c.Command != "nix show-config --json" || c.Version != "" {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       error
	}{
		{"hang", "exec sleep 60", ErrTimeout},
		{"hang-child", "sleep 60 & wait", ErrTimeout},
		{"huge", "yes '{\"x\":1}'", ErrTooLarge},
		{"not-json", "echo 'error: this is not JSON, ghp_secret'", ErrBadOutput},
		{"two-values", "echo '" + okJSON + " {}'", ErrBadOutput},
		{"trailing", "echo '" + okJSON + " garbage'", ErrBadOutput},
		{"array", "echo '[1,2]'", ErrBadOutput},
		{"wrong-type", `echo '{"access-tokens":{"value":"github.com=ghp_x"},"netrc-file":{"value":""},"substituters":{"value":[]},"trusted-substituters":{"value":[]}}'`, ErrBadOutput},
		{"missing", `echo '{"access-tokens":{"value":{}}}'`, ErrBadOutput},
		{"fails", "echo 'error: syntax error in configuration line access-tokens ghp_secret' >&2; exit 1", ErrFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			// A short timeout for the nixes that hang; the others must
			// fail for their own reason however loaded the machine is.
			timeout := 30 * time.Second
			if tc.want == ErrTimeout {
				timeout = 2 * time.Second
			}
			_, err := query(t, fakeNix(t, "nix (Nix) 2.8.0", tc.body), timeout)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "ghp_secret") || strings.Contains(err.Error(), "JSON, ") {
				t.Errorf("the error quotes nix's output: %v", err)
			}
			if d := time.Since(start); tc.want == ErrTimeout && d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestTooManyTokens(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"access-tokens":{"value":{`)
	for i := 0; i <= MaxTokens; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"h` + strconv.Itoa(i) + `.example":"t"`)
	}
	b.WriteString(`}},"netrc-file":{"value":""},"substituters":{"value":[]},"trusted-substituters":{"value":[]}}`)
	dir := t.TempDir()
	data := filepath.Join(dir, "out.json")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := query(t, fakeNix(t, "nix (Nix) 2.8.0", "cat "+data), 0)
	if !errors.Is(err, ErrBadOutput) {
		t.Fatalf("got %v", err)
	}
}

func TestNotFound(t *testing.T) {
	// A relative PATH entry is never searched: it would run whatever the
	// working directory holds.
	_, err := Query(context.Background(), Options{Env: []string{"PATH=" + t.TempDir() + ":.:relative"}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v", err)
	}
}

// requireNix finds a real nix: in CI a missing one fails.
func requireNix(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed", path)
		}
		t.Skipf("%s is not installed", path)
	}
	return p
}

// The real Nix 2.8 (Debian's nix-bin) answers show-config; the kit's Nix
// 2.26 answers config show. Each reads only the test's config.
func TestRealNix(t *testing.T) {
	kit := os.Getenv("NIXEVAL_PREFIX")
	if kit == "" {
		kit = "/opt/nixeval"
	}
	for _, tc := range []struct {
		name, bin, cmd, version string
	}{
		{"nix-2.8", "/usr/bin/nix", "nix show-config --json", "2.8"},
		{"nix-2.26", filepath.Join(kit, "bin", "nix"), "nix config show --json", "2.26"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireNix(t, tc.bin)
			home := t.TempDir()
			conf := filepath.Join(home, ".config", "nix")
			if err := os.MkdirAll(conf, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(conf, "nix.conf"), []byte("extra-access-tokens = example.com=tok1\nnetrc-file = /my/netrc\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Query(context.Background(), Options{Binary: tc.bin, Env: []string{
				"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
				"NIX_CONF_DIR=" + t.TempDir(), "XDG_CONFIG_DIRS=/nonexistent",
				"NIX_CONFIG=extra-access-tokens = env.example=tok2",
			}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Command != tc.cmd || !strings.HasPrefix(c.Version, tc.version+".") {
				t.Errorf("command %q, version %q", c.Command, c.Version)
			}
			if c.AccessTokens["example.com"] != "tok1" || c.AccessTokens["env.example"] != "tok2" || c.NetrcFile != "/my/netrc" {
				t.Errorf("got %+v", c)
			}
		})
	}
}
