package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Timeouts of NewHTTPClient. A forge that stops answering must not hang a
// login or a status run forever; the overall bound is generous because
// device-flow polls and slow self-hosted instances are normal.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
	requestTimeout        = 60 * time.Second
	maxRedirects          = 5
	// maxBody bounds what is read of an answer: API answers used here are
	// a few KiB; a misbehaving server must not fill memory.
	maxBody   = 1 << 20
	userAgent = "nix-auth (+https://github.com/nix-auth/nix-auth)"
)

// NewHTTPClient returns the client for talking to forges: dial, TLS,
// response-header and overall timeouts, a User-Agent (GitHub refuses
// requests without one), proxies from the environment, and no redirect to
// another host, so that a token header never follows one.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.ResponseHeaderTimeout = responseHeaderTimeout
	return &http.Client{
		Transport:     &uaTransport{base: t},
		Timeout:       requestTimeout,
		CheckRedirect: checkRedirect,
	}
}

// safeClient copies c (nil: NewHTTPClient) with nix-auth's redirect rule in
// front of c's own, a User-Agent, and a timeout if c has none. Go strips
// Authorization on a cross-domain redirect but not custom headers such as
// GitLab's PRIVATE-TOKEN, so the rule is enforced here whatever the caller
// injected.
func safeClient(c *http.Client) *http.Client {
	if c == nil {
		return NewHTTPClient()
	}
	cp := *c
	prev := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via); err != nil {
			return err
		}
		if prev != nil {
			return prev(req, via)
		}
		return nil
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = &uaTransport{base: base}
	if cp.Timeout == 0 {
		cp.Timeout = requestTimeout
	}
	return &cp
}

// checkRedirect allows a redirect only to the same host and never from
// https to http.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", len(via))
	}
	from := via[0].URL
	if !strings.EqualFold(req.URL.Host, from.Host) || (from.Scheme == "https" && req.URL.Scheme != "https") {
		return &RedirectError{From: from.Host, To: req.URL.Host}
	}
	return nil
}

// RedirectError is a redirect to another host that nix-auth refused to
// follow, because the request carried a token.
type RedirectError struct {
	From, To string
}

// Error says which redirect was refused and why.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s redirected to %s; refused to follow, so the token is not sent there", e.From, e.To)
}

// Hints says what to do about a redirect; the commands add how to use
// the host it points to.
func (e *RedirectError) Hints() []string {
	return []string{"a single sign-on proxy in front of the API can cause this: ask its admins for direct API access"}
}

// uaTransport sets the User-Agent on requests that have none.
type uaTransport struct{ base http.RoundTripper }

// RoundTrip sends r with nix-auth's User-Agent.
func (t *uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("User-Agent") != "" {
		return t.base.RoundTrip(r)
	}
	// A RoundTripper must not change the caller's request.
	r2 := r.Clone(r.Context())
	r2.Header.Set("User-Agent", userAgent)
	return t.base.RoundTrip(r2)
}

// Error is trouble talking to a forge: a network failure, an answer that
// is not the API's, a refusal. Its text never contains a token.
type Error struct {
	// Host is the host that failed; empty when not about a host.
	Host string
	// Kind is the forge the error is about, when known.
	Kind Kind
	// Msg says what went wrong.
	Msg string
	// Advice is what the user can do about the forge or the host; the
	// commands add what to run (errors.Is on the Err* kinds).
	Advice []string
	// Err is the underlying error, if any.
	Err error
	// class is a sentinel the error also matches with errors.Is (such as
	// ErrNotForge) without its text joining the message.
	class error
}

// Kinds of Error that the commands act on or add advice to, for errors.Is.
var (
	// ErrNotAPI is an answer that is not the forge's API (a web page, a
	// 4xx without the API's JSON): the host may run another forge.
	ErrNotAPI = errors.New("the answer is not the forge's API")
	// ErrClientID is the forge refusing the OAuth client ID of a device
	// flow: unknown, or with the device flow disabled.
	ErrClientID = errors.New("the OAuth client ID was refused")
	// ErrRefreshClient is a refresh without the OAuth client ID the token
	// was issued to, or with another one.
	ErrRefreshClient = errors.New("the OAuth client ID for the refresh is missing or refused")
	// ErrSelfHosted is a software's name given where a host goes: it runs
	// on many hosts, and only a host can be logged in to.
	ErrSelfHosted = errors.New("the forge software is self-hosted")
)

// ClientIDError is a device flow on a host that has no default OAuth
// application: one must be made there, or a personal token used instead.
type ClientIDError struct {
	// Host is the host as access-tokens names it; Forge its software's
	// title.
	Host, Forge string
	// AppPage is where the OAuth application is made, and App what to make.
	AppPage, App string
	// TokenPage is where a personal token is made instead.
	TokenPage string
}

// Error says what is missing.
func (e *ClientIDError) Error() string {
	return fmt.Sprintf("%s at %s has no default OAuth application for the device flow: it needs the client ID of one made there", e.Forge, hostPart(e.Host))
}

// Error is the message, followed by the underlying error if any.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class.
func (e *Error) Is(target error) bool { return e.class != nil && target == e.class }

// Hints is the advice printed under the error.
func (e *Error) Hints() []string { return e.Advice }

// response is one answer, its body read (bounded) and closed.
type response struct {
	method string
	url    *url.URL
	status int
	header http.Header
	body   []byte
}

// call sends one request. Errors are *Error naming the host and what to do.
func call(ctx context.Context, c *http.Client, method, rawURL string, hdr http.Header, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, netError(req.URL.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, netError(req.URL.Host, err)
	}
	return &response{method: method, url: req.URL, status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// netError explains a failed request. url.Error's text holds only the URL,
// which never carries a token here.
func netError(host string, err error) error {
	var re *RedirectError
	if errors.As(err, &re) {
		return &Error{Host: host, Msg: "refused a redirect", Err: re, Advice: re.Hints()}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	e := &Error{Host: host, Msg: "cannot reach " + host, Err: inner}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		e.Msg = host + " did not answer in time"
		e.Advice = []string{"the forge may be slow or down: try again later", "behind a proxy, set HTTPS_PROXY"}
	default:
		e.Advice = []string{
			fmt.Sprintf("check the network and that https://%s is the right host", host),
			"behind a proxy, set HTTPS_PROXY",
		}
	}
	return e
}

// unexpected explains an answer that is not what the API gives: a server
// error, or an HTML page from a portal or proxy.
func (r *response) unexpected(kind Kind) error {
	host := r.url.Host
	e := &Error{Host: host, Kind: kind, Msg: fmt.Sprintf("%s answered %d %s to %s %s", host, r.status, http.StatusText(r.status), r.method, r.url.Path)}
	switch {
	case r.status >= 500:
		e.Advice = []string{"the forge is having trouble: try again later"}
	case !r.isJSON():
		e.Msg += " with a web page instead of the API's JSON"
		e.Advice = []string{
			fmt.Sprintf("check that %s runs %s", host, kind),
			"a login portal or proxy in front of the forge can cause this",
		}
		e.class = ErrNotAPI
	default:
		e.Advice = []string{fmt.Sprintf("check that %s runs %s", host, kind)}
		e.class = ErrNotAPI
	}
	return e
}

// isJSON reports whether the answer is JSON by its Content-Type.
func (r *response) isJSON() bool {
	ct, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// decode parses a JSON answer into v; a non-JSON answer is unexpected.
func (r *response) decode(kind Kind, v any) error {
	if !r.isJSON() {
		return r.unexpected(kind)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return &Error{Host: r.url.Host, Kind: kind, Msg: fmt.Sprintf("%s sent malformed JSON for %s", r.url.Host, r.url.Path), Err: err,
			Advice: []string{fmt.Sprintf("check that %s runs %s", r.url.Host, kind)}, class: ErrNotAPI}
	}
	return nil
}

// message pulls a human-readable reason out of a JSON error answer
// (GitHub/Gitea "message", OAuth "error_description"); empty if none.
func (r *response) message() string {
	var m struct {
		Message     any    `json:"message"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(r.body, &m) != nil {
		return ""
	}
	switch {
	case m.Description != "":
		return m.Description
	case m.Error != "":
		return m.Error
	}
	if s, ok := m.Message.(string); ok {
		return s
	}
	return ""
}

// headerInt reads a count or epoch time from a header, -1 when absent,
// malformed, negative or beyond int's range.
func headerInt(h http.Header, name string) int {
	v := h.Get(name)
	if v == "" {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// splitScopes splits a scope list given with commas (GitHub) or spaces
// (OAuth), dropping empties, within boundScopes.
func splitScopes(s string) []string {
	return boundScopes(strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }))
}

// Bounds on the names a forge sends. Real forges have a few dozen short
// scopes and logins of at most 255 characters (GitLab; GitHub: 39); what
// goes beyond is kept out rather than carried into status output and the
// encrypted stores a login writes the metadata to.
const (
	maxScopes = 100
	maxName   = 256
)

// boundScopes keeps the first maxScopes scopes that are at most maxName
// bytes long.
func boundScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if len(out) == maxScopes {
			break
		}
		if len(s) <= maxName {
			out = append(out, s)
		}
	}
	if out == nil && scopes != nil {
		out = []string{}
	}
	return out
}

// boundName is a login name, or "" (unknown) when it is longer than any
// forge allows.
func boundName(s string) string {
	if len(s) > maxName {
		return ""
	}
	return s
}
