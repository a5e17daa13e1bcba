package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

func TestCacheValidate(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t)
	fake.AddCache("cache.example.com", forgetest.CacheCredential{Password: "attic-token"})
	fake.AddCache("serve.example.com", forgetest.CacheCredential{User: "alice", Password: "pw1"})
	ctx := context.Background()
	// validate checks password as the cache's provider does, sent with login.
	validate := func(cache, login, password string) (*providers.Status, error) {
		t.Helper()
		p, err := providers.New(providers.Cache, cache, providers.Options{HTTPClient: fake.Client(), Login: login, Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		return p.Validate(ctx, password)
	}

	// Without a login, the default one.
	st, err := validate("cache.example.com", "", "attic-token")
	if err != nil || !st.Valid || st.User != "x-access-token" {
		t.Fatalf("good token: %+v %v", st, err)
	}
	r := fake.Requests()[0]
	if r.Host != "cache.example.com" || r.Path != "/nix-cache-info" || r.Header.Get("Authorization") != "Basic eC1hY2Nlc3MtdG9rZW46YXR0aWMtdG9rZW4=" {
		t.Fatalf("request %s%s %q", r.Host, r.Path, r.Header.Get("Authorization"))
	}
	st, err = validate("cache.example.com/mycache", "x", "attic-token")
	if err != nil || !st.Valid || fake.Requests()[1].Path != "/mycache/nix-cache-info" {
		t.Fatalf("cache under a path: %+v %v", st, err)
	}
	st, err = validate("serve.example.com", "alice", "pw1")
	if err != nil || !st.Valid {
		t.Fatalf("user and password: %+v %v", st, err)
	}
	for _, bad := range [][2]string{{"x", "wrong"}, {"bob", "pw1"}} {
		host := "cache.example.com"
		if bad[0] == "bob" {
			host = "serve.example.com"
		}
		st, err = validate(host, bad[0], bad[1])
		if err != nil || st.Valid || !strings.Contains(st.Problem, "401 Unauthorized") {
			t.Fatalf("%v at %s: %+v %v", bad, host, st, err)
		}
	}

	fake.Respond("forbidden.example.com", "/nix-cache-info", forgetest.Answer{Status: 403, Body: "no"})
	st, err = validate("forbidden.example.com", "x", "tok")
	if err != nil || st.Valid || !strings.Contains(st.Problem, "403 Forbidden") {
		t.Fatalf("403: %+v %v", st, err)
	}
	fake.Respond("bearer.example.com", "/nix-cache-info", forgetest.Answer{Status: 401, Header: map[string]string{"WWW-Authenticate": "Bearer"}})
	st, err = validate("bearer.example.com", "x", "tok")
	if err != nil || st.Valid || !strings.Contains(st.Problem, "does not ask for Basic") {
		t.Fatalf("bearer-only 401: %+v %v", st, err)
	}
	fake.Respond("portal.example.com", "/nix-cache-info", forgetest.Answer{Body: "<html>Sign in</html>"})
	if _, err = validate("portal.example.com", "x", "tok"); !errors.Is(err, providers.ErrNotCache) {
		t.Fatalf("HTML page: %v", err)
	}
	// A forge is no cache: 404.
	if _, err = validate("codeberg.org", "x", "tok"); !errors.Is(err, providers.ErrNotCache) {
		t.Fatalf("a forge: %v", err)
	}
	fake.Fail("down.example.com", "/nix-cache-info", forgetest.Fail500)
	if _, err = validate("down.example.com", "x", "tok"); err == nil || errors.Is(err, providers.ErrNotCache) {
		t.Fatalf("500: %v", err)
	}
	// The credential never follows a redirect to another host.
	fake.AddCache("moved.example.com", forgetest.CacheCredential{Password: "tok"})
	fake.Fail("moved.example.com", "/nix-cache-info", forgetest.FailRedirect)
	if _, err = validate("moved.example.com", "x", "tok"); err == nil {
		t.Fatal("a redirect to another host was followed")
	}
	for _, r := range fake.Requests() {
		if r.Host == forgetest.RedirectHost {
			t.Fatal("the credential went to the redirect's host")
		}
	}
	// A token nixconf refuses is never sent.
	n := len(fake.Requests())
	st, err = validate("cache.example.com", "x", "two words")
	if err != nil || st.Valid || st.Problem == "" || len(fake.Requests()) != n {
		t.Fatalf("bad token: %+v %v", st, err)
	}
}

// TestCacheLogin: a cache has no token page; its token is read at a
// hidden prompt, and a forge's type prefix is refused.
func TestCacheLogin(t *testing.T) {
	t.Parallel()
	p, err := providers.New(providers.Cache, "cache.example.com/main", providers.Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ui := &fakeUI{secret: "  attic-token\n"}
	tok, err := p.Login(context.Background(), ui)
	if err != nil || tok.Value != "attic-token" || p.NixToken(tok) != "attic-token" {
		t.Fatalf("Login: %+v %v", tok, err)
	}
	if len(ui.pages) != 0 || len(ui.prompts) != 1 || !strings.Contains(ui.prompts[0], "cache.example.com/main") {
		t.Fatalf("pages %q, prompts %q", ui.pages, ui.prompts)
	}
	if _, err := providers.NormalizeToken(providers.Cache, "PAT:glpat-x"); err == nil {
		t.Fatal("a GitLab type prefix was taken for a cache")
	}
}
