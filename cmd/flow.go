package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// tokenFlow is one host's way through resolve -> preflight -> token ->
// validate -> save (or remove), which login, set-token, logout and refresh
// share, as gh's commands share shared.Login: the host is resolved and the
// sink opened and checked before any token exists, so that a forge never
// issues a token that could not be saved and the user is never asked for
// one. The steps are methods, so that a command that needs another order
// (refresh saves a token it could not validate; a rotation revokes the old
// token after the save) composes them instead of copying them.
type tokenFlow struct {
	f    *Factory
	sink tokenSink
	// kind is the host's forge; "" when it is not known (set-token on a
	// host nobody named), and p is then nil.
	kind providers.Kind
	host string
	p    providers.Provider
	// clientID is the OAuth application given (--client-id), if any.
	clientID string
	// use is where the credential goes (useOf); login is its netrc
	// login, when known before the forge is asked: --user, or a cache's
	// current one (its provider sends it).
	use   crypt.Use
	login string
}

// flowTarget is what a command was asked to do it for.
type flowTarget struct {
	target   string // a forge name or host, as typed
	provider string // --provider
	// detect probes a host whose forge is not known (login); without it
	// such a host gets no provider, and its token is not validated.
	detect   bool
	clientID string
	user     string // --user: the netrc login
	// existing is a flow about the token the sink has for the host
	// (rotate): it must be there, a store is not created, and the forge
	// recorded with the token serves before any probe.
	existing bool
}

// startFlow resolves t, opens the sink o names and checks that host's
// token can be saved there: everything that can refuse, before a token
// exists.
func startFlow(ctx context.Context, f *Factory, t flowTarget, o sinkOptions) (*tokenFlow, error) {
	kind, host, known, err := resolveArg(t.target, t.provider)
	if err != nil {
		return nil, err
	}
	if err := nixconf.ValidateHost(host); err != nil {
		return nil, &usageError{err}
	}
	sink, err := f.openSink(o, !t.existing)
	if err != nil {
		return nil, err
	}
	cur, had := sink.Entry(host)
	if t.existing {
		if !had {
			return nil, &hintError{msg: fmt.Sprintf("%s has no token for %s; nothing was changed", sink.Path(), host),
				hints: []string{fmt.Sprintf("get one with `nix-auth login %s%s`", host, sinkArgs(sink))}}
		}
		k := providers.Kind(cur.Provider)
		if k == "" && cur.Use == crypt.UseNetrc {
			// A netrc credential alone is a binary cache's.
			k = providers.Cache
		}
		if !known && k.Known() {
			kind, known = k, true
		}
		if t.clientID == "" && known && kind == providers.Kind(cur.Provider) {
			// The OAuth application the old token was issued to:
			// self-managed GitLab has no default one. Another forge's
			// (--provider changed) would be refused by this one.
			t.clientID = cur.ClientID
		}
	}
	if !known && t.detect {
		if kind, err = detect(ctx, f, host); err != nil {
			return nil, err
		}
	}
	use := crypt.UseOf(kind, host)
	if use == crypt.UseNetrc && nixconf.NetrcMachine(host) == "" {
		return nil, usagef("%s: netrc names a cache by host name or IPv4 address; use the cache's host name", host)
	}
	if err := checkUser(t.user, use, host); err != nil {
		return nil, err
	}
	login := t.user
	if had && login == "" && use == crypt.UseNetrc && cur.Use.Netrc() && nixconf.ValidateNetrcValue("login", cur.Login) == nil {
		// A cache keeps its login: it may be the user of a password file.
		login = cur.Login
	}
	if err := sink.CheckSave(crypt.Entry{Host: host, Use: use, Login: login}); err != nil {
		return nil, err
	}
	return newFlow(f, sink, kind, host, t.clientID, login)
}

// newFlow is the flow for host's token in an open sink; login is its netrc
// login when known.
func newFlow(f *Factory, sink tokenSink, kind providers.Kind, host, clientID, login string) (*tokenFlow, error) {
	fl := &tokenFlow{f: f, sink: sink, kind: kind, host: host, clientID: clientID, use: crypt.UseOf(kind, host), login: login}
	if kind == "" {
		return fl, nil
	}
	o := providerOptions(f, clientID)
	o.Login = login
	p, err := providers.New(kind, host, o)
	if err != nil {
		return nil, err
	}
	fl.p = p
	return fl, nil
}

// obtain gets the new token: pasted on stdin (stdin), else by the forge's
// device flow. It returns the access-tokens value and, for a token the
// forge issued, the forge's token (nil for a pasted one). cancelled is the
// error for a flow the user cancelled, which says what was left as it was.
func (fl *tokenFlow) obtain(ctx context.Context, stdin, noBrowser bool, cancelled string) (string, *providers.Token, error) {
	if stdin {
		raw, err := fl.f.readSecret("", true)
		if err != nil {
			return "", nil, err
		}
		nixTok, err := fl.pasted(raw)
		return nixTok, nil, err
	}
	ui := &deviceUI{f: fl.f, noBrowser: noBrowser}
	tok, err := fl.p.Login(ctx, ui)
	ui.done()
	if errors.Is(err, context.Canceled) {
		return "", nil, errors.New(cancelled)
	}
	if err != nil {
		return "", nil, err
	}
	nixTok, err := fl.issued(tok)
	return nixTok, tok, err
}

// pasted turns a token the user gave (stdin or prompt) into the
// access-tokens value, with the forge's type prefix where it takes one.
func (fl *tokenFlow) pasted(raw string) (string, error) {
	nixTok := raw
	if fl.kind != "" {
		var err error
		if nixTok, err = providers.NormalizeToken(fl.kind, raw); err != nil {
			return "", err
		}
	}
	if err := nixconf.ValidateToken(nixTok); err != nil {
		return "", badToken(err)
	}
	if err := fl.netrcOnly(nixTok); err != nil {
		return "", badToken(err)
	}
	return nixTok, nil
}

// netrcOnly refuses a credential for netrc alone that netrc cannot carry
// (a quote, a netrc keyword). A forge's token for both files goes to
// access-tokens all the same (entry).
func (fl *tokenFlow) netrcOnly(nixTok string) error {
	if fl.use != crypt.UseNetrc {
		return nil
	}
	return nixconf.ValidateNetrcValue("password", nixTok)
}

// issued is the access-tokens value of a token the forge issued (device
// flow, refresh), which nix-auth checks as it checks a pasted one: a forge
// is not trusted to send a token that fits on the line.
func (fl *tokenFlow) issued(tok *providers.Token) (string, error) {
	nixTok := fl.p.NixToken(tok)
	if err := nixconf.ValidateToken(nixTok); err != nil {
		return "", fmt.Errorf("the token %s issued: %w; nothing was written", fl.host, err)
	}
	if err := fl.netrcOnly(nixTok); err != nil {
		return "", badToken(err)
	}
	return nixTok, nil
}

// validate asks the forge about nixTok and refuses a token it does not
// accept. Trouble reaching the forge is its error, or what unreachable
// (when not nil) makes of it: a command that can save without asking
// says so.
func (fl *tokenFlow) validate(ctx context.Context, nixTok string, unreachable func(error) error) (*providers.Status, error) {
	st, err := fl.p.Validate(ctx, nixTok)
	if err != nil && unreachable != nil {
		return nil, unreachable(err)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case st.Valid:
		return st, nil
	case fl.use == crypt.UseNetrc:
		// A cache's answer depends on the login too.
		return st, &hintError{
			msg:   fmt.Sprintf("%s refuses the token (login %s): %s; nothing was written", fl.host, fl.netrcLogin(nil), st.Problem),
			hints: []string{"check that the token was copied whole, is for this cache and may read it; a cache behind a password file needs its user: --user NAME"},
		}
	}
	return st, &hintError{
		msg:   fmt.Sprintf("%s rejected the token: %s; nothing was written", fl.host, st.Problem),
		hints: []string{"check that the token was copied whole and has not been revoked"},
	}
}

// entry is the record of nixTok: what the forge said (st, nil when it was
// not asked) and, for a token it issued (tok), its refresh token, expiry
// and OAuth application.
func (fl *tokenFlow) entry(nixTok string, tok *providers.Token, st *providers.Status) crypt.Entry {
	e := crypt.Entry{Host: fl.host, Token: nixTok, Provider: string(fl.kind), Created: fl.f.Now().UTC().Truncate(time.Second), Use: fl.use}
	if st != nil {
		e.User, e.Scopes, e.Expires = st.User, st.Scopes, st.ExpiresAt
	}
	if e.Use.Netrc() {
		e.Login = fl.netrcLogin(st)
	}
	if e.Use == crypt.UseBoth && nixconf.ValidateNetrcValue("password", nixTok) != nil {
		fl.f.warn(fmt.Sprintf("the token is not written to netrc (%v): archives from %s will not authenticate",
			nixconf.ValidateNetrcValue("password", nixTok), nixconf.NetrcMachine(fl.host)))
		e.Use, e.Login = crypt.UseAccessTokens, ""
	}
	if tok != nil {
		e.RefreshToken = tok.RefreshToken
		if e.Expires.IsZero() {
			e.Expires = tok.ExpiresAt
		}
		if tok.Type == providers.OAuth {
			e.ClientID = fl.oauthClientID()
		}
	}
	return e
}

// netrcLogin is the credential's netrc login: the one given or kept
// (fl.login), else the account the forge said (st), else the default.
func (fl *tokenFlow) netrcLogin(st *providers.Status) string {
	if fl.login != "" {
		return fl.login
	}
	if st != nil && fl.use != crypt.UseNetrc {
		return netrcLogin(st.User)
	}
	return providers.DefaultNetrcLogin
}

// oauthClientID is the OAuth application a device-flow login or refresh
// used: the one given, else the host's default (github.com, gitlab.com).
func (fl *tokenFlow) oauthClientID() string {
	if fl.clientID != "" {
		return fl.clientID
	}
	return providers.DefaultClientID(fl.host)
}

// save writes e, then says who the forge took the token for (st, when it
// was asked) and what was written.
func (fl *tokenFlow) save(e crypt.Entry, st *providers.Status) (sinkChange, error) {
	ch, err := fl.sink.Save(e)
	if err != nil {
		return nil, err
	}
	if st != nil {
		printLoggedIn(fl.f, fl.host, e.Token, st, fl.use)
	}
	ch.report(fl.f, fl.host, e.Token)
	return ch, nil
}

// revoke revokes e, host's token before this flow (rotate's old one, or
// the one logout removes), at the forge, and says what became of it. A
// failure is an error that says the token still works.
func (fl *tokenFlow) revoke(ctx context.Context, e crypt.Entry) (*providers.Revocation, error) {
	if fl.p == nil {
		return nil, &hintError{msg: fmt.Sprintf("cannot revoke the token for %s: nix-auth does not know which forge runs there", fl.host),
			hints: []string{"revoke it on the forge's settings page"}}
	}
	clientID := e.ClientID
	if clientID == "" {
		clientID = fl.clientID
	}
	rv, err := fl.p.Revoke(ctx, e.Token, clientID)
	if err != nil {
		return nil, err
	}
	out, tok := fl.f.IO.Out, providers.MaskToken(e.Token)
	switch rv.Outcome {
	case providers.Revoked:
		termsafe.Fprintf(out, "Revoked the token %s for %s at the forge (%s).\n", tok, fl.host, rv.Call)
		if rv.Note != "" {
			termsafe.Fprintf(out, "Note: %s.\n", rv.Note)
		}
	case providers.RevokePending:
		termsafe.Fprintf(out, "The forge accepted the revocation of the token %s for %s (%s); it stops working shortly.\n", tok, fl.host, rv.Call)
		if rv.Note != "" {
			termsafe.Fprintf(out, "Note: %s.\n", rv.Note)
		}
	default:
		termsafe.Fprintf(out, "nix-auth cannot revoke the token %s for %s: %s.\n", tok, fl.host, rv.Note)
		if rv.Page != "" {
			termsafe.Fprintf(out, "It stays valid until you revoke it at %s\n", rv.Page)
		}
	}
	return rv, nil
}

// detect finds the forge of a host nobody named.
func detect(ctx context.Context, f *Factory, host string) (providers.Kind, error) {
	kind, err := providers.Detect(ctx, host, f.HTTPClient())
	if err != nil {
		return "", &hintError{
			msg:   fmt.Sprintf("could not tell which forge %s runs: %v", host, err),
			hints: []string{"name it: " + providerFlag()},
		}
	}
	return kind, nil
}

// printLoggedIn says what the forge said about the token: its user and
// scopes are the forge's words, each escaped and cut to a field. A cache
// says only that it takes the token, with the login sent (st.User).
func printLoggedIn(f *Factory, host, nixTok string, st *providers.Status, use crypt.Use) {
	if use == crypt.UseNetrc {
		termsafe.Fprintf(f.IO.Out, "The cache %s accepts the token (login %s, token %s).\n", host, termsafe.Field(st.User), providers.MaskToken(nixTok))
		return
	}
	who := orUnknown(st.User)
	if in := installationOf(st); in != nil {
		who = "the " + installationText(in)
	}
	termsafe.Fprintf(f.IO.Out, "Logged in to %s as %s (token %s", host, termsafe.Field(who), providers.MaskToken(nixTok))
	if st.ScopesKnown {
		termsafe.Fprintf(f.IO.Out, ", scopes: %s", orNone(termsafe.List(st.Scopes, " ")))
	}
	if !st.ExpiresAt.IsZero() {
		termsafe.Fprintf(f.IO.Out, ", expires %s", st.ExpiresAt.UTC().Format(time.RFC3339))
	}
	termsafe.Fprintln(f.IO.Out, ").")
}
