// Package cmd wires nix-auth's commands: flags in, calls into providers,
// nixconf, crypt and render, output and exit codes out.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes: 1 means the command ran and found a problem (invalid token,
// failed write); 2 means it was called wrongly.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// version is stamped at build time with -ldflags "-X ...cmd.version=...".
var version = "dev"

// hinter is implemented by errors that know what the user should do next;
// each package defines its own such errors.
type hinter interface{ Hints() []string }

// hintError is cmd's own error with advice.
type hintError struct {
	msg   string
	hints []string
}

func (e *hintError) Error() string   { return e.msg }
func (e *hintError) Hints() []string { return e.hints }

// usageError marks a wrongly called command: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitError carries a non-zero exit code for a command that already told
// the user what it found (status with an invalid token).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// Execute runs nix-auth with the process's arguments and environment and
// returns the exit code.
func Execute() int {
	// Ctrl-C cancels the context: a device flow stops polling and returns
	// before anything is written.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, newSystemFactory(), nil)
}

// Run runs the root command with args (nil: os.Args[1:]) and returns the
// exit code, printing any error in the age style: one error line, then hints.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	if args != nil {
		root.SetArgs(args)
	}
	err := root.ExecuteContext(ctx)
	return reportError(f.IO.ErrOut, err)
}

func reportError(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(w, "nix-auth: error: %s\n", err)
	var h hinter
	if errors.As(err, &h) {
		for _, hint := range h.Hints() {
			fmt.Fprintf(w, "nix-auth: hint: %s\n", hint)
		}
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if !hasHints(err) {
			fmt.Fprintln(w, "nix-auth: hint: run `nix-auth help` for usage")
		}
		return exitUsage
	}
	return exitFail
}

func hasHints(err error) bool {
	var h hinter
	return errors.As(err, &h) && len(h.Hints()) > 0
}

// NewRootCmd builds the command tree around f.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "nix-auth",
		Short: "Get forge tokens and put them where Nix reads them",
		Long: strings.TrimSpace(`
nix-auth gets access tokens for code forges (GitHub, GitLab, Gitea, Forgejo,
Codeberg, SourceHut), validates them, and writes them where Nix reads them:
a 0600 access-tokens.conf beside nix.conf, pulled in with
"!include access-tokens.conf".`),
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().String("config", "", "path of the user's nix.conf (default: as Nix finds it)")

	root.AddCommand(
		newLoginCmd(f),
		newSetTokenCmd(f),
		newLogoutCmd(f),
		newStatusCmd(f),
		newRekeyCmd(f),
		newRefreshCmd(f),
		newRenderCmd(f),
		newGitCredentialCmd(f),
		newSetupGitCmd(f),
		newVersionCmd(f),
	)
	return root
}

// args wraps a cobra positional-argument check so its failure exits 2.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if err := check(c, a); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintf(f.IO.Out, "nix-auth %s\n", version)
			return nil
		},
	}
}
