package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/safefile"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

type refreshOptions struct {
	encryptTo string
	clientID  string
	dryRun    bool
	within    time.Duration
	keys      keyOptions
}

func newRefreshCmd(f *Factory) *cobra.Command {
	o := &refreshOptions{}
	c := &cobra.Command{
		Use:   "refresh [host...] [--encrypt-to FILE]",
		Short: "Renew expiring GitLab OAuth tokens with their refresh tokens",
		Long: strings.TrimSpace(`
Renew GitLab OAuth tokens with their refresh tokens, validate the new tokens
and write them back: those in your Nix config (access-tokens.conf, whose
refresh tokens are kept beside it in the 0600 ` + nixconf.StateFileName + `),
or with --encrypt-to those in an encrypted store.

GitLab's device-flow tokens last two hours. render never refreshes them,
because activation must not need the network, so a store holding one needs
this command: run it from a timer or before each deploy. On your own
machine, a user timer running ` + "`nix-auth refresh --within 1h`" + ` every
half hour keeps the token fresh (the home-manager module's
services.nix-auth.refresh, or the units in the README). A personal access
token (read_api) needs none of this and is the simpler choice for a fleet.

With no host, every entry that has a refresh token is renewed; --within
renews only those that expire within that time (or have expired). GitLab
spends a refresh token when it is used: the new one is saved with the new
token, and refreshes of one config or store wait for each other. --dry-run
lists what would be renewed without contacting the forge.

Exit status: 1 when a named host could not be refreshed, or any refresh
failed; the others are saved.`),
		Example: strings.Trim(`
  nix-auth refresh
  nix-auth refresh --within 1h
  nix-auth refresh --encrypt-to secrets/tokens.yaml
  nix-auth refresh gitlab.com --encrypt-to secrets/tokens.yaml
  nix-auth refresh gitlab.example.com --encrypt-to secrets/tokens.age --client-id 3f1e...`, "\n"),
		RunE: func(c *cobra.Command, a []string) error {
			return runRefresh(c.Context(), f, configFlag(c), a, o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "refresh the tokens of this sops (.yaml/.json), age (.age) or git-crypt store instead of the Nix config")
	fl.StringVar(&o.clientID, "client-id", "", "OAuth application the tokens were issued to (default: the one recorded at login, else glab's on gitlab.com)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "list what would be refreshed; contact no forge, write nothing")
	fl.DurationVar(&o.within, "within", 0, "only refresh tokens that expire within this duration (or have expired), e.g. 1h")
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	o.keys.addFormatFlag(fl)
	return c
}

func runRefresh(ctx context.Context, f *Factory, config string, hosts []string, o *refreshOptions) error {
	if o.within < 0 {
		return usagef("--within must not be negative")
	}
	so := sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun}
	if !o.dryRun {
		// One refresh of a config or store at a time: GitLab spends a
		// refresh token when it is used, and a second run would spend it
		// again (invalid_grant). The lock is taken before the sink is
		// read, so the second run reads what the first wrote.
		unlock, err := lockRefresh(f, so)
		if err != nil {
			return err
		}
		defer unlock()
	}
	sink, err := f.openSink(so, false)
	if err != nil {
		return err
	}
	entries, failed, err := refreshTargets(f, sink, hosts, o.within)
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
				fmt.Sprintf("the refreshed token for %s was not saved and its old refresh token is spent: log in again with `nix-auth login %s%s`", e.Host, e.Host, sinkArgs(sink)))}
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

// lockRefresh takes the lock that refreshes of the sink so names share:
// beside the store, or beside the user's nix.conf.
func lockRefresh(f *Factory, so sinkOptions) (func(), error) {
	path := so.encryptTo
	if path == "" {
		paths, err := nixconf.Locate(so.config, f.lookupEnv)
		if err != nil {
			return nil, err
		}
		path = paths.TokensFile
	}
	return safefile.Lock(path+".refresh", f.warn)
}

// sinkArgs is how a command line names sink: " --encrypt-to STORE" for a
// store, nothing for the user's Nix config.
func sinkArgs(sink tokenSink) string {
	if _, ok := sink.(*storeSink); ok {
		return " --encrypt-to " + sink.Path()
	}
	return ""
}

// refreshTargets picks the entries to refresh: the named hosts, each of
// which must have a refresh token (failed counts those that do not), or
// every entry that has one; with within, only those that expire within
// it (or whose expiry is unknown).
func refreshTargets(f *Factory, sink tokenSink, hosts []string, within time.Duration) (entries []crypt.Entry, failed int, err error) {
	all, err := sink.Entries()
	if err != nil {
		return nil, 0, err
	}
	later := func(e crypt.Entry) bool {
		if within > 0 && !e.Expires.IsZero() && e.Expires.After(f.Now().Add(within)) {
			termsafe.Fprintf(f.IO.Out, "Skipped %s: it expires at %s, not within %s.\n", e.Host, e.Expires.UTC().Format(time.RFC3339), within)
			return true
		}
		return false
	}
	if len(hosts) == 0 {
		for _, e := range all {
			if e.RefreshToken == "" {
				termsafe.Fprintf(f.IO.Out, "Skipped %s: no refresh token (a personal token, or one that does not expire).\n", e.Host)
				continue
			}
			if later(e) {
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
				hints: []string{"only GitLab OAuth tokens from `nix-auth login` have one; a personal token is replaced with `nix-auth set-token " + host + sinkArgs(sink) + "`"}})
		case later(e):
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
			hints: []string{fmt.Sprintf("log in again: `nix-auth login %s%s`", e.Host, sinkArgs(sink)),
				fmt.Sprintf("a personal access token (read_api) needs no refreshing: `nix-auth set-token %s%s`", e.Host, sinkArgs(sink))}}
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
			hints: []string{"it was saved anyway, since the old refresh token is spent; check it with " + statusCommand(sink, e.Host)}}
	}
	termsafe.Fprintf(f.IO.Out, "Refreshed %s as %s (token %s%s).\n", e.Host, termsafe.Field(orUnknown(st.User)), providers.MaskToken(nixTok), expiresText(ne.Expires))
	return true, nil
}

// statusCommand is the status command that checks host's token in sink.
func statusCommand(sink tokenSink, host string) string {
	if _, ok := sink.(*storeSink); ok {
		return "`nix-auth status --file " + sink.Path() + "`"
	}
	return "`nix-auth status " + host + "`"
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
