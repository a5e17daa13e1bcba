package providers_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

// refresher returns gitlab.com's provider as a Refresher, with a fake
// forge holding an expired OAuth token whose refresh token is "refresh-R1".
func refresher(t *testing.T, o providers.Options) (providers.Provider, providers.Refresher, *forgetest.Server) {
	t.Helper()
	p, fake := newProvider(t, providers.GitLab, "gitlab.com", o)
	r, ok := p.(providers.Refresher)
	if !ok {
		t.Fatal("the GitLab provider is not a Refresher")
	}
	fake.AddToken(forgetest.Token{Value: "gloas-expired", User: "tanuki", OAuth: true, Scopes: []string{"read_api"},
		Expires: time.Now().Add(-time.Minute), RefreshToken: "refresh-R1", ClientID: providers.DefaultGitLabClientID})
	return p, r, fake
}

func TestGitLabRefresh(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, r, fake := refresher(t, providers.Options{Now: func() time.Time { return now }})
	tok, err := r.Refresh(context.Background(), "refresh-R1")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if tok.Type != providers.OAuth || tok.Value == "" || tok.Value == "gloas-expired" || !slices.Equal(tok.Scopes, []string{"read_api"}) {
		t.Errorf("token: type %s, value %s, scopes %v", tok.Type, mask(tok.Value), tok.Scopes)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == "refresh-R1" {
		t.Errorf("refresh token not rotated: %s", mask(tok.RefreshToken))
	}
	if want := now.Add(2 * time.Hour); !tok.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v (the injected clock + expires_in)", tok.ExpiresAt, want)
	}
	for _, req := range requestsTo(fake, "gitlab.com") {
		if req.Path == "/oauth/token" && (req.Form.Get("client_id") != providers.DefaultGitLabClientID || req.Form.Has("client_secret")) {
			t.Errorf("refresh sent client_id %q, client_secret present: %v", req.Form.Get("client_id"), req.Form.Has("client_secret"))
		}
	}
	nix := p.NixToken(tok)
	if !strings.HasPrefix(nix, "OAuth2:") {
		t.Errorf("NixToken = %s, want the OAuth2: prefix", mask(nix))
	}
	st, err := p.Validate(context.Background(), nix)
	if err != nil || !st.Valid || st.User != "tanuki" {
		t.Fatalf("Validate(refreshed) = %+v, %v", st, err)
	}
	// The rotated refresh token works in turn.
	if _, err := r.Refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Errorf("Refresh with the rotated token: %v", err)
	}
}

func TestGitLabRefreshRejected(t *testing.T) {
	t.Parallel()
	_, r, _ := refresher(t, providers.Options{})
	if _, err := r.Refresh(context.Background(), "refresh-R1"); err != nil {
		t.Fatalf("first Refresh: %v", err)
	}
	for _, rt := range []string{"refresh-R1", "refresh-unknown"} {
		_, err := r.Refresh(context.Background(), rt)
		if !errors.Is(err, providers.ErrRefreshRejected) {
			t.Fatalf("Refresh(%s) = %v, want ErrRefreshRejected", mask(rt), err)
		}
		noSecret(t, err, rt)
	}
}

// TestGitLabRefreshWrongClient: a token issued to another application
// cannot be refreshed with glab's ID (GitLab answers invalid_grant).
func TestGitLabRefreshWrongClient(t *testing.T) {
	t.Parallel()
	_, r, _ := refresher(t, providers.Options{ClientID: "someone-elses-app"})
	if _, err := r.Refresh(context.Background(), "refresh-R1"); !errors.Is(err, providers.ErrRefreshRejected) {
		t.Fatalf("Refresh = %v, want ErrRefreshRejected", err)
	}
}

func TestGitLabRefreshServerTrouble(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		failure forgetest.Failure
		want    string
	}{
		{"500", forgetest.Fail500, "500 Internal Server Error"},
		{"html", forgetest.FailHTML, "not the OAuth JSON"},
		{"redirect", forgetest.FailRedirect, forgetest.RedirectHost},
		{"drop", forgetest.FailDrop, "cannot reach gitlab.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, r, fake := refresher(t, providers.Options{})
			fake.Fail("gitlab.com", "/oauth/token", tc.failure)
			_, err := r.Refresh(context.Background(), "refresh-R1")
			if err == nil || errors.Is(err, providers.ErrRefreshRejected) {
				t.Fatalf("Refresh = %v, want a server error", err)
			}
			if !strings.Contains(err.Error(), tc.want) || len(hints(err)) == 0 {
				t.Errorf("error %q (hints %q) does not mention %q", err, hints(err), tc.want)
			}
			noSecret(t, err, "refresh-R1")
			if n := len(requestsTo(fake, forgetest.RedirectHost)); n != 0 {
				t.Errorf("followed the redirect: %d requests to %s", n, forgetest.RedirectHost)
			}
		})
	}
}

func TestGitLabRefreshSelfManagedNeedsClientID(t *testing.T) {
	t.Parallel()
	p, _ := newProvider(t, providers.GitLab, "gitlab.example.com", providers.Options{})
	_, err := p.(providers.Refresher).Refresh(context.Background(), "refresh-R1")
	if !errors.Is(err, providers.ErrRefreshClient) {
		t.Fatalf("Refresh error = %v, want ErrRefreshClient", err)
	}
}

func TestOnlyGitLabRefreshes(t *testing.T) {
	for _, k := range []providers.Kind{providers.GitHub, providers.Gitea, providers.Forgejo, providers.SourceHut} {
		p, err := providers.New(k, "example.com", providers.Options{Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.(providers.Refresher); ok {
			t.Errorf("%s claims to refresh tokens", k)
		}
	}
}
