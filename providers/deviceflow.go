package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// Sentinel errors of the device flow, for callers that act on them.
var (
	// ErrDenied is the user declining the authorization in the browser.
	ErrDenied = errors.New("authorization denied")
	// ErrExpired is the device code expiring before it was approved.
	ErrExpired = errors.New("device code expired")
	// ErrRefused is the forge refusing the device flow for another reason
	// it names (an OAuth error code).
	ErrRefused = errors.New("device flow refused")
)

// Bounds on the numbers a forge sends about a device code (RFC 8628
// section 3.2). Whatever it says, a login polls at most once a second and
// at least once a minute, and gives up within an hour (GitHub sends 5 s and
// 900 s). A value that is missing, not a number, zero, negative or beyond a
// century is replaced by the RFC's default interval or
// defaultDeviceLifetime, and the others are clamped to the bounds, so that
// what a forge sends can neither stop a login nor make it poll forever nor
// overflow a time.Duration.
const (
	defaultPollInterval   = 5 * time.Second
	minPollInterval       = time.Second
	maxPollInterval       = time.Minute
	defaultDeviceLifetime = 15 * time.Minute
	maxDeviceLifetime     = time.Hour
	// maxUserCode bounds the code the user types: RFC 8628 section 6.1
	// asks for short ones (GitHub's is 9 characters).
	maxUserCode = 64
	// maxDeviceCode bounds the opaque code sent back on every poll.
	maxDeviceCode = 1024
)

// progressEvery is how often the UI hears that polling goes on.
const progressEvery = time.Second

// deviceFlow is one RFC 8628 device authorization: the code is asked for
// and checked here, the polling is golang.org/x/oauth2's.
type deviceFlow struct {
	host     string
	client   *http.Client
	clientID string
	authURL  string
	tokenURL string
	scopes   []string
	now      func() time.Time
}

// deviceCode is a device authorization answer whose every field was
// checked: the URL is an https page of the forge, the numbers are in
// bounds, the codes are short and printable.
type deviceCode struct {
	deviceCode, userCode string
	verificationURI      string
	interval, lifetime   time.Duration
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

	code, err := d.requestCode(ctx)
	if err != nil {
		return nil, d.fail(ctx, "asking for a device code", false, err)
	}
	ui.ShowDeviceCode(code.userCode, code.verificationURI, d.now().Add(code.lifetime))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		showProgress(ui, stop)
	}()
	// The code's lifetime is a timeout, not a time of day: the injected
	// clock says what to show, the monotonic one when to stop. oauth2 gets
	// no Expiry, so this is the only deadline and its expiry is told apart
	// from the caller's cancellation.
	pctx, cancel := context.WithTimeout(octx, code.lifetime)
	tok, err := cfg.DeviceAccessToken(pctx, &oauth2.DeviceAuthResponse{
		DeviceCode: code.deviceCode,
		// oauth2 adds 5 s for each slow_down; from at most a minute, the
		// code's lifetime ends that long before a Duration could overflow.
		Interval: int64(code.interval / time.Second),
	})
	expired := errors.Is(pctx.Err(), context.DeadlineExceeded)
	cancel()
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, d.fail(ctx, "waiting for the authorization", expired, err)
	}
	t := &Token{Value: tok.AccessToken, Type: OAuth, RefreshToken: tok.RefreshToken}
	if life, ok := forgeSeconds(tok.ExpiresIn); ok && life > 0 {
		t.ExpiresAt = d.now().Add(life)
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scopes = splitScopes(s)
	}
	return t, nil
}

// requestCode asks for a device code (RFC 8628 section 3.1) and checks the
// answer. oauth2's DeviceAuth is not used: it turns expires_in into a time
// with an unchecked multiplication and hands back the interval unchecked,
// and a negative interval makes its poll loop panic.
func (d *deviceFlow) requestCode(ctx context.Context) (*deviceCode, error) {
	form := url.Values{"client_id": {d.clientID}}
	if len(d.scopes) > 0 {
		form.Set("scope", strings.Join(d.scopes, " "))
	}
	hdr := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	r, err := call(ctx, d.client, http.MethodPost, d.authURL, hdr, []byte(form.Encode()))
	if err != nil {
		return nil, err
	}
	return parseDeviceCode(d.host, r.status, r.header.Get("Content-Type"), r.body)
}

// deviceAnswer is the device authorization answer as sent, numbers still
// unread.
type deviceAnswer struct {
	DeviceCode              string          `json:"device_code"`
	UserCode                string          `json:"user_code"`
	VerificationURI         string          `json:"verification_uri"`
	VerificationURL         string          `json:"verification_url"` // Google's spelling
	VerificationURIComplete string          `json:"verification_uri_complete"`
	ExpiresIn               json.RawMessage `json:"expires_in"`
	Interval                json.RawMessage `json:"interval"`
	Error                   string          `json:"error"`
	ErrorDescription        string          `json:"error_description"`
}

// parseDeviceCode reads a device authorization answer from host. An OAuth
// error (in any status: GitHub answers errors with 200) comes back as an
// *oauth2.RetrieveError, as the poll's do, so that fail explains both
// alike; an answer that is not the API's is an *Error.
func parseDeviceCode(host string, status int, contentType string, body []byte) (*deviceCode, error) {
	var a deviceAnswer
	ct, _, _ := mime.ParseMediaType(contentType)
	switch ct {
	case "application/x-www-form-urlencoded", "text/plain":
		// GitHub's answer when JSON was not asked for.
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, notOAuth(host, status)
		}
		a = deviceAnswer{DeviceCode: v.Get("device_code"), UserCode: v.Get("user_code"),
			VerificationURI: v.Get("verification_uri"), VerificationURIComplete: v.Get("verification_uri_complete"),
			Error: v.Get("error"), ErrorDescription: v.Get("error_description")}
		if s := v.Get("expires_in"); s != "" {
			a.ExpiresIn = json.RawMessage(strconv.Quote(s))
		}
		if s := v.Get("interval"); s != "" {
			a.Interval = json.RawMessage(strconv.Quote(s))
		}
	default:
		if json.Unmarshal(body, &a) != nil {
			return nil, notOAuth(host, status)
		}
	}
	if a.Error != "" || status < 200 || status > 299 {
		return nil, &oauth2.RetrieveError{Response: &http.Response{StatusCode: status},
			ErrorCode: a.Error, ErrorDescription: a.ErrorDescription}
	}
	if a.VerificationURI == "" {
		a.VerificationURI = a.VerificationURL
	}
	if a.DeviceCode == "" || a.UserCode == "" || a.VerificationURI == "" {
		return nil, &Error{Host: host, Msg: host + " answered the device-code request without a code or URL",
			Advice: []string{"check that the host runs the forge you named and supports the OAuth device flow"}}
	}
	if len(a.DeviceCode) > maxDeviceCode || !printable(a.DeviceCode) {
		return nil, &Error{Host: host, Msg: host + " sent a device code that is too long or not printable",
			Advice: []string{"check that the host runs the forge you named"}}
	}
	if utf8.RuneCountInString(a.UserCode) > maxUserCode || !printable(a.UserCode) {
		return nil, &Error{Host: host, Msg: fmt.Sprintf("%s sent a one-time code that is longer than %d characters or not printable; nothing was opened", host, maxUserCode),
			Advice: []string{"check that the host runs the forge you named"}}
	}
	uri, err := forgeURL(a.VerificationURI, host)
	if err != nil {
		return nil, err
	}
	if a.VerificationURIComplete != "" {
		if _, err := forgeURL(a.VerificationURIComplete, host); err != nil {
			return nil, err
		}
	}
	c := &deviceCode{deviceCode: a.DeviceCode, userCode: a.UserCode, verificationURI: uri,
		interval: defaultPollInterval, lifetime: defaultDeviceLifetime}
	if iv, ok := forgeSeconds(seconds(a.Interval)); ok && iv > 0 {
		c.interval = min(max(iv, minPollInterval), maxPollInterval)
	}
	if life, ok := forgeSeconds(seconds(a.ExpiresIn)); ok && life > 0 {
		c.lifetime = min(life, maxDeviceLifetime)
	}
	return c, nil
}

// notOAuth is an answer to the device-code request that is not OAuth's
// JSON: its text may quote the answer, so it is left out.
func notOAuth(host string, status int) error {
	return &Error{Host: host, Msg: fmt.Sprintf("%s answered the device-code request (%d) with something that is not the OAuth JSON expected", host, status),
		Advice: []string{"check that the host runs the forge you named", "a login portal or proxy in front of the forge can cause this"}}
}

// printable reports whether s has only printable characters (spaces
// included): no controls, no format characters, valid UTF-8.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// maxTokenLifetime bounds an expires_in a forge sends for a token: a
// century is far beyond any real token and far inside a time.Duration.
const maxTokenLifetime = 100 * 365 * 24 * time.Hour

// seconds reads a JSON number of seconds (or a string holding one: some
// servers quote it) as a whole number, -1 when absent or not a number:
// fractions are dropped; NaN, infinities and text are not numbers.
func seconds(raw json.RawMessage) int64 {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return -1
	}
	if u, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(u)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(s, 64)
	// The bounds are checked on the float: converting one beyond int64's
	// range gives an unspecified value.
	if err != nil || math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return -1
	}
	return int64(f)
}

// forgeSeconds turns a count of seconds a forge sent into a Duration; ok is
// false beyond a century either way, so that the multiplication cannot
// overflow into a plausible-looking value.
func forgeSeconds(secs int64) (time.Duration, bool) {
	limit := int64(maxTokenLifetime / time.Second)
	if secs > limit || secs < -limit {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// showProgress calls ui.Waiting each progressEvery until stop closes. The
// elapsed time is counted in ticks, not read from a clock.
func showProgress(ui UI, stop <-chan struct{}) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	ui.Waiting(0)
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
			ui.Waiting(time.Duration(n) * progressEvery)
		}
	}
}

// fail turns an oauth2, transport or answer error into one that says what
// happened and what to do, without the server's raw body (which oauth2
// would print). expired says the code's own lifetime ran out.
func (d *deviceFlow) fail(ctx context.Context, doing string, expired bool, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("login to %s stopped: %w", d.host, ctx.Err())
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case "access_denied":
			return &Error{Host: d.host, Msg: "the authorization was denied in the browser; nothing was saved", Err: ErrDenied}
		case "expired_token":
			return d.expired()
		case "device_flow_disabled":
			return &Error{Host: d.host, Msg: fmt.Sprintf("the OAuth app %s has the device flow disabled", d.clientID),
				Advice: []string{"enable \"Device Flow\" in the OAuth app's settings"}, class: ErrClientID}
		case "incorrect_client_credentials", "invalid_client", "unauthorized_client":
			return &Error{Host: d.host, Msg: fmt.Sprintf("%s does not accept the OAuth client ID %s for the device flow", d.host, d.clientID),
				class: ErrClientID}
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
			return &Error{Host: d.host, Msg: msg, class: ErrRefused}
		}
	}
	// Only the code's own deadline means expiry: one request timing out
	// (also a DeadlineExceeded) is a network problem.
	if expired && errors.Is(err, context.DeadlineExceeded) {
		return d.expired()
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err // already says what happened, from call or the checks
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

func (d *deviceFlow) expired() error {
	return &Error{Host: d.host, Msg: "the one-time code expired before it was approved; nothing was saved", Err: ErrExpired}
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
