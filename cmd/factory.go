package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/providers"
)

// IOStreams are the terminal-facing streams of one command run. They are
// injected so that every command runs in tests without a terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// InTTY, OutTTY and ErrTTY say whether each stream is a terminal: a
	// terminal gets prompts, colour-free progress and the browser; a pipe or
	// a journal gets plain lines.
	InTTY, OutTTY, ErrTTY bool

	// ReadPassword reads a line from the terminal without echo. It is nil
	// when there is no terminal to ask.
	ReadPassword func() ([]byte, error)
}

// Factory carries everything a command needs from the outside world, in the
// style of cli/cli: streams, HTTP, environment, clock and browser.
type Factory struct {
	IO *IOStreams
	// HTTPClient returns the client every forge request goes through.
	HTTPClient func() *http.Client
	// Getenv reads the environment (NIX_USER_CONF_FILES, SOPS_AGE_KEY...).
	Getenv func(string) string
	// LookupEnv reads it telling an empty variable from an unset one, as
	// Nix does; nil means Getenv, an empty value counting as unset.
	LookupEnv func(string) (string, bool)
	// Now is the clock used for expiry decisions.
	Now func() time.Time
	// OpenBrowser opens a URL in the user's browser; nil when there is none.
	OpenBrowser func(url string) error
}

// maxSecretInput bounds a token read from stdin: real tokens are well under
// 1 KiB, and an unbounded read would let a stray file fill memory.
const maxSecretInput = 16 << 10

// newSystemFactory wires a Factory to the real process environment.
func newSystemFactory() *Factory {
	inTTY := term.IsTerminal(int(os.Stdin.Fd()))
	ios := &IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		InTTY:  inTTY,
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
	if inTTY {
		ios.ReadPassword = func() ([]byte, error) { return term.ReadPassword(int(os.Stdin.Fd())) }
	}
	client := providers.NewHTTPClient()
	f := &Factory{
		IO:         ios,
		HTTPClient: func() *http.Client { return client },
		Getenv:     os.Getenv,
		LookupEnv:  os.LookupEnv,
		Now:        time.Now,
	}
	if hasDesktop(os.Getenv) {
		f.OpenBrowser = openBrowser
	}
	return f
}

// lookupEnv is LookupEnv, or Getenv when a test wired only that.
func (f *Factory) lookupEnv(key string) (string, bool) {
	if f.LookupEnv != nil {
		return f.LookupEnv(key)
	}
	v := f.Getenv(key)
	return v, v != ""
}

// hasDesktop reports whether a browser can be shown: on Linux only when a
// graphical session is there, so that a login over ssh never spawns a
// text-mode browser in the middle of the device flow.
func hasDesktop(getenv func(string) string) bool {
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != ""
}

// openBrowser hands url to the desktop's opener. Only https URLs go: the
// URLs come from providers, which pass only the forge's own pages, and
// this keeps anything else (javascript:, file:, an argument starting with
// "-") away from xdg-open even if a caller forgot.
func openBrowser(url string) error {
	if !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("refusing to open %q: not an https URL", url)
	}
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", url)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		c = exec.Command("xdg-open", url)
	}
	if err := c.Start(); err != nil {
		return err
	}
	// Reap the opener without waiting on the user's browser session.
	go c.Wait() //nolint:errcheck
	return nil
}

// readSecret reads a token: from stdin when it is not a terminal (or when
// fromStdin forces it), else from a no-echo prompt. The token never comes
// from argv, so it never shows up in ps or shell history.
func (f *Factory) readSecret(prompt string, fromStdin bool) (string, error) {
	if fromStdin || !f.IO.InTTY || f.IO.ReadPassword == nil {
		if f.IO.InTTY && f.IO.ReadPassword == nil && !fromStdin {
			return "", errors.New("no terminal to read the token from")
		}
		return readSecretFrom(f.IO.In)
	}
	termsafe.Fprintf(f.IO.ErrOut, "%s", prompt)
	b, err := f.IO.ReadPassword()
	termsafe.Fprintln(f.IO.ErrOut)
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readSecretFrom reads one token from a pipe: the first line, trimmed. More
// than one non-empty line is refused rather than guessed at.
func readSecretFrom(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSecretInput+1))
	if err != nil {
		return "", fmt.Errorf("reading the token from standard input: %w", err)
	}
	if len(data) > maxSecretInput {
		return "", &hintError{
			msg:   fmt.Sprintf("standard input is larger than %d KiB: that is not a token", maxSecretInput>>10),
			hints: []string{"pipe just the token, e.g. `pass show forge-token | nix-auth set-token HOST`"},
		}
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, len(data)+1), len(data)+1)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	switch len(lines) {
	case 0:
		return "", &hintError{
			msg:   "no token on standard input",
			hints: []string{"pipe the token in, e.g. `pass show forge-token | nix-auth set-token HOST`"},
		}
	case 1:
		return lines[0], nil
	default:
		return "", &hintError{
			msg:   fmt.Sprintf("standard input has %d lines; expected exactly one token", len(lines)),
			hints: []string{"pipe a single token, with no other text"},
		}
	}
}
