// Package proc runs a helper program (nix, git, nix-instantiate, a key
// command) with bounds: a deadline, a cap on what it may print, and, on
// Unix, its own process group killed whole, so that a child it left behind
// cannot keep its pipes open and hold nix-auth. The program and its output
// are untrusted: nothing here panics on them, reads them without a bound,
// or quotes them in an error; each caller decides what of stderr, if
// anything, may reach a message.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"strconv"
	"time"
)

// Defaults for the zero values of Cmd's bounds.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxStdout = 1 << 20
	DefaultMaxStderr = 4 << 10
)

// Kinds of Error, for errors.Is.
var (
	// ErrNotFound: the program does not exist (or is not on PATH).
	ErrNotFound = errors.New("program not found")
	// ErrStart: the program exists but could not be started (not
	// executable, not a program).
	ErrStart = errors.New("program could not be started")
	// ErrTimeout: the program did not finish in time and was killed.
	ErrTimeout = errors.New("program did not finish in time")
	// ErrTooLarge: the program printed more than MaxStdout and was killed.
	ErrTooLarge = errors.New("program printed too much")
	// ErrExit: the program exited with a non-zero status or was killed by
	// a signal it did not get from us.
	ErrExit = errors.New("program failed")
	// ErrCanceled: the caller's context ended first.
	ErrCanceled = errors.New("program was stopped")
)

// Cmd is one run of a program.
type Cmd struct {
	// Path is the program: a path, or a name looked up in nix-auth's PATH
	// (callers that run in another environment resolve it themselves).
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is the whole environment; nil: nix-auth's own.
	Env []string
	// Dir is the working directory; "": nix-auth's.
	Dir string
	// Stdin is the program's standard input; nil: none (/dev/null).
	Stdin io.Reader
	// Timeout bounds the run; zero: DefaultTimeout.
	Timeout time.Duration
	// MaxStdout bounds standard output: beyond it the program is killed
	// and the run is ErrTooLarge. Zero: DefaultMaxStdout.
	MaxStdout int
	// MaxStderr bounds the standard error kept (the rest is dropped, the
	// program goes on). Zero: DefaultMaxStderr; negative: none kept.
	MaxStderr int
	// Interactive keeps the program in nix-auth's process group, so that
	// it may ask the terminal (a PIN): a background group reading the
	// terminal is stopped by it. Only the program is killed then, and
	// children holding its pipes are waited for no longer than a second.
	Interactive bool
}

// Result is what a run printed.
type Result struct {
	// Stdout is all of standard output (at most MaxStdout bytes).
	Stdout []byte
	// Stderr is the start of standard error, at most MaxStderr bytes;
	// untrusted and possibly secret: callers choose what to show.
	Stderr []byte
}

// Error is a run that failed. Its message names no output of the program.
type Error struct {
	// Kind is one of the Err* values.
	Kind error
	// Name is the program as the caller named it.
	Name string
	// Timeout and Max are the bounds that were hit (ErrTimeout,
	// ErrTooLarge).
	Timeout time.Duration
	Max     int
	// ExitCode is the exit status (ErrExit), -1 when Signal is set.
	ExitCode int
	// Signal is the signal that killed the program ("killed"), if any.
	Signal string
	// Err is the cause of ErrNotFound and ErrStart, for errors.Is.
	Err error
	// Stderr is the start of standard error (ErrExit), as in Result;
	// Error() never shows it.
	Stderr []byte
}

func (e *Error) Error() string {
	switch e.Kind {
	case ErrNotFound:
		return e.Name + " was not found"
	case ErrStart:
		return "cannot run " + e.Name + ": " + startCause(e.Err)
	case ErrTimeout:
		return fmt.Sprintf("%s did not finish within %s and was stopped", e.Name, e.Timeout)
	case ErrTooLarge:
		return fmt.Sprintf("%s printed more than %s and was stopped", e.Name, size(e.Max))
	case ErrCanceled:
		return e.Name + " was stopped"
	}
	return e.Name + " " + e.Status()
}

// Status says how the program ended: "exited with status 2", "was killed
// by signal killed".
func (e *Error) Status() string {
	if e.Signal != "" {
		return "was killed by signal " + e.Signal
	}
	return "exited with status " + strconv.Itoa(e.ExitCode)
}

// StderrOf is the start of the standard error of a run that failed with
// ErrExit (nil for other errors): for callers that decide to quote it.
func StderrOf(err error) []byte {
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrExit {
		return e.Stderr
	}
	return nil
}

// IsQuietExit reports whether err is the program exiting with status code
// and nothing on stderr: how git config says "no such key".
func IsQuietExit(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == ErrExit && e.Signal == "" && e.ExitCode == code && len(e.Stderr) == 0
}

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap is the cause of a program that could not be started.
func (e *Error) Unwrap() error { return e.Err }

// startCause is why exec failed, without the path it already names.
func startCause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

func size(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + " MiB"
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}

// capped keeps the first max bytes written; over, if set, is called once
// when more come. It never fails a write, so the program is not sent
// SIGPIPE for stderr it may print freely.
type capped struct {
	buf  bytes.Buffer
	max  int
	over func()
	full bool
}

func (w *capped) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); len(p) > room {
		if room > 0 {
			w.buf.Write(p[:room])
		}
		if !w.full && w.over != nil {
			w.over()
		}
		w.full = true
		return len(p), nil
	}
	return w.buf.Write(p)
}

// Run runs c and waits for it, within its bounds and ctx's. It returns the
// output on success; otherwise an *Error, with a Result (what was printed)
// only for ErrExit, where a caller may want stdout or stderr (git's
// "not found" status, nix's error lines).
func Run(ctx context.Context, c Cmd) (*Result, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	maxOut := c.MaxStdout
	if maxOut <= 0 {
		maxOut = DefaultMaxStdout
	}
	maxErr := c.MaxStderr
	if maxErr == 0 {
		maxErr = DefaultMaxStderr
	}
	maxErr = max(maxErr, 0)
	deadline, stop := context.WithTimeout(ctx, timeout)
	defer stop()
	// kill ends the run early (stdout over its cap) without the run
	// looking like a timeout.
	run, kill := context.WithCancel(deadline)
	defer kill()

	cmd := exec.CommandContext(run, c.Path, c.Args...)
	cmd.Env, cmd.Dir, cmd.Stdin = c.Env, c.Dir, c.Stdin
	if !c.Interactive {
		ownGroup(cmd)
	}
	// A child holding the pipes after the kill must not hold us.
	cmd.WaitDelay = time.Second
	stdout := &capped{max: maxOut, over: kill}
	stderr := &capped{max: maxErr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	name := c.Path
	switch {
	case stdout.full:
		// Even if it exited before the kill: its output was cut.
		return nil, &Error{Kind: ErrTooLarge, Name: name, Max: maxOut}
	case err == nil:
		return &Result{Stdout: stdout.buf.Bytes(), Stderr: stderr.buf.Bytes()}, nil
	case ctx.Err() == context.Canceled:
		return nil, &Error{Kind: ErrCanceled, Name: name, Err: ctx.Err()}
	case deadline.Err() != nil:
		// The caller's deadline counts as ours: a caller bounding several
		// runs together passes it in ctx.
		return nil, &Error{Kind: ErrTimeout, Name: name, Timeout: timeout}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		e := &Error{Kind: ErrExit, Name: name, ExitCode: ee.ExitCode(), Signal: signal(ee), Stderr: stderr.buf.Bytes()}
		return &Result{Stdout: stdout.buf.Bytes(), Stderr: stderr.buf.Bytes()}, e
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{Kind: ErrNotFound, Name: name, Err: err}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// The program exited well; a child of its kept the pipes open
		// past WaitDelay. What the program printed stands; the child goes.
		if !c.Interactive {
			killGroup(cmd)
		}
		return &Result{Stdout: stdout.buf.Bytes(), Stderr: stderr.buf.Bytes()}, nil
	}
	return nil, &Error{Kind: ErrStart, Name: name, Err: err}
}
