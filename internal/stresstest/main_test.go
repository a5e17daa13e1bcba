package stresstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/tooltest"
)

// binary is the nix-auth built once for this test run by TestMain, in
// workDir, which holds what the tests share and goes when they end.
var binary, workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nix-auth-stress-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir, binary = dir, filepath.Join(dir, "nix-auth")
	// The go command puts its own GOROOT/bin first in the test's PATH.
	build := exec.Command("go", "build", "-o", binary, "github.com/nix-auth/nix-auth")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building nix-auth:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if testing.Verbose() {
		// Where the time goes: the test itself or the nix-auth processes.
		var self, children syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
		cpu := func(r syscall.Rusage) time.Duration {
			return time.Duration(r.Utime.Nano() + r.Stime.Nano())
		}
		fmt.Printf("CPU time: test process %v, nix-auth and nix processes %v\n", cpu(self).Round(time.Second/10), cpu(children).Round(time.Second/10))
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// seed is the seed of every random choice (variants, kill delays, which
// temporary files to age), printed by the tests. NIXAUTH_STRESS_SEED
// replays a run; the kill moments still depend on the machine's speed.
func seed(t *testing.T) uint64 {
	s := uint64(20261124)
	if v := os.Getenv("NIXAUTH_STRESS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("NIXAUTH_STRESS_SEED=%q: %v", v, err)
		}
		s = n
	}
	t.Logf("seed %d (replay with NIXAUTH_STRESS_SEED=%d)", s, s)
	return s
}

// invocation is one run of nix-auth: arguments, what it reads on stdin
// (the token), and environment beyond the home's.
type invocation struct {
	args   []string
	stdin  string
	env    []string
	secret string // must never appear in the output
}

// outcome is how a run ended.
type outcome struct {
	pid            int
	killed         bool // SIGKILL ended it before it finished
	code           int  // exit code when not killed
	stdout, stderr string
	began          time.Time
	elapsed        time.Duration
}

// homeEnv isolates nix-auth in home: its nix.conf is
// home/.config/nix/nix.conf, and nothing of the user's environment leaks in.
func homeEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CONFIG_DIRS=/nonexistent",
	}
}

// kill says when run sends SIGKILL: delay after after is closed (after
// the process exits, nothing is sent).
type kill struct {
	after <-chan struct{}
	delay time.Duration
}

// run starts nix-auth in home and, with k, kills it as k says; k nil lets
// it finish.
func run(home string, inv invocation, k *kill) (outcome, error) {
	cmd := exec.Command(binary, inv.args...)
	cmd.Dir = home
	cmd.Env = append(homeEnv(home), inv.env...)
	cmd.Stdin = strings.NewReader(inv.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return outcome{}, err
	}
	exited := make(chan struct{})
	defer close(exited)
	if k != nil {
		go func() {
			select {
			case <-k.after:
			case <-exited:
				return
			}
			timer := time.NewTimer(k.delay)
			defer timer.Stop()
			select {
			case <-timer.C:
				// Once Wait has reaped the process this is a no-op (the
				// os package knows it is done), so no other process can
				// be hit.
				cmd.Process.Signal(syscall.SIGKILL)
			case <-exited:
			}
		}()
	}
	err := cmd.Wait()
	o := outcome{pid: cmd.Process.Pid, began: begin, elapsed: time.Since(begin), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			o.killed = true
		} else {
			o.code = exit.ExitCode()
		}
	default:
		return o, err
	}
	if inv.secret != "" && strings.Contains(o.stdout+o.stderr, inv.secret) {
		return o, fmt.Errorf("nix-auth %s printed the token", strings.Join(inv.args, " "))
	}
	return o, nil
}

// mustSucceed runs inv to the end and fails the test unless it exits 0.
func mustSucceed(t *testing.T, home string, inv invocation) outcome {
	t.Helper()
	o, err := run(home, inv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.code != 0 {
		t.Fatalf("nix-auth %s: exit %d\n%s", strings.Join(inv.args, " "), o.code, o.stderr)
	}
	return o
}

// nixPath is the real nix, which CI must have; elsewhere the checks that
// need it are skipped.
func nixPath(t *testing.T) string {
	nix, err := exec.LookPath("nix")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix is not installed; CI installs it with `apt-get install -y --no-install-recommends nix-bin`")
		}
		t.Log("nix is not installed: Nix's own view is not checked")
		return ""
	}
	return nix
}

// nixTokens asks the real nix for the access-tokens it would use with
// home's config alone (no system config), as cmd's nix-tokens does.
func nixTokens(nix, home string) (map[string]string, error) {
	empty := filepath.Join(home, ".nix-empty-conf-dir")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, err
	}
	got, err := tooltest.NixAccessTokens(nix, append(homeEnv(home), "NIX_CONF_DIR="+empty))
	if err != nil || got != nil {
		return got, err
	}
	return map[string]string{}, nil
}

// sameTokens compares token maps without printing a token.
func sameTokens(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for h, v := range a {
		if w, ok := b[h]; !ok || w != v {
			return false
		}
	}
	return true
}

// tokenChain checks that successive views of a token map only grow: no
// host lost, no token changed. A reader that saw a half-written file, or
// a lost update, would break it.
type tokenChain struct {
	prev  map[string]string
	reads int
	sizes []int // distinct sizes seen, in order
}

func (c *tokenChain) observe(m map[string]string) error {
	for h, v := range c.prev {
		if w, ok := m[h]; !ok {
			return fmt.Errorf("read %d: host %s vanished (%d hosts before, %d now)", c.reads, h, len(c.prev), len(m))
		} else if w != v {
			return fmt.Errorf("read %d: the token of %s changed", c.reads, h)
		}
	}
	if len(c.sizes) == 0 || c.sizes[len(c.sizes)-1] != len(m) {
		c.sizes = append(c.sizes, len(m))
	}
	c.prev = m
	c.reads++
	return nil
}
