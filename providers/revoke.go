package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ErrRevoke is a revocation that did not happen: the forge refused it,
// did not answer, or answered and the token still works. The token is as
// it was, at the forge and wherever it is stored.
var ErrRevoke = errors.New("the token was not revoked")

// RevokeOutcome says what became of a token a Revoke was asked for.
type RevokeOutcome int

// Revocation outcomes.
const (
	// Revoked: the forge revoked the token, or no longer accepted it.
	Revoked RevokeOutcome = iota + 1
	// RevokePending: the forge took the request and revokes the token
	// shortly (GitHub's credential revocation answers 202 Accepted).
	RevokePending
	// RevokeByHand: the forge's API cannot revoke the token with the
	// token alone; Page is where the user does it.
	RevokeByHand
)

// Revocation is what Revoke did.
type Revocation struct {
	Outcome RevokeOutcome
	// Call is the request that revoked the token ("DELETE
	// /api/v4/personal_access_tokens/self"); empty for RevokeByHand.
	Call string
	// Page is the forge's settings page that lists the token, where it is
	// revoked by hand; empty when there is none (GitHub App installation
	// tokens expire within an hour instead).
	Page string
	// Note says why the API cannot revoke the token (RevokeByHand), or
	// that the forge no longer accepted it (Revoked).
	Note string
}

// Revoke revokes nixToken (the access-tokens value) at the forge with
// the first of the table's Revokers that takes it. clientID is the OAuth
// application an OAuth token was issued to ("" for the host's default).
// A token no Revoker takes is not sent anywhere: the Revocation says
// where to revoke it by hand. A failure is an *Error of class ErrRevoke
// whose advice names the settings page; its text never holds the token.
func (b *base) Revoke(ctx context.Context, nixToken, clientID string) (*Revocation, error) {
	typ, tok := b.split(nixToken)
	page := b.revokePage(typ, tok)
	if p := tokenProblem(tok); p != "" {
		return nil, b.revokeError("the stored token cannot be sent: "+p, nil, page)
	}
	rv := b.revoker(typ, tok)
	if rv == nil {
		return &Revocation{Outcome: RevokeByHand, Page: page, Note: b.forge.NoRevoke}, nil
	}
	root := b.forge.apiBase(b.apiHost)
	if rv.Web {
		root = b.origin()
	}
	u, err := url.Parse(root + rv.Path)
	if err != nil {
		return nil, err
	}
	callName := rv.Method + " " + u.Path
	hdr := http.Header{"Accept": {"application/json"}}
	switch rv.Auth {
	case "":
	case "Bearer":
		hdr.Set("Authorization", "Bearer "+tok)
	default:
		hdr.Set(rv.Auth, tok)
	}
	var body []byte
	switch rv.Body {
	case CredentialsBody:
		body, _ = json.Marshal(map[string][]string{"credentials": {tok}})
		hdr.Set("Content-Type", "application/json")
	case OAuthBody:
		id := clientID
		if id == "" {
			id = DefaultClientID(b.apiHost)
		}
		if id == "" {
			return nil, b.revokeError(fmt.Sprintf("revoking an OAuth token of %s at %s needs the ID of the OAuth application it was issued to, and none was recorded",
				b.forge.Title, b.apiHost), nil, page)
		}
		body = []byte(url.Values{"token": {tok}, "token_type_hint": {"access_token"}, "client_id": {id}}.Encode())
		hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := call(ctx, b.client, rv.Method, u.String(), hdr, body)
	if errors.Is(err, context.Canceled) {
		return nil, err
	}
	if err != nil {
		return nil, b.revokeError(callName+" failed", err, page)
	}
	done := &Revocation{Outcome: Revoked, Call: callName, Page: page}
	switch {
	case slices.Contains(rv.Done, r.status) && rv.Confirm:
		return b.confirm(ctx, nixToken, done)
	case slices.Contains(rv.Done, r.status):
		return done, nil
	case slices.Contains(rv.Accepted, r.status):
		done.Outcome = RevokePending
		return done, nil
	case r.status == http.StatusUnauthorized && rv.Auth != "":
		// The token authenticates the call: the forge no longer takes it.
		done.Note = b.forge.Title + " no longer accepts the token: it was already revoked or has expired"
		return done, nil
	}
	return nil, b.revokeRefused(r, callName, page)
}

// split is nixToken's type (by its Nix type prefix; a token without one
// is a personal token) and the token itself.
func (b *base) split(nixToken string) (TokenType, string) {
	if nt, rest, owner, ok := splitNixType(nixToken); ok && owner == b.forge {
		return nt.Type, rest
	}
	if len(b.forge.NixTypes) > 0 {
		// A forge whose fetcher needs a type prefix: a token without
		// one has no known type.
		return "", nixToken
	}
	return Personal, nixToken
}

// revoker is the first of the table's calls that takes the token here.
func (b *base) revoker(typ TokenType, tok string) *Revoker {
	_, public := knownHost(b.apiHost)
	for i := range b.forge.Revokers {
		rv := &b.forge.Revokers[i]
		switch {
		case rv.Hosts == PublicHosts && !public, rv.Hosts == SelfHosted && public:
		case rv.Type != "" && rv.Type != typ:
		case len(rv.Prefixes) > 0 && !slices.ContainsFunc(rv.Prefixes, func(p string) bool { return strings.HasPrefix(tok, p) }):
		default:
			return rv
		}
	}
	return nil
}

// revokePage is the table's settings page for the token, checked as
// every page nix-auth shows is; "" when there is none.
func (b *base) revokePage(typ TokenType, tok string) string {
	if b.forge.RevokePage == nil {
		return ""
	}
	pageHost, page := b.forge.RevokePage(b.apiHost, typ, tok)
	if page == "" {
		return ""
	}
	page, err := forgeURL(page, pageHost)
	if err != nil {
		return ""
	}
	return page
}

// confirm validates a token whose revocation the forge answered without
// saying anything of it.
func (b *base) confirm(ctx context.Context, nixToken string, done *Revocation) (*Revocation, error) {
	st, err := b.self.Validate(ctx, nixToken)
	switch {
	case err != nil:
		done.Outcome = RevokePending
		done.Note = "the forge answered, but whether the token still works could not be checked: " + err.Error()
		return done, nil
	case st.Valid:
		return nil, b.revokeError(done.Call+" answered, but the token still works (was it issued to another OAuth application?)", nil, done.Page)
	}
	return done, nil
}

// revokeRefused explains an answer that is not a revocation.
func (b *base) revokeRefused(r *response, callName, page string) error {
	msg := fmt.Sprintf("%s answered %d %s to %s", r.url.Host, r.status, http.StatusText(r.status), callName)
	if m := r.message(); m != "" && r.isJSON() && !strings.EqualFold(m, http.StatusText(r.status)) {
		msg += ": " + m
	}
	e := b.revokeError(msg, nil, page)
	switch {
	case r.status == http.StatusForbidden || r.status == http.StatusTooManyRequests:
		if headerInt(r.header, "X-RateLimit-Remaining") == 0 {
			e.Advice = append([]string{"its rate limit for revocations is reached: try again later" + b.resetAt(r)}, e.Advice...)
		}
	case r.status == http.StatusNotFound:
		e.Advice = append([]string{fmt.Sprintf("%s has no such API here (GitHub Enterprise Server has it from 3.19)", r.url.Host)}, e.Advice...)
	case r.status >= 500:
		e.Advice = append([]string{"the forge is having trouble: try again later"}, e.Advice...)
	}
	return e
}

// resetAt is " (after TIME)" from a rate limit's reset header, believed
// within a day, or "".
func (b *base) resetAt(r *response) string {
	reset := headerInt(r.header, "X-RateLimit-Reset")
	if reset <= 0 {
		return ""
	}
	at, now := time.Unix(int64(reset), 0), b.now()
	if at.After(now) && at.Before(now.Add(24*time.Hour)) {
		return " (after " + at.UTC().Format(time.RFC3339) + ")"
	}
	return ""
}

// revokeError is a failed revocation of the token for b's host.
func (b *base) revokeError(msg string, err error, page string) *Error {
	e := &Error{Host: b.apiHost, Kind: b.forge.Kind, Msg: "could not revoke the token for " + b.host + ": " + msg, Err: err, class: ErrRevoke}
	if page != "" {
		e.Advice = []string{"revoke it by hand at " + page}
	}
	return e
}
