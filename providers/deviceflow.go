package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Sentinel errors of the device flow, for callers that act on them.
var (
	// ErrDenied is the user declining the authorization in the browser.
	ErrDenied = errors.New("authorization denied")
	// ErrExpired is the device code expiring before it was approved.
	ErrExpired = errors.New("device code expired")
)

// defaultDeviceLifetime bounds polling when a server leaves out
// expires_in (RFC 8628 requires it), so a broken server cannot make a
// login poll forever.
const defaultDeviceLifetime = 15 * time.Minute

// progressEvery is how often the UI hears that polling goes on.
const progressEvery = time.Second

// deviceFlow is one RFC 8628 device authorization, run with
// golang.org/x/oauth2.
type deviceFlow struct {
	host     string
	client   *http.Client
	clientID string
	authURL  string
	tokenURL string
	scopes   []string
	now      func() time.Time
}

// run shows the code, polls until the user approves, and returns the
// token. Progress goes to ui.Waiting from a ticker goroutine because
// DeviceAccessToken blocks.
func (d *deviceFlow) run(ctx context.Context, ui UI) (*Token, error) {
	cfg := &oauth2.Config{
		ClientID: d.clientID,
		Scopes:   d.scopes,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: d.authURL,
			TokenURL:      d.tokenURL,
			// A public client has no secret; without this oauth2 first
			// tries HTTP Basic and retries every poll in the body, doubling
			// the requests.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	hc := *d.client
	hc.Transport = &acceptJSON{base: d.client.Transport}
	octx := context.WithValue(ctx, oauth2.HTTPClient, &hc)

	da, err := cfg.DeviceAuth(octx)
	if err != nil {
		return nil, d.fail(ctx, "asking for a device code", time.Time{}, err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, &Error{Host: d.host, Msg: d.host + " answered the device-code request without a code or URL",
			Advice: []string{"check that the host runs the forge you named and supports the OAuth device flow"}}
	}
	if da.Expiry.IsZero() {
		da.Expiry = time.Now().Add(defaultDeviceLifetime)
	}
	ui.ShowDeviceCode(da.UserCode, da.VerificationURI, da.Expiry)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		showProgress(ui, stop)
	}()
	// DeviceAccessToken also sets this deadline; setting it here as well
	// makes expiry tell apart from the caller's cancellation.
	pctx, cancel := context.WithDeadline(octx, da.Expiry)
	tok, err := cfg.DeviceAccessToken(pctx, da)
	cancel()
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, d.fail(ctx, "waiting for the authorization", da.Expiry, err)
	}
	t := &Token{Value: tok.AccessToken, Type: OAuth, RefreshToken: tok.RefreshToken}
	if tok.ExpiresIn > 0 {
		t.ExpiresAt = d.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scopes = splitScopes(s)
	}
	return t, nil
}

// showProgress calls ui.Waiting each progressEvery until stop closes.
func showProgress(ui UI, stop <-chan struct{}) {
	start := time.Now()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	ui.Waiting(0)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			ui.Waiting(time.Since(start))
		}
	}
}

// fail turns an oauth2 or transport error (expiry: the device code's, or
// zero before there is one) into one that says what happened
// and what to do, without the server's raw body (which oauth2 would print).
func (d *deviceFlow) fail(ctx context.Context, doing string, expiry time.Time, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("login to %s stopped: %w", d.host, ctx.Err())
	}
	again := fmt.Sprintf("run `nix-auth login %s` again", d.host)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case "access_denied":
			return &Error{Host: d.host, Msg: "the authorization was denied in the browser; nothing was saved", Err: ErrDenied,
				Advice: []string{again + " and approve the request"}}
		case "expired_token":
			return d.expired(again)
		case "device_flow_disabled":
			return &Error{Host: d.host, Msg: fmt.Sprintf("the OAuth app %s has the device flow disabled", d.clientID),
				Advice: []string{"enable \"Device Flow\" in the OAuth app's settings, or use another --client-id"}}
		case "incorrect_client_credentials", "invalid_client", "unauthorized_client":
			return &Error{Host: d.host, Msg: fmt.Sprintf("%s does not accept the OAuth client ID %s for the device flow", d.host, d.clientID),
				Advice: []string{"check --client-id: it must be the ID of an OAuth app on " + d.host + " that allows the device flow"}}
		case "":
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			e := &Error{Host: d.host, Msg: fmt.Sprintf("%s answered %d %s while %s", d.host, status, http.StatusText(status), doing)}
			switch {
			case status == http.StatusNotFound:
				e.Advice = []string{"check the host: it has no OAuth device flow endpoint (GitLab needs 17.2 or later)"}
			case status >= 500:
				e.Advice = []string{"the forge is having trouble: try again later"}
			default:
				e.Advice = []string{"check that the host runs the forge you named"}
			}
			return e
		default:
			msg := fmt.Sprintf("%s refused the device flow (%s)", d.host, re.ErrorCode)
			if re.ErrorDescription != "" {
				msg += ": " + re.ErrorDescription
			}
			return &Error{Host: d.host, Msg: msg, Advice: []string{again}}
		}
	}
	// Only the code's own deadline means expiry: one request timing out
	// (also a DeadlineExceeded) is a network problem.
	if !expiry.IsZero() && !time.Now().Before(expiry) && errors.Is(err, context.DeadlineExceeded) {
		return d.expired(again)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return netError(d.host, err)
	}
	// oauth2's other errors are about malformed answers; their text may
	// quote the answer, so it is left out.
	return &Error{Host: d.host, Msg: fmt.Sprintf("%s sent an answer that is not the OAuth JSON expected while %s", d.host, doing),
		Advice: []string{"check that the host runs the forge you named", "a login portal or proxy in front of the forge can cause this"}}
}

func (d *deviceFlow) expired(again string) error {
	return &Error{Host: d.host, Msg: "the one-time code expired before it was approved; nothing was saved", Err: ErrExpired,
		Advice: []string{again + " and enter the code before it expires"}}
}

// acceptJSON asks the token endpoints for JSON: GitHub answers
// form-encoded otherwise (oauth2 copes, but JSON is what both forges
// document and what carries typed fields such as expires_in).
type acceptJSON struct{ base http.RoundTripper }

// RoundTrip adds the Accept header when the request has none.
func (t *acceptJSON) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if r.Header.Get("Accept") != "" {
		return base.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Accept", "application/json")
	return base.RoundTrip(r2)
}
