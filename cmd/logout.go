package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

type logoutOptions struct {
	dryRun    bool
	revoke    bool
	force     bool
	encryptTo string
	keys      keyOptions
}

func newLogoutCmd(f *Factory) *cobra.Command {
	o := &logoutOptions{}
	c := &cobra.Command{
		Use:   "logout [provider|host]",
		Short: "Remove a host's token from the Nix config, and with --revoke revoke it at the forge",
		Long: strings.TrimSpace(`
Remove a host's token from access-tokens.conf (or, with --encrypt-to, from
an encrypted store). With no argument, pick the host from a list (on a
terminal).

Without --revoke the token stays valid at the forge until you revoke it
there. --revoke revokes it first, with the token itself: GitHub's credential
revocation API (an app installation's token revokes itself), GitLab's
personal_access_tokens/self for personal tokens and /oauth/revoke for OAuth
tokens. Gitea, Forgejo and SourceHut cannot revoke a token through their
APIs with the token alone: logout removes it and prints the settings page to
revoke it on. When the forge refuses or cannot be reached, nothing is
removed; --force removes it all the same.

Exit status: 1 when the token could not be revoked (with --force it is
removed anyway) or removed.`),
		Example: strings.Trim(`
  nix-auth logout github
  nix-auth logout gitlab.com --revoke
  nix-auth logout github.com --revoke --encrypt-to secrets/tokens.yaml
  nix-auth logout`, "\n"),
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			return runLogout(c.Context(), f, configFlag(c), a, o)
		},
	}
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what would be removed, write nothing and revoke nothing")
	c.Flags().BoolVar(&o.revoke, "revoke", false, "revoke the token at the forge before removing it")
	c.Flags().BoolVar(&o.force, "force", false, "with --revoke: remove the token even when the forge did not revoke it")
	c.Flags().StringVar(&o.encryptTo, "encrypt-to", "", "remove the host from this sops, age or git-crypt store instead of the Nix config")
	o.keys.addRecipientFlag(c.Flags())
	o.keys.addIdentityFlag(c.Flags())
	o.keys.addFormatFlag(c.Flags())
	return c
}

func runLogout(ctx context.Context, f *Factory, config string, a []string, o *logoutOptions) error {
	if o.force && !o.revoke {
		return usagef("--force only applies with --revoke: a logout without it removes the token whatever the forge says")
	}
	if o.encryptTo != "" && len(a) != 1 {
		return usagef("name the host to remove from %s", o.encryptTo)
	}
	host := ""
	var kind providers.Kind
	if len(a) == 1 {
		k, h, _, err := resolveArg(a[0], "")
		if err != nil {
			return err
		}
		if err := nixconf.ValidateHost(h); err != nil {
			return &usageError{err}
		}
		host, kind = h, k
	}
	sink, err := f.openSink(sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun}, false)
	if err != nil {
		return err
	}
	if host == "" {
		if host, err = pickHost(f, sink); err != nil {
			return err
		}
		kind, _, _, _ = providers.Resolve(host, "")
	}
	if err := sink.CheckRemove(host); err != nil {
		return err
	}
	var revokeErr error
	if o.revoke {
		revokeErr = revokeForLogout(ctx, f, sink, kind, host, o)
		if revokeErr != nil && !o.force {
			return &hintError{msg: revokeErr.Error() + "; nothing was removed",
				hints: append(hintsOf(revokeErr), fmt.Sprintf("to remove it all the same: `nix-auth logout %s --revoke --force%s`", host, sinkArgs(sink)))}
		}
	}
	ch, err := sink.Remove(host)
	if err != nil {
		return err
	}
	ch.report(f, host, "")
	switch {
	case revokeErr != nil:
		// --force: removed, and the failure said once more, as the
		// result of the run.
		return &hintError{msg: revokeErr.Error() + "; the token was removed all the same (--force) and still works at the forge",
			hints: hintsOf(revokeErr)}
	case !o.revoke && !o.dryRun:
		termsafe.Fprintf(f.IO.Out, "The token is still valid at the forge until you revoke it there (`nix-auth logout %s --revoke` does both).\n", host)
	}
	return nil
}

// revokeForLogout revokes host's token at its forge: the public host's,
// else the one recorded with the token, else the one a probe finds.
func revokeForLogout(ctx context.Context, f *Factory, sink tokenSink, kind providers.Kind, host string, o *logoutOptions) error {
	e, ok := sink.Entry(host)
	if !ok {
		return fmt.Errorf("%s has no token for %s", sink.Path(), host)
	}
	if !kind.Known() {
		kind = providers.Kind(e.Provider)
	}
	if !kind.Known() {
		var err error
		if kind, err = detect(ctx, f, host); err != nil {
			return err
		}
	}
	if o.dryRun {
		termsafe.Fprintf(f.IO.Out, "Dry run: would revoke the token %s for %s at the forge, then remove it.\n", providers.MaskToken(e.Token), host)
		return nil
	}
	fl, err := newFlow(f, sink, kind, host, "")
	if err != nil {
		return err
	}
	_, err = fl.revoke(ctx, e)
	return err
}

// pickHost asks which host to log out from, on a terminal only: a script
// that forgot the argument must fail, not block on a prompt.
func pickHost(f *Factory, sink tokenSink) (string, error) {
	entries, err := sink.Entries()
	if err != nil {
		return "", err
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("no tokens in %s; nothing to log out from", sink.Path())
	}
	if !f.IO.InTTY {
		return "", usagef("name the host to log out from (one of: %s)", hostList(entries))
	}
	for i, e := range entries {
		termsafe.Fprintf(f.IO.ErrOut, "  %d) %s  %s\n", i+1, e.Host, providers.MaskToken(e.Token))
	}
	termsafe.Fprintf(f.IO.ErrOut, "Log out from which host? [1-%d] ", len(entries))
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no host chosen; nothing was changed")
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 1 || n > len(entries) {
		return "", usagef("that is not a number from 1 to %d; nothing was changed", len(entries))
	}
	return entries[n-1].Host, nil
}

func hostList(entries []crypt.Entry) string {
	hosts := make([]string, len(entries))
	for i, e := range entries {
		hosts[i] = e.Host
	}
	return strings.Join(hosts, ", ")
}
