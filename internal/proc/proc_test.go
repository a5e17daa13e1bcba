//go:build unix

package proc

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sh runs script with /bin/sh, short bounds.
func sh(script string, edit ...func(*Cmd)) Cmd {
	c := Cmd{Path: "/bin/sh", Args: []string{"-c", script}, Timeout: 30 * time.Second, MaxStdout: 1 << 16, MaxStderr: 64}
	for _, e := range edit {
		e(&c)
	}
	return c
}

func TestRun(t *testing.T) {
	secret := "AGE-SECRET-KEY-1SECRETSECRET"
	cases := []struct {
		name, script string
		kind         error
		msg          string
		edit         func(*Cmd)
	}{
		{"ok", "echo hi", nil, "", nil},
		{"exit", "echo " + secret + "; echo " + secret + " >&2; exit 3", ErrExit, "/bin/sh exited with status 3", nil},
		{"signal", "kill -9 $$", ErrExit, "/bin/sh was killed by signal killed", nil},
		{"hang", "exec sleep 60", ErrTimeout, "/bin/sh did not finish within 300ms and was stopped", func(c *Cmd) { c.Timeout = 300 * time.Millisecond }},
		// A child that holds stdout: the whole group is killed.
		{"hang-child", "sleep 60 & wait", ErrTimeout, "did not finish within", func(c *Cmd) { c.Timeout = 300 * time.Millisecond }},
		{"hang-grandchild", "(sleep 60; echo late) & echo " + secret + "; wait", ErrTimeout, "did not finish", func(c *Cmd) { c.Timeout = 300 * time.Millisecond }},
		{"flood", "yes " + secret, ErrTooLarge, "/bin/sh printed more than 64 KiB and was stopped", nil},
		// A flood from a child that ignores the end of its parent.
		{"flood-child", "(trap '' TERM HUP PIPE; yes " + secret + ") & wait", ErrTooLarge, "printed more than", nil},
		{"stderr-flood", "yes " + secret + " | head -c 1000000 >&2; echo done", nil, "", nil},
		{"not-found", "", ErrNotFound, "/nonexistent/prog was not found", func(c *Cmd) { c.Path = "/nonexistent/prog" }},
		{"not-on-path", "", ErrNotFound, "was not found", func(c *Cmd) { c.Path = "no-such-program-nix-auth" }},
		{"not-executable", "", ErrStart, "permission denied", func(c *Cmd) {
			p := filepath.Join(t.TempDir(), "prog")
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.Path = p
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := sh(c.script)
			if c.edit != nil {
				c.edit(&cmd)
			}
			start := time.Now()
			res, err := Run(context.Background(), cmd)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			if c.kind == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if len(res.Stderr) > 64 {
					t.Errorf("kept %d bytes of stderr", len(res.Stderr))
				}
				return
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err is %T", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.msg) || strings.Contains(msg, "SECRET") {
				t.Errorf("message %q: want %q and no output", msg, c.msg)
			}
			if c.kind == ErrNotFound && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errors.Unwrap(err)) {
				t.Errorf("cause lost: %v", errors.Unwrap(err))
			}
			if c.name == "exit" && (res == nil || !strings.Contains(string(res.Stdout), secret) || len(res.Stderr) == 0) {
				t.Errorf("result %+v: the caller wants the output of a failed run", res)
			}
		})
	}
}

func TestStdinEnvDir(t *testing.T) {
	dir := t.TempDir()
	res, err := Run(context.Background(), sh(`read x; printf '%s %s %s' "$x" "$V" "$PWD"`, func(c *Cmd) {
		c.Stdin = strings.NewReader("in\n")
		c.Env = []string{"V=env"}
		c.Dir = dir
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(res.Stdout), "in env "+dir; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCallerContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := Run(ctx, sh("exec sleep 60"))
	if !errors.Is(err, ErrCanceled) {
		t.Errorf("canceled: err = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Run(ctx, sh("exec sleep 60"))
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("caller's deadline: err = %v", err)
	}
}

// An interactive program stays in our group; a child holding its pipes
// still cannot hold Run past the timeout and WaitDelay.
func TestInteractive(t *testing.T) {
	start := time.Now()
	_, err := Run(context.Background(), sh("sleep 60 & wait", func(c *Cmd) {
		c.Interactive = true
		c.Timeout = 300 * time.Millisecond
	}))
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

// A program that exits well while a child holds its stdout: its output
// stands, and the child is killed rather than left running.
func TestLeftChild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	res, err := Run(context.Background(), sh("sleep 60 & echo $! > "+pidFile+"; echo out"))
	if err != nil || string(res.Stdout) != "out\n" {
		t.Fatalf("got %v, %v", res, err)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for i := 0; ; i++ {
		// Gone, or a zombie waiting for init: either way not running.
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") || syscall.Kill(pid, 0) != nil {
			break
		}
		if i == 50 {
			t.Fatalf("the child %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQuietExit(t *testing.T) {
	for _, tc := range []struct {
		script string
		quiet  bool
		stderr string
	}{
		{"exit 1", true, ""},
		{"echo out; exit 1", true, ""},
		{"echo err >&2; exit 1", false, "err\n"},
		{"exit 2", false, ""},
		{"kill -9 $$", false, ""},
	} {
		_, err := Run(context.Background(), sh(tc.script))
		if got := IsQuietExit(err, 1); got != tc.quiet {
			t.Errorf("%s: IsQuietExit = %v", tc.script, got)
		}
		if got := string(StderrOf(err)); got != tc.stderr {
			t.Errorf("%s: StderrOf = %q", tc.script, got)
		}
	}
	if IsQuietExit(nil, 1) || StderrOf(&Error{Kind: ErrTimeout, Stderr: []byte("x")}) != nil {
		t.Error("only a failed exit has a status and stderr")
	}
}
