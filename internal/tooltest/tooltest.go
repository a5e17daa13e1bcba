// Package tooltest gives tests the command-line tools pinned in
// tools/go.mod (sops, age, age-keygen, age-plugin-batchpass): the oracles
// that the interop tests run against what nix-auth writes and reads.
//
// They live in a module of their own so that nothing they need reaches
// nix-auth's go.mod or its Nix vendorHash; a tool is built once with
// `go tool -modfile=tools/go.mod -n NAME`. NIX_AUTH_TOOLS, when set, names
// a directory holding the tools already built (the flake's test check sets
// it: the sandbox cannot fetch the tools' modules).
package tooltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var paths sync.Map // name -> func() (string, error)

// Path returns the path of the pinned tool name, built on first use in
// this process.
func Path(name string) (string, error) {
	f, _ := paths.LoadOrStore(name, sync.OnceValues(func() (string, error) { return build(name) }))
	return f.(func() (string, error))()
}

// ToolPath is Path for a test. A tool that cannot be had skips the test,
// except in CI (CI=true), where it fails it: CI must never pass without
// the interop tests.
func ToolPath(t testing.TB, name string) string {
	t.Helper()
	p, err := Path(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the pinned %s is required in CI: %v", name, err)
		}
		t.Skipf("the pinned %s is not available: %v", name, err)
	}
	return p
}

func build(name string) (string, error) {
	if dir := os.Getenv("NIX_AUTH_TOOLS"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("NIX_AUTH_TOOLS: %w", err)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	// go test runs a binary per package, in parallel: two of them building
	// the same tool at once have been seen to fail to start it ("text file
	// busy"). One build at a time, across processes.
	unlock, err := lockFile(filepath.Join(os.TempDir(), "nix-auth-tooltest.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	cmd := exec.Command("go", "tool", "-modfile=tools/go.mod", "-n", name)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -modfile=tools/go.mod -n %s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// repoRoot is the nearest directory above the working directory (a test's
// package directory) that has tools/go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no tools/go.mod above the working directory")
		}
		dir = parent
	}
}

func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// NixAccessTokens runs the real nix (Debian's nix-bin, the oracle for
// Nix's config rules) with env as its whole environment (PATH added) and
// returns the access-tokens map it would use: on Nix 2.8 `show-config
// --json` prints {"access-tokens": {"value": {host: token}, ...}, ...}.
// The error carries nix's stderr, which names no token.
func NixAccessTokens(nix string, env []string) (map[string]string, error) {
	cmd := exec.Command(nix, "--extra-experimental-features", "nix-command", "show-config", "--json")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nix show-config: %w: %s", err, stderr.String())
	}
	var cfg struct {
		AccessTokens struct {
			Value map[string]string `json:"value"`
		} `json:"access-tokens"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return nil, fmt.Errorf("nix show-config printed no JSON config: %w", err)
	}
	return cfg.AccessTokens.Value, nil
}

// Installed returns the path of a tool the system provides (git,
// git-crypt), found in PATH, with ToolPath's rule: missing, it skips the
// test, except in CI, where it fails it. .ci/run installs them.
func Installed(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return p
}
