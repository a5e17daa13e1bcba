package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// ErrRefreshRejected is the forge refusing a refresh token (OAuth
// invalid_grant): only a new login gets a token again.
var ErrRefreshRejected = errors.New("the refresh token was revoked, already used, or issued to another OAuth application")

// Refresher is implemented by providers whose OAuth tokens can be renewed
// without the user: GitLab's, which last two hours. It is a separate
// interface because no other forge nix-auth supports issues refresh tokens.
type Refresher interface {
	// Refresh trades refreshToken for a new token. The result's
	// RefreshToken is the one to keep: GitLab rotates it and the one given
	// is spent.
	Refresh(ctx context.Context, refreshToken string) (*Token, error)
}

// Refresh uses the OAuth refresh_token grant at /oauth/token with the
// application the token was issued to (the client ID given at login, or
// glab's on gitlab.com).
func (g *gitlabProvider) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	if tokenProblem(refreshToken) != "" {
		return nil, &Error{Host: g.apiHost, Msg: "the stored refresh token is empty or malformed", class: ErrRefreshRejected}
	}
	clientID := g.clientID
	if clientID == "" {
		clientID = DefaultClientID(g.apiHost)
	}
	if clientID == "" {
		return nil, &Error{Host: g.apiHost,
			Msg:   fmt.Sprintf("refreshing a token of self-managed GitLab at %s needs the ID of the OAuth application it was issued to", g.apiHost),
			class: ErrRefreshClient}
	}
	cfg := &oauth2.Config{
		ClientID: clientID,
		Endpoint: oauth2.Endpoint{
			TokenURL: g.origin() + g.forge.DeviceFlow.TokenPath,
			// A public client has no secret to send with HTTP Basic.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	hc := *g.client
	hc.Transport = &acceptJSON{base: g.client.Transport}
	octx := context.WithValue(ctx, oauth2.HTTPClient, &hc)
	// A token with only a refresh token counts as expired, so the token
	// source refreshes at once.
	tok, err := cfg.TokenSource(octx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, g.refreshFail(ctx, clientID, err)
	}
	t := &Token{Value: tok.AccessToken, Type: OAuth, RefreshToken: tok.RefreshToken}
	if t.RefreshToken == "" {
		// RFC 6749 section 6: without a new one the old one stays valid.
		t.RefreshToken = refreshToken
	}
	if life, ok := forgeSeconds(tok.ExpiresIn); ok && life > 0 {
		t.ExpiresAt = g.now().Add(life)
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scopes = splitScopes(s)
	}
	return t, nil
}

// refreshFail explains a failed refresh without the server's raw body,
// which oauth2's error text would quote.
func (g *gitlabProvider) refreshFail(ctx context.Context, clientID string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("refreshing the token for %s stopped: %w", g.host, ctx.Err())
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case "invalid_grant":
			return &Error{Host: g.apiHost, Msg: g.apiHost + " refused to refresh the token (invalid_grant)", Err: ErrRefreshRejected,
				Advice: []string{"a token refreshed twice at once (two timers) spends the refresh token twice: run one refresh per store"}}
		case "invalid_client", "unauthorized_client":
			return &Error{Host: g.apiHost, Msg: fmt.Sprintf("%s does not accept the OAuth client ID %s for refreshing", g.apiHost, clientID),
				class: ErrRefreshClient}
		case "":
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			e := &Error{Host: g.apiHost, Msg: fmt.Sprintf("%s answered %d %s while refreshing the token", g.apiHost, status, http.StatusText(status))}
			if status >= 500 {
				e.Advice = []string{"the forge is having trouble: try again later; the stored token was not changed"}
			} else {
				e.Advice = []string{"check that the host runs GitLab"}
			}
			return e
		default:
			msg := fmt.Sprintf("%s refused to refresh the token (%s)", g.apiHost, re.ErrorCode)
			if re.ErrorDescription != "" {
				msg += ": " + re.ErrorDescription
			}
			return &Error{Host: g.apiHost, Msg: msg, class: ErrRefreshRejected}
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return netError(g.apiHost, err)
	}
	return &Error{Host: g.apiHost, Msg: g.apiHost + " sent an answer that is not the OAuth JSON expected while refreshing the token",
		Advice: []string{"check that the host runs GitLab", "a login portal or proxy in front of the forge can cause this"}}
}
