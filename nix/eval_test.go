// Package nix has no Go code: its tests evaluate the flake and its NixOS,
// home-manager and nix-darwin modules with the offline evaluation kit
// (../shared/nixeval, installed in /opt/nixeval by .ci/run): Nix 2.26 and
// the pinned sources of nixpkgs, home-manager, sops-nix, agenix and
// nix-darwin. Nothing is built; every system that should build is
// instantiated to a .drv, and the tests assert on the units, launchd jobs,
// activation scripts, warnings and assertions the modules produce.
//
// testdata/scenarios.nix holds the scenarios, evaluated in one
// nix-instantiate per group so that they share one evaluation of nixpkgs.
// Without the kit the tests skip, except in CI (CI=true), where they fail.
package nix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// kitPrefix is where install.sh puts the kit (NIXEVAL_PREFIX, as for
// install.sh itself).
func kitPrefix() string {
	if p := os.Getenv("NIXEVAL_PREFIX"); p != "" {
		return p
	}
	return "/opt/nixeval"
}

// needKit returns the kit's env file, or skips (fails in CI) without it.
func needKit(t *testing.T) string {
	t.Helper()
	env := filepath.Join(kitPrefix(), "env")
	if _, err := os.Stat(filepath.Join(kitPrefix(), "bin", "nix-instantiate")); err == nil {
		if _, err := os.Stat(env); err == nil {
			return env
		}
	}
	msg := fmt.Sprintf("the offline evaluation kit is not installed in %s; run ../shared/nixeval/install.sh", kitPrefix())
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// kitCmd runs a command of the kit (nix, nix-instantiate) with its
// environment; script may use $NIXEVAL_NIXPKGS and the like.
func kitCmd(t *testing.T, script string, args ...string) *exec.Cmd {
	t.Helper()
	env := needKit(t)
	cmd := exec.Command("bash", append([]string{"-c", `. "$0" && ` + script, env}, args...)...)
	cmd.Dir = "testdata"
	return cmd
}

// run runs cmd and returns its stdout, failing with its stderr.
func run(t *testing.T, label string, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("%s: %s", label, time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	return out
}

// groups evaluates each group of testdata/scenarios.nix once per test run,
// for every test that asks.
var groups sync.Map // group name -> func() (map[string]json.RawMessage, error)

func scenarios(t *testing.T, group string) map[string]json.RawMessage {
	t.Helper()
	needKit(t)
	f, _ := groups.LoadOrStore(group, sync.OnceValues(func() (map[string]json.RawMessage, error) {
		// --read-write-mode: --eval alone would compute .drv paths without
		// writing the derivations, and nothing would be instantiated.
		cmd := kitCmd(t, `exec nix-instantiate --read-write-mode --eval --strict --json scenarios.nix \
			--arg nixpkgs "$NIXEVAL_NIXPKGS" --arg home-manager "$NIXEVAL_HOME_MANAGER" \
			--arg sops-nix "$NIXEVAL_SOPS_NIX" --arg agenix "$NIXEVAL_AGENIX" \
			--arg nix-darwin "$NIXEVAL_NIX_DARWIN" --argstr group "$1"`, group)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("evaluating the %s scenarios: %v\n%s", group, err, stderr.String())
		}
		t.Logf("evaluated the %s scenarios in %s", group, time.Since(start).Round(100*time.Millisecond))
		var m map[string]json.RawMessage
		return m, json.Unmarshal(out, &m)
	}))
	m, err := f.(func() (map[string]json.RawMessage, error))()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scenario decodes one scenario's summary into v.
func scenario(t *testing.T, m map[string]json.RawMessage, name string, v any) {
	t.Helper()
	raw, ok := m[name]
	if !ok {
		t.Fatalf("no scenario %q", name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
}

// drvEnv reads environment variables of instantiated derivations (a
// script's text), with one `nix derivation show`.
func drvEnv(t *testing.T, drvs ...string) map[string]map[string]string {
	t.Helper()
	out := run(t, "nix derivation show", kitCmd(t, `exec nix derivation show "$@"`, drvs...))
	var show map[string]struct {
		Env map[string]string `json:"env"`
	}
	if err := json.Unmarshal(out, &show); err != nil {
		t.Fatal(err)
	}
	env := map[string]map[string]string{}
	for drv, d := range show {
		env["/nix/store/"+strings.TrimPrefix(drv, "/nix/store/")] = d.Env
	}
	return env
}

// storePath is where the kit's store (local?root=PREFIX/store) keeps a
// /nix/store path.
func storePath(p string) string { return filepath.Join(kitPrefix(), "store", p) }

// nixAuth builds the nix-auth command for tests that run what the modules
// would run.
var nixAuth = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nix-auth-eval-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nix-auth")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nix-auth/nix-auth").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := nixAuth(); err == nil && bin != "" {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func builtNixAuth(t *testing.T) string {
	t.Helper()
	bin, err := nixAuth()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// has fails unless s matches every pattern (regular expressions).
func has(t *testing.T, what, s string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(s) {
			t.Errorf("%s does not match %q:\n%s", what, p, s)
		}
	}
}

// hasNot fails when s matches any pattern.
func hasNot(t *testing.T, what, s string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if regexp.MustCompile(p).MatchString(s) {
			t.Errorf("%s matches %q:\n%s", what, p, s)
		}
	}
}

func oneWarning(t *testing.T, warnings []string, pattern string) {
	t.Helper()
	n := 0
	for _, w := range warnings {
		if regexp.MustCompile(pattern).MatchString(w) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warnings match %q, want 1: %q", n, pattern, warnings)
	}
}

func noWarnings(t *testing.T, warnings []string) {
	t.Helper()
	if len(warnings) > 0 {
		t.Errorf("unexpected warnings: %q", warnings)
	}
}

const (
	hostKey      = "/etc/ssh/ssh_host_ed25519_key"
	exeRE        = `"/nix/store/[0-9a-z]{32}-nix-auth-eval-test/bin/nix-auth"`
	drvRE        = `^/nix/store/[0-9a-z]{32}-.*\.drv$`
	otherAgeKey  = "age1qzl0tuwk8uf7adjmrv8zn38yvnp9qzjhm89cppxf5947ygm6g4qq3nehy2"
	renderedPath = "/run/nix-auth/access-tokens.conf"
)

func instantiated(t *testing.T, what, drv string) {
	t.Helper()
	if !regexp.MustCompile(drvRE).MatchString(drv) {
		t.Fatalf("%s did not evaluate to a derivation: %q", what, drv)
	}
	if _, err := os.Stat(storePath(drv)); err != nil {
		t.Errorf("%s was not instantiated: %v", what, err)
	}
}
