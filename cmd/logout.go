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
an encrypted store), and its netrc entry where login puts one (Gitea,
Forgejo, Codeberg, a binary cache, or a host whose forge is not known
offline). With no argument, pick the host from a list (on a terminal).

Without --revoke the token stays valid at the forge until you revoke it
there. --revoke revokes it first, with the token itself: GitHub's credential
revocation API (an app installation's token revokes itself), GitLab's
personal_access_tokens/self for personal tokens and /oauth/revoke for OAuth
tokens. Gitea, Forgejo, SourceHut and binary caches cannot revoke a token
through an API with the token alone: logout removes it and says where to
revoke it. When the forge refuses or cannot be reached, nothing is removed;
--force removes it all the same.

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
	var kind providers.Kind
	host := ""
	if len(a) == 1 {
		k, h, _, err := resolveArg(a[0], "")
		if err != nil {
			return err
		}
		if err := nixconf.ValidateHost(h); err != nil {
			return &usageError{err}
		}
		kind, host = k, h
	}
	sink, err := f.openSink(sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun}, false)
	if err != nil {
		return err
	}
	var picked crypt.Entry
	if host == "" {
		if picked, err = pickHost(f, sink); err != nil {
			return err
		}
		host = picked.Host
		kind, _, _, _ = providers.Resolve(host, "")
	}
	// The access token and, for a forge whose credential goes to netrc
	// too (or one not known offline), the netrc entry; a netrc credential
	// picked from the list, where it is.
	use := removeUse(kind, host)
	if picked.Use == crypt.UseNetrc {
		use = crypt.UseNetrc
	}
	if err := sink.CheckRemove(host, use); err != nil {
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
	cur, _ := sink.Entry(host)
	ch, err := sink.Remove(host, use)
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
	case !o.revoke && !o.dryRun && cur.Use == crypt.UseNetrc:
		// A cache's credential: no forge, no --revoke.
		termsafe.Fprintln(f.IO.Out, "The credential is still valid at the server until you revoke it there.")
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
	if !kind.Known() && e.Use == crypt.UseNetrc {
		// A netrc credential alone is a binary cache's.
		kind = providers.Cache
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
	fl, err := newFlow(f, sink, kind, host, "", e.Login)
	if err != nil {
		return err
	}
	_, err = fl.revoke(ctx, e)
	return err
}

// pickHost asks which host to log out from, on a terminal only: a script
// that forgot the argument must fail, not block on a prompt.
func pickHost(f *Factory, sink tokenSink) (crypt.Entry, error) {
	entries, err := sink.Entries()
	if err != nil {
		return crypt.Entry{}, err
	}
	if len(entries) == 0 {
		return crypt.Entry{}, fmt.Errorf("no tokens in %s; nothing to log out from", sink.Path())
	}
	if !f.IO.InTTY {
		return crypt.Entry{}, usagef("name the host to log out from (one of: %s)", hostList(entries))
	}
	for i, e := range entries {
		termsafe.Fprintf(f.IO.ErrOut, "  %d) %s  %s\n", i+1, e.Host, providers.MaskToken(e.Token))
	}
	termsafe.Fprintf(f.IO.ErrOut, "Log out from which host? [1-%d] ", len(entries))
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return crypt.Entry{}, errors.New("no host chosen; nothing was changed")
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 1 || n > len(entries) {
		return crypt.Entry{}, usagef("that is not a number from 1 to %d; nothing was changed", len(entries))
	}
	return entries[n-1], nil
}

func hostList(entries []crypt.Entry) string {
	hosts := make([]string, len(entries))
	for i, e := range entries {
		hosts[i] = e.Host
	}
	return strings.Join(hosts, ", ")
}
