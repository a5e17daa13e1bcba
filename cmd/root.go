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

	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/providers"
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
//
// Everything the commands print goes through termsafe.Writer, so that text
// from a forge or a file that a command forgot to escape still cannot drive
// the terminal; the commands escape each such value themselves as well (see
// termsafe), which is what keeps it on its own line.
func Run(ctx context.Context, f *Factory, args []string) (code int) {
	out, errOut := termsafe.NewWriter(f.IO.Out), termsafe.NewWriter(f.IO.ErrOut)
	ios := *f.IO
	ios.Out, ios.ErrOut = out, errOut
	g := *f
	g.IO = &ios
	defer func() {
		// Last resort: a bug must not print a stack trace built from what
		// a forge sent. The causes are fixed where they are found; this
		// only keeps the output to one error line.
		if r := recover(); r != nil {
			code = reportError(errOut, &hintError{
				msg:   fmt.Sprintf("internal error: %v", r),
				hints: []string{"this is a bug in nix-auth: please report it, with the command you ran"},
			})
		}
		out.Flush()
		errOut.Flush()
	}()
	if args == nil {
		args = os.Args[1:]
	}
	root := newRootCmd(&g, directCommand(args))
	root.SetArgs(args)
	c, err := root.ExecuteContextC(ctx)
	return reportErrorFor(errOut, err, c)
}

// reportError prints err (nothing when nil) and returns the exit code.
func reportError(w io.Writer, err error) int { return reportErrorFor(w, err, nil) }

// reportErrorFor is reportError for an error of command c (nil: unknown),
// whose help a usage error points to. Every line is escaped as a whole:
// error texts quote hosts, paths and forges' messages.
func reportErrorFor(w io.Writer, err error, c *cobra.Command) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	termsafe.Fprintf(w, "nix-auth: error: %s\n", err)
	for _, hint := range hintsOf(err) {
		termsafe.Fprintf(w, "nix-auth: hint: %s\n", hint)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if !hasHints(err) {
			path := "nix-auth"
			if c != nil {
				path = c.CommandPath()
			}
			termsafe.Fprintf(w, "nix-auth: hint: run `%s --help` for usage\n", path)
		}
		return exitUsage
	}
	return exitFail
}

func hasHints(err error) bool { return len(hintsOf(err)) > 0 }

// hintsOf is everything to print under err: its own hints (the first
// error in its chain that has any), then those cmd adds by its kind.
func hintsOf(err error) []string {
	var hs []string
	var h hinter
	if errors.As(err, &h) {
		hs = append(hs, h.Hints()...)
	}
	return append(hs, flagHints(err)...)
}

// NewRootCmd builds the command tree around f.
func NewRootCmd(f *Factory) *cobra.Command { return newRootCmd(f, "") }

// commands are nix-auth's commands, in the order help lists them, by the
// name each one's Use starts with (TestCommandNames holds them equal).
var commands = []struct {
	name  string
	build func(*Factory) *cobra.Command
}{
	{"login", newLoginCmd},
	{"set-token", newSetTokenCmd},
	{"import", newImportCmd},
	{"logout", newLogoutCmd},
	{"rotate", newRotateCmd},
	{"token", newTokenCmd},
	{"status", newStatusCmd},
	{"rekey", newRekeyCmd},
	{"refresh", newRefreshCmd},
	{"render", newRenderCmd},
	{"git-credential", newGitCredentialCmd},
	{"setup-git", newSetupGitCmd},
	{"version", newVersionCmd},
	{"doctor", newDoctorCmd},
}

// directCommand is the command args name first, when they start with one:
// only that command is then built. Building all of them, flags and
// defaults included, costs every process about a millisecond, render at
// each activation included. Anything else (a flag first, help,
// completion, a word that is no command) gets the whole tree.
func directCommand(args []string) string {
	if len(args) == 0 {
		return ""
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.name
		}
	}
	return ""
}

// newRootCmd builds the tree; only, when set, is the one command in it.
func newRootCmd(f *Factory, only string) *cobra.Command {
	root := &cobra.Command{
		Use:   "nix-auth",
		Short: "Get forge tokens and put them where Nix reads them",
		Long: strings.TrimSpace(`
nix-auth gets access tokens for code forges
(` + strings.Join(append(forgeTitles(true), forgeTitles(false)...), ", ") + `), validates them, and
writes them where Nix reads them: a 0600 access-tokens.conf beside nix.conf,
pulled in with "!include access-tokens.conf", and the netrc file Nix's
downloader reads (archives, binary caches).`),
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().String("config", "", "path of the user's nix.conf (default: as Nix finds it)")

	for _, c := range commands {
		if only == "" || only == c.name {
			root.AddCommand(c.build(f))
		}
	}
	// A word that is no command is a usage error with a hint, not cobra's
	// exit 1 (or, for a command with subcommands, its help and exit 0).
	root.Args = func(c *cobra.Command, a []string) error {
		if len(a) > 0 {
			return unknownCommand(c, a[0])
		}
		return nil
	}
	root.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	root.SetHelpCommand(newHelpCmd())
	// Both are otherwise added only when the command runs; added here, the
	// tree is whole for usageArgs and for tests that walk it.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Args = func(c *cobra.Command, a []string) error {
				if len(a) == 0 {
					return &usageError{err: &hintError{msg: "name the shell to complete for",
						hints: []string{"run `nix-auth completion bash` (or zsh, fish, powershell)"}}}
				}
				return &usageError{err: &hintError{msg: fmt.Sprintf("no completion for %q", a[0]),
					hints: []string{"the shells are bash, zsh, fish and powershell"}}}
			}
			// Runnable, so that cobra checks Args instead of printing help.
			c.RunE = func(*cobra.Command, []string) error { return nil }
		}
	}
	usageArgs(root)
	return root
}

// usageArgs makes every positional-argument check in the tree, cobra's own
// commands included, fail as a usage error.
func usageArgs(c *cobra.Command) {
	if c.Args != nil {
		c.Args = args(c.Args)
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// unknownCommand is a word where a command goes, with the commands it may
// have meant.
func unknownCommand(c *cobra.Command, word string) error {
	if anyToken(strings.Fields(word)) {
		// Not echoed: it is most likely a token, typed where a command goes.
		return tokenArgument("the argument looks like a token, not a command; it was not used")
	}
	hints := []string{"run `nix-auth help` for the list of commands"}
	c.SuggestionsMinimumDistance = 2
	if s := c.SuggestionsFor(word); word != "" && len(s) > 0 {
		hints = append([]string{fmt.Sprintf("did you mean `nix-auth %s`?", s[0])}, hints...)
	}
	return &usageError{err: &hintError{msg: fmt.Sprintf("unknown command %q", word), hints: hints}}
}

// newHelpCmd replaces cobra's help command, which prints "Unknown help
// topic" and exits 0 for a command that does not exist.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, a []string) error {
			target, rest, err := c.Root().Find(a)
			if err != nil || len(rest) > 0 {
				return unknownCommand(c.Root(), strings.Join(a, " "))
			}
			return target.Help()
		},
	}
}

// args wraps a cobra positional-argument check so its failure exits 2.
// Cobra's messages quote the argument they refuse; one that looks like a
// token is refused without it.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		err := check(c, a)
		var ue *usageError
		switch {
		case err == nil || errors.As(err, &ue):
			return err
		case anyToken(a):
			return tokenArgument("an argument looks like a token; it was not used")
		}
		return &usageError{err}
	}
}

// anyToken reports whether any of words looks like a token.
func anyToken(words []string) bool {
	for _, w := range words {
		if providers.LooksLikeToken(w) {
			return true
		}
	}
	return false
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			termsafe.Fprintf(f.IO.Out, "nix-auth %s\n", version)
			return nil
		},
	}
}
