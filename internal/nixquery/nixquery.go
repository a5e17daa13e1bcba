// Package nixquery asks the installed nix which configuration it really
// uses: `nix config show --json` on Nix 2.20 and later, `nix show-config
// --json` before (2.20 made it a deprecated alias). nix is run with a
// bounded time and a bounded output, in the environment the caller gives
// (the one Nix would see), and what it prints is untrusted: it is decoded
// strictly, its size and its number of tokens are bounded, and nothing of
// it, standard error included, is returned raw for a terminal. Nix quotes
// a refused config line, tokens and all, in its error message: stderr is
// read only to be discarded.
package nixquery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nix-auth/nix-auth/internal/proc"
)

// Bounds on one query.
const (
	// DefaultTimeout bounds the whole query (version and config): nix
	// answers in well under a second; one that hangs must not hang its
	// caller.
	DefaultTimeout = 10 * time.Second
	// MaxOutput bounds what nix may print on stdout: Nix 2.26's config
	// is about 150 KiB, descriptions included.
	MaxOutput = 4 << 20
	// MaxTokens bounds the access tokens accepted from nix's answer.
	MaxTokens = 1024
	// newMajor.newMinor is the first Nix version Query asks with `nix
	// config show`.
	newMajor, newMinor = 2, 20
)

// Kinds of Error, for errors.Is. Running nix is internal/proc's: its kinds
// serve for nix too.
var (
	// ErrNotFound: no nix on PATH.
	ErrNotFound = proc.ErrNotFound
	// ErrTimeout: nix did not answer in time and was killed.
	ErrTimeout = proc.ErrTimeout
	// ErrTooLarge: nix printed more than MaxOutput.
	ErrTooLarge = proc.ErrTooLarge
	// ErrFailed: nix exited with an error (a config it refuses, an
	// unknown command).
	ErrFailed = errors.New("nix failed")
	// ErrBadOutput: what nix printed is not its config as JSON.
	ErrBadOutput = errors.New("nix printed something that is not its configuration")
)

// Error is a query that failed. Its message never quotes nix's output.
type Error struct {
	Kind error
	// Command is the command that failed, as shown to the user.
	Command string
	msg     string
}

func (e *Error) Error() string { return e.Command + ": " + e.msg }

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Options say how to run nix.
type Options struct {
	// Env is nix's whole environment ("KEY=value"); PATH in it is where
	// nix is looked for, unless Binary is set.
	Env []string
	// Binary is the nix to run; empty: "nix" on Env's PATH.
	Binary string
	// Timeout bounds the whole query; zero means DefaultTimeout.
	Timeout time.Duration
}

// Config is what nix said it uses.
type Config struct {
	// Binary is the nix that answered; Version what `nix --version` said
	// (digits and dots only, empty when it said something else).
	Binary, Version string
	// Command is the command whose JSON this is.
	Command string
	// AccessTokens is the access-tokens setting's value: host -> token.
	AccessTokens map[string]string
	// NetrcFile is the netrc-file setting's value.
	NetrcFile string
	// Substituters lists substituters then trusted-substituters.
	Substituters []string
}

// Find looks nix up on path (a PATH value) as a shell would: the first
// executable regular file named nix.
func Find(path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			// A relative PATH entry would run whatever is in the
			// working directory.
			continue
		}
		p := filepath.Join(dir, "nix")
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &Error{Kind: ErrNotFound, Command: "nix", msg: "no nix on PATH"}
}

// envValue is KEY's value in env.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// versionRE reads `nix --version`. It is compiled on first use: its
// bounded repetitions make a large program, and every nix-auth process
// would pay for it at start-up, not only doctor.
var versionRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^nix \([^()\n]{1,64}\) ([0-9]{1,4})\.([0-9]{1,4})((?:\.[0-9]{1,6}){0,2})`)
})

// Query asks nix for its configuration.
func Query(ctx context.Context, o Options) (*Config, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = Find(envValue(o.Env, "PATH")); err != nil {
			return nil, err
		}
	}
	c := &Config{Binary: bin}
	// Old or new command line: by version, and when the version says
	// nothing, the new one first, then the old.
	order := [][]string{{"config", "show"}, {"show-config"}}
	out, err := run(ctx, bin, o.Env, []string{"--version"})
	if err != nil && !errors.Is(err, ErrFailed) {
		return nil, err
	}
	if m := versionRE().FindSubmatch(out); m != nil {
		c.Version = string(m[1]) + "." + string(m[2]) + string(m[3])
		major, _ := strconv.Atoi(string(m[1]))
		minor, _ := strconv.Atoi(string(m[2]))
		if major < newMajor || major == newMajor && minor < newMinor {
			order = order[1:]
		} else {
			order = order[:1]
		}
	}
	var last error
	for _, sub := range order {
		args := append([]string{"--extra-experimental-features", "nix-command"}, sub...)
		args = append(args, "--json")
		c.Command = "nix " + strings.Join(sub, " ") + " --json"
		out, err := run(ctx, bin, o.Env, args)
		if err != nil {
			err.(*Error).Command = c.Command
			last = err
			if errors.Is(err, ErrFailed) {
				continue
			}
			return nil, err
		}
		if err := c.decode(out); err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, last
}

// setting is one entry of nix's JSON config.
type setting struct {
	Value json.RawMessage `json:"value"`
}

// decode reads the settings doctor needs from nix's JSON, strictly: a
// value of the wrong type is bad output, not a zero value.
func (c *Config) decode(out []byte) error {
	bad := func(what string) error {
		return &Error{Kind: ErrBadOutput, Command: c.Command, msg: "nix printed something that is not its configuration as JSON (" + what + ")"}
	}
	var all map[string]setting
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&all); err != nil || all == nil {
		return bad("not a JSON object of settings")
	}
	if len(bytes.TrimSpace(out[dec.InputOffset():])) > 0 {
		return bad("more than one JSON value")
	}
	get := func(name string, v any) error {
		s, ok := all[name]
		if !ok || len(s.Value) == 0 {
			return bad("no " + name + " setting")
		}
		if err := json.Unmarshal(s.Value, v); err != nil {
			return bad(name + " is not what Nix prints for it")
		}
		return nil
	}
	if err := get("access-tokens", &c.AccessTokens); err != nil {
		return err
	}
	if len(c.AccessTokens) > MaxTokens {
		return bad(fmt.Sprintf("%d access tokens, more than %d", len(c.AccessTokens), MaxTokens))
	}
	if c.AccessTokens == nil {
		c.AccessTokens = map[string]string{}
	}
	if err := get("netrc-file", &c.NetrcFile); err != nil {
		return err
	}
	for _, name := range []string{"substituters", "trusted-substituters"} {
		var list []string
		if err := get(name, &list); err != nil {
			return err
		}
		c.Substituters = append(c.Substituters, list...)
	}
	return nil
}

// run runs nix with args, bounded by internal/proc (its own process
// group, killed whole when ctx ends or stdout outgrows MaxOutput). stderr
// is not kept (see the package doc).
func run(ctx context.Context, bin string, env, args []string) ([]byte, error) {
	res, err := proc.Run(ctx, proc.Cmd{Path: bin, Args: args, Env: env, MaxStdout: MaxOutput, MaxStderr: -1,
		Timeout: time.Until(deadline(ctx))})
	show := "nix " + strings.Join(args, " ")
	var pe *proc.Error
	switch {
	case err == nil:
		return res.Stdout, nil
	case !errors.As(err, &pe):
		return nil, &Error{Kind: ErrFailed, Command: show, msg: err.Error()}
	case pe.Kind == proc.ErrTooLarge:
		return nil, &Error{Kind: ErrTooLarge, Command: show, msg: fmt.Sprintf("nix printed more than %d MiB; it was stopped", MaxOutput>>20)}
	case pe.Kind == proc.ErrTimeout || pe.Kind == proc.ErrCanceled:
		return nil, &Error{Kind: ErrTimeout, Command: show, msg: "nix did not answer in time; it was stopped"}
	case pe.Kind == proc.ErrExit:
		return res.Stdout, &Error{Kind: ErrFailed, Command: show, msg: "nix " + pe.Status()}
	}
	return nil, &Error{Kind: ErrFailed, Command: show, msg: pe.Error()}
}

// deadline is ctx's deadline; Query always sets one.
func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
