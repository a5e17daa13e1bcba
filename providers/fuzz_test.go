package providers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The fuzz targets feed what a forge could send to every parser of forge
// answers: nothing may panic, and what passes the checks is within their
// bounds. Seed corpora are in testdata/fuzz; .ci/run runs each target.

// FuzzDeviceCode: the device authorization answer.
func FuzzDeviceCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		c, err := parseDeviceCode("github.com", status, contentType, body)
		if err != nil {
			return
		}
		if c.interval < minPollInterval || c.interval > maxPollInterval || c.lifetime <= 0 || c.lifetime > maxDeviceLifetime {
			t.Fatalf("interval %v, lifetime %v out of bounds", c.interval, c.lifetime)
		}
		u, err := url.Parse(c.verificationURI)
		if err != nil || u.Scheme != "https" || u.Host != "github.com" && u.Host != "github.com:443" || u.User != nil {
			t.Fatalf("verification URI %q passed", c.verificationURI)
		}
		if !printable(c.userCode) || len([]rune(c.userCode)) > maxUserCode {
			t.Fatalf("user code %q passed", c.userCode)
		}
	})
}

// FuzzForgeURL: a URL passes only as an https page of the host.
func FuzzForgeURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := forgeURL(raw, "github.com")
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "https" || !sameHost(u.Host, "github.com") || u.User != nil {
			t.Fatalf("%q passed as %q", raw, got)
		}
		for _, r := range got {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("%q passed with %U in it", raw, r)
			}
		}
	})
}

// FuzzSeconds: numbers of seconds, as JSON and as strings.
func FuzzSeconds(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := forgeSeconds(seconds([]byte(s)))
		if ok && (d > maxTokenLifetime || d < -maxTokenLifetime) {
			t.Fatalf("%q gave %v", s, d)
		}
	})
}

// answer is one scripted response of fuzzTransport.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// fuzzTransport answers every request with the same fuzzed response.
type fuzzTransport struct{ a answer }

func (ft fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: ft.a.status, Header: ft.a.header.Clone(), Body: io.NopCloser(bytes.NewReader(ft.a.body)),
		Request: r, ContentLength: int64(len(ft.a.body))}, nil
}

// FuzzValidate: every provider's Validate and Detect, and GitLab's
// Refresh (oauth2's token parsing with ours after it), on one fuzzed
// answer with the headers the forges send.
func FuzzValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, scopes, expiry, remaining, reset string) {
		if status < 100 || status > 999 {
			status = 200 // net/http would refuse to read it
		}
		hdr := http.Header{"Content-Type": {contentType}}
		for k, v := range map[string]string{"X-OAuth-Scopes": scopes, "GitHub-Authentication-Token-Expiration": expiry,
			"X-RateLimit-Remaining": remaining, "RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset} {
			if v != "" {
				hdr.Set(k, v)
			}
		}
		c := &http.Client{Transport: fuzzTransport{answer{status, hdr, body}}}
		ctx := context.Background()
		now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
		for _, kind := range []Kind{GitHub, GitLab, Gitea, Forgejo, SourceHut} {
			p, err := New(kind, "forge.example.com", Options{HTTPClient: c, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			tok := "tok-1234567890"
			if kind == GitLab {
				tok = "PAT:" + tok
			}
			st, err := p.Validate(ctx, tok)
			if err == nil && st.RateLimitRemaining < -1 {
				t.Fatalf("%s: rate limit %d", kind, st.RateLimitRemaining)
			}
			if err == nil && !st.ExpiresAt.IsZero() {
				if _, jerr := st.ExpiresAt.MarshalJSON(); jerr != nil {
					t.Fatalf("%s: expiry %v cannot be reported: %v", kind, st.ExpiresAt, jerr)
				}
			}
			if r, ok := p.(Refresher); ok {
				if tk, err := r.Refresh(ctx, "refresh-token"); err == nil && !tk.ExpiresAt.IsZero() {
					if _, jerr := tk.ExpiresAt.MarshalJSON(); jerr != nil {
						t.Fatalf("refresh expiry %v: %v", tk.ExpiresAt, jerr)
					}
				}
			}
		}
		Detect(ctx, "forge.example.com", c)
	})
}

// FuzzResolve: host arguments, token-shaped or not.
func FuzzResolve(f *testing.F) {
	f.Fuzz(func(t *testing.T, target, provider string) {
		_, host, _, err := Resolve(target, Kind(provider))
		if err == nil && LooksLikeToken(target) {
			t.Fatalf("token-shaped %q resolved to %q", target, host)
		}
	})
}
