package providers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrNotCache is a host that answered, but not as a binary cache.
var ErrNotCache = errors.New("not a binary cache")

// cache is a binary cache (the Cache row of the table): Attic, Cachix,
// Harmonia, nix-serve, or any HTTP cache behind Basic auth, or behind a
// bearer token it also takes as a Basic password. Nix sends such a cache
// only what netrc gives curl, a Basic credential, so that is what Validate
// sends too, with the login of Options.Login. Its host is host[:port]
// [/path], as a substituter URL names the cache without https://.
type cache struct{ base }

// Login reads the cache's token: caches make them in their own ways
// (atticadm, Cachix's settings, a web server's password file), so there is
// no page to send the user to.
func (c *cache) Login(_ context.Context, ui UI) (*Token, error) {
	raw, err := ui.ReadSecret(fmt.Sprintf("Token for the cache %s (input is hidden): ", c.host))
	if err != nil {
		return nil, err
	}
	return ParseToken(Cache, raw)
}

// Validate asks the cache for its nix-cache-info with the Basic
// credential login:password, as Nix would send it from netrc. The cache
// accepts the credential when it answers with its nix-cache-info
// (Status.Valid), and refuses it with 401 or 403 (Valid false, and Problem
// says so); any other answer is an error, ErrNotCache when it comes from
// something that is not a cache. The client's redirect rule (no other
// host, never to http) keeps the credential on the cache.
func (c *cache) Validate(ctx context.Context, password string) (*Status, error) {
	login := c.login
	if login == "" {
		login = DefaultNetrcLogin
	}
	st := &Status{RateLimitRemaining: -1, User: boundName(login)}
	if st.Problem = tokenProblem(password); st.Problem != "" {
		return st, nil
	}
	url := c.origin() + "/nix-cache-info"
	if _, path, _ := strings.Cut(c.host, "/"); strings.Trim(path, "/") != "" {
		url = c.origin() + "/" + strings.Trim(path, "/") + "/nix-cache-info"
	}
	hdr := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))}}
	r, err := call(ctx, c.client, http.MethodGet, url, hdr, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case r.status == http.StatusOK && isCacheInfo(r.body):
		st.Valid = true
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		st.Problem = fmt.Sprintf("the cache refuses it (%d %s)", r.status, http.StatusText(r.status))
		if r.status == http.StatusUnauthorized && !asksBasic(r.header) {
			st.Problem += "; it does not ask for Basic authentication, the only kind Nix sends from netrc"
		}
	case r.status >= 500:
		return nil, &Error{Host: c.apiHost, Kind: Cache, Msg: fmt.Sprintf("%s answered %d %s to GET %s", c.apiHost, r.status, http.StatusText(r.status), r.url.Path),
			Advice: []string{"the cache is having trouble: try again later"}}
	default:
		what := fmt.Sprintf("%d %s", r.status, http.StatusText(r.status))
		if r.status == http.StatusOK {
			what = "200 OK with something that is not a nix-cache-info file"
		}
		return nil, &Error{Host: c.apiHost, Kind: Cache, Msg: fmt.Sprintf("%s answered %s to GET %s: no binary cache there", c.apiHost, what, r.url.Path),
			Advice: []string{"a login portal or proxy in front of the cache can cause this"},
			class:  ErrNotCache}
	}
	return st, nil
}

// isCacheInfo reports whether body is a nix-cache-info file: "Key: value"
// lines, StoreDir among them.
func isCacheInfo(body []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(body))
	store := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, _, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(k, " \t<") {
			return false
		}
		store = store || k == "StoreDir"
	}
	return store && sc.Err() == nil
}

// asksBasic reports whether a 401's challenges include Basic.
func asksBasic(h http.Header) bool {
	for _, v := range h.Values("WWW-Authenticate") {
		if strings.Contains(strings.ToLower(v), "basic") {
			return true
		}
	}
	return false
}
