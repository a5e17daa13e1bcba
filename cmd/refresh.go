package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/providers"
)

type refreshOptions struct {
	encryptTo string
	clientID  string
	dryRun    bool
	keys      keyOptions
}

func newRefreshCmd(f *Factory) *cobra.Command {
	o := &refreshOptions{}
	c := &cobra.Command{
		Use:   "refresh [host...] --encrypt-to FILE",
		Short: "Renew expiring GitLab OAuth tokens in an encrypted store",
		Long: strings.TrimSpace(`
Renew the GitLab OAuth tokens in an encrypted store with their refresh
tokens, validate the new tokens and write them back.

GitLab's device-flow tokens last two hours. render never refreshes them,
because activation must not need the network, so a store holding one needs
this command: run it from a timer or before each deploy. A personal access
token (read_api) needs none of this and is the simpler choice for a fleet.

With no host, every entry that has a refresh token is renewed. GitLab spends
a refresh token when it is used: the new one is saved with the new token, so
run one refresh per store at a time. A plain access-tokens.conf keeps no
refresh token and cannot be refreshed. --dry-run lists what would be renewed
without contacting the forge.

Exit status: 1 when a named host could not be refreshed, or any refresh
failed; the others are saved.`),
		Example: strings.Trim(`
  nix-auth refresh --encrypt-to secrets/tokens.yaml
  nix-auth refresh gitlab.com --encrypt-to secrets/tokens.yaml
  nix-auth refresh gitlab.example.com --encrypt-to secrets/tokens.age --client-id 3f1e...`, "\n"),
		RunE: func(c *cobra.Command, a []string) error {
			return runRefresh(c.Context(), f, a, o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "the sops (.yaml/.json) or age (.age) store to refresh (required)")
	fl.StringVar(&o.clientID, "client-id", "", "OAuth application the tokens were issued to (default: the one recorded at login, else glab's on gitlab.com)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "list what would be refreshed; contact no forge, write nothing")
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	return c
}

func runRefresh(ctx context.Context, f *Factory, hosts []string, o *refreshOptions) error {
	if o.encryptTo == "" {
		return &usageError{&hintError{
			msg: "refresh needs --encrypt-to FILE: only an encrypted store keeps the refresh token a GitLab OAuth token is renewed with; a plain access-tokens.conf has none",
			hints: []string{
				"for your own machine, store a personal access token (read_api), which does not expire every two hours: `nix-auth set-token gitlab.com`",
				"or log in again when the token has expired: `nix-auth login gitlab`",
			},
		}}
	}
	sink, err := f.openSink(sinkOptions{encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun}, false)
	if err != nil {
		return err
	}
	entries, failed, err := refreshTargets(f, sink, hosts)
	if err != nil {
		return err
	}
	refreshed := 0
	for _, e := range entries {
		if o.dryRun {
			termsafe.Fprintf(f.IO.Out, "Dry run: would refresh %s (token %s%s).\n", e.Host, providers.MaskToken(e.Token), expiresText(e.Expires))
			continue
		}
		saved, err := refreshOne(ctx, f, sink, e, o.clientID)
		if saved {
			refreshed++
		}
		var se *saveError
		if errors.As(err, &se) {
			// The forge has spent the old refresh token already: stop
			// before it spends more.
			return &hintError{msg: se.err.Error(), hints: append(hintsOf(se.err),
				fmt.Sprintf("the refreshed token for %s was not saved and its old refresh token is spent: log in again with `nix-auth login %s --encrypt-to %s`", e.Host, e.Host, sink.Path()))}
		}
		if err != nil {
			failed++
			reportError(f.IO.ErrOut, err)
		}
	}
	switch {
	case o.dryRun:
		termsafe.Fprintf(f.IO.Out, "Dry run: nothing was sent or written.\n")
	case refreshed > 0:
		termsafe.Fprintf(f.IO.Out, "Saved %d refreshed token%s in %s.\n", refreshed, plural(refreshed), sink.Path())
	}
	if failed > 0 {
		return &exitError{exitFail}
	}
	return nil
}

// refreshTargets picks the entries to refresh: the named hosts, each of
// which must have a refresh token (failed counts those that do not), or
// every entry that has one.
func refreshTargets(f *Factory, sink tokenSink, hosts []string) (entries []crypt.Entry, failed int, err error) {
	all, err := sink.Entries()
	if err != nil {
		return nil, 0, err
	}
	if len(hosts) == 0 {
		for _, e := range all {
			if e.RefreshToken == "" {
				termsafe.Fprintf(f.IO.Out, "Skipped %s: no refresh token (a personal token, or one that does not expire).\n", e.Host)
				continue
			}
			entries = append(entries, e)
		}
		if len(entries) == 0 {
			termsafe.Fprintf(f.IO.Out, "No token in %s has a refresh token; nothing to do.\n", sink.Path())
		}
		return entries, 0, nil
	}
	for _, h := range hosts {
		_, host, _, err := resolveArg(h, "")
		if err != nil {
			return nil, 0, err
		}
		e, ok := sink.Entry(host)
		switch {
		case !ok:
			failed++
			reportError(f.IO.ErrOut, &hintError{msg: fmt.Sprintf("%s has no token for %s", sink.Path(), host),
				hints: []string{"hosts in the file: " + joinOr(entryHosts(all), "(none)")}})
		case e.RefreshToken == "":
			failed++
			reportError(f.IO.ErrOut, &hintError{msg: fmt.Sprintf("the token for %s in %s has no refresh token, so it cannot be refreshed", host, sink.Path()),
				hints: []string{"only GitLab OAuth tokens from `nix-auth login` have one; a personal token is replaced with `nix-auth set-token " + host + " --encrypt-to " + sink.Path() + "`"}})
		default:
			entries = append(entries, e)
		}
	}
	return entries, failed, nil
}

// saveError is a refreshed token that could not be saved.
type saveError struct{ err error }

func (e *saveError) Error() string { return e.err.Error() }
func (e *saveError) Unwrap() error { return e.err }

// refreshOne renews e's token and saves it. Once the forge has answered,
// the old refresh token is spent: the new token is saved even when
// validating it fails, so that the new refresh token is kept (saved
// says so), and a failed save is a *saveError.
func refreshOne(ctx context.Context, f *Factory, sink tokenSink, e crypt.Entry, clientID string) (saved bool, err error) {
	kind := providers.Kind(e.Provider)
	if kind == "" {
		// An entry written without validation records no provider.
		kind, _, _, _ = providers.Resolve(e.Host, "")
	}
	if clientID == "" {
		// The application recorded at login: self-managed GitLab has no
		// default one.
		clientID = e.ClientID
	}
	fl, err := newFlow(f, sink, kind, e.Host, clientID, e.Login)
	if err != nil {
		return false, fmt.Errorf("%s: %w", e.Host, err)
	}
	r, ok := fl.p.(providers.Refresher)
	if !ok {
		return false, fmt.Errorf("%s: nix-auth refreshes GitLab OAuth tokens only, and this token is %s's", e.Host, orUnknown(e.Provider))
	}
	// A save that would fail (a store whose rules would now leave the
	// token in clear) is refused before the forge spends the refresh token.
	if err := sink.CheckSave(e); err != nil {
		return false, err
	}
	tok, err := r.Refresh(ctx, e.RefreshToken)
	if errors.Is(err, providers.ErrRefreshRejected) {
		return false, &hintError{msg: err.Error() + "; the stored token was not changed",
			hints: []string{fmt.Sprintf("log in again: `nix-auth login %s --encrypt-to %s`", e.Host, sink.Path()),
				fmt.Sprintf("for a fleet, a personal access token (read_api) avoids this: `nix-auth set-token %s --encrypt-to %s`", e.Host, sink.Path())}}
	}
	if err != nil {
		return false, err
	}
	nixTok, err := fl.issued(tok)
	if err != nil {
		return false, err
	}
	st, verr := fl.p.Validate(ctx, nixTok)
	if verr == nil && !st.Valid {
		verr = fmt.Errorf("%s rejected the token it just issued: %s", e.Host, st.Problem)
	}
	var ne crypt.Entry
	if verr != nil {
		// Keep what the old entry knew; the forge's answer says the rest.
		ne = fl.entry(nixTok, tok, nil)
		ne.User, ne.Scopes = e.User, tok.Scopes
	} else {
		ne = fl.entry(nixTok, tok, st)
	}
	if _, err := sink.Save(ne); err != nil {
		return false, &saveError{err}
	}
	if verr != nil {
		return true, &hintError{msg: fmt.Sprintf("refreshed %s, but could not validate the new token: %v", e.Host, verr),
			hints: []string{"it was saved anyway, since the old refresh token is spent; check it with `nix-auth status --file " + sink.Path() + "`"}}
	}
	termsafe.Fprintf(f.IO.Out, "Refreshed %s as %s (token %s%s).\n", e.Host, termsafe.Field(orUnknown(st.User)), providers.MaskToken(nixTok), expiresText(ne.Expires))
	return true, nil
}

func expiresText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ", expires " + t.UTC().Format(time.RFC3339)
}

func entryHosts(entries []crypt.Entry) []string {
	var hs []string
	for _, e := range entries {
		hs = append(hs, e.Host)
	}
	return hs
}
