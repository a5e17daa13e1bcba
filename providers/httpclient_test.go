package providers_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

func TestNewHTTPClientTimeouts(t *testing.T) {
	c := providers.NewHTTPClient()
	if c.Timeout <= 0 {
		t.Error("no overall timeout")
	}
	if c.CheckRedirect == nil {
		t.Fatal("no redirect policy")
	}
}

func TestNewHTTPClientRedirectPolicy(t *testing.T) {
	c := providers.NewHTTPClient()
	req := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	via := []*http.Request{req("https://gitlab.example.com/api/v4/user")}
	if err := c.CheckRedirect(req("https://gitlab.example.com/api/v4/user/"), via); err != nil {
		t.Errorf("same-host redirect refused: %v", err)
	}
	var re *providers.RedirectError
	if err := c.CheckRedirect(req("https://evil.example.net/steal"), via); !errors.As(err, &re) || re.From != "gitlab.example.com" || re.To != "evil.example.net" {
		t.Errorf("cross-host redirect: %v", err)
	}
	if err := c.CheckRedirect(req("http://gitlab.example.com/api/v4/user"), via); !errors.As(err, &re) {
		t.Errorf("https -> http redirect allowed: %v", err)
	}
	many := []*http.Request{via[0], via[0], via[0], via[0], via[0]}
	if err := c.CheckRedirect(req("https://gitlab.example.com/x"), many); err == nil {
		t.Error("endless redirects allowed")
	}
}

// TestNewHTTPClientAgainstFake runs NewHTTPClient's own settings (only the
// dialling swapped for the fake's) through a redirect: the PRIVATE-TOKEN
// header, which Go does not strip on redirects, must not reach the other
// host.
func TestNewHTTPClientAgainstFake(t *testing.T) {
	fake := forgetest.New(t)
	c := providers.NewHTTPClient()
	c.Transport = fake.Client().Transport
	fake.AddToken(forgetest.Token{Value: "glpat-redirected", User: "tanuki"})
	fake.Fail("gitlab.com", "/api/v4/user", forgetest.FailRedirect)
	p, err := providers.New(providers.GitLab, "gitlab.com", providers.Options{HTTPClient: c, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Validate(context.Background(), "PAT:glpat-redirected")
	var re *providers.RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("Validate error = %v, want a RedirectError", err)
	}
	if re.To != forgetest.RedirectHost || len(hints(err)) == 0 {
		t.Errorf("redirect to %q, hints %q", re.To, hints(err))
	}
	noSecret(t, err, "glpat-redirected")
	if n := len(requestsTo(fake, forgetest.RedirectHost)); n != 0 {
		t.Errorf("%d requests reached %s", n, forgetest.RedirectHost)
	}
}

// TestInjectedClientIsGuarded: an injected client without a redirect rule
// still does not follow a cross-host redirect, and the caller's client is
// left as it was.
func TestInjectedClientIsGuarded(t *testing.T) {
	fake := forgetest.New(t)
	c := fake.Client()
	tr, timeout := c.Transport, c.Timeout
	fake.AddForge("git.example.com", forgetest.Gitea)
	fake.AddToken(forgetest.Token{Value: "gitea-redirected", User: "u"})
	fake.Fail("git.example.com", "/api/v1/user", forgetest.FailRedirect)
	p, err := providers.New(providers.Gitea, "git.example.com", providers.Options{HTTPClient: c, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	var re *providers.RedirectError
	if _, err := p.Validate(context.Background(), "gitea-redirected"); !errors.As(err, &re) {
		t.Fatalf("Validate error = %v, want a RedirectError", err)
	}
	if n := len(requestsTo(fake, forgetest.RedirectHost)); n != 0 {
		t.Errorf("%d requests reached %s", n, forgetest.RedirectHost)
	}
	if c.Transport != tr || c.Timeout != timeout || c.CheckRedirect != nil {
		t.Error("the caller's client was modified")
	}
}
