package cmd

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTokenRefusesTerminal: `nix-auth token` prints a token unmasked, so
// never to a terminal unless --force, and then exactly the token and a
// line break.
func TestTokenRefusesTerminal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nix", "nix.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("access-tokens = gitlab.com=PAT:glpat-terminalSECRET0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir, "XDG_CONFIG_HOME": dir, "NIX_CONF_DIR": filepath.Join(dir, "etc"), "XDG_CONFIG_DIRS": filepath.Join(dir, "xdg")}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		f := &Factory{
			IO:         &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, OutTTY: true},
			HTTPClient: func() *http.Client { return http.DefaultClient },
			Getenv:     func(k string) string { return env[k] },
			Now:        time.Now,
		}
		code := Run(context.Background(), f, args)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("token", "gitlab.com")
	if code != exitUsage || out != "" || !strings.Contains(errOut, "refusing to print a token to a terminal") || strings.Contains(errOut, "terminalSECRET") {
		t.Errorf("to a terminal: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = run("token", "gitlab.com", "--force")
	if code != exitOK || out != "glpat-terminalSECRET0123\n" || errOut != "" {
		t.Errorf("--force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
