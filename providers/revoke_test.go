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

func TestGitHubInstallationToken(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	exp := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	fake.AddToken(forgetest.Token{Value: "ghs_installation0123456789abcdef", Expires: exp,
		Installation: &forgetest.Installation{Account: "octo-org", Repositories: 3, Selection: "selected"}})
	st, err := p.Validate(context.Background(), "ghs_installation0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	in := st.Installation
	if !st.Valid || st.User != "" || in == nil || in.Account != "octo-org" || in.Repositories != 3 || in.Selection != "selected" {
		t.Fatalf("status %+v, installation %+v", st, in)
	}
	if !st.ExpiresAt.Equal(exp) || st.ScopesKnown {
		t.Errorf("expiry %v, scopes known %v", st.ExpiresAt, st.ScopesKnown)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/installation/repositories" || reqs[1].Header.Get("Authorization") != "Bearer ghs_installation0123456789abcdef" {
		t.Errorf("requests %+v", reqs)
	}

	// A user's token refused with its scopes header is not asked twice.
	fake.Respond("api.github.com", "/user", forgetest.Answer{Status: 403,
		Header: map[string]string{"Content-Type": "application/json", "X-OAuth-Scopes": "repo"}, Body: `{"message":"Forbidden by policy"}`})
	before := len(fake.Requests())
	st, err = p.Validate(context.Background(), "ghp_policy0123456789abcdefghij")
	if err != nil || st.Valid || !strings.Contains(st.Problem, "Forbidden by policy") {
		t.Errorf("status %+v, %v", st, err)
	}
	if n := len(fake.Requests()) - before; n != 1 {
		t.Errorf("%d requests for a scoped token refused, want 1", n)
	}
}

func TestGitHubInstallationTokenRefused(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	// 403 without scopes, and the installation call refused too.
	fake.Respond("api.github.com", "/user", forgetest.Answer{Status: 403,
		Header: map[string]string{"Content-Type": "application/json"}, Body: `{"message":"Resource not accessible by integration"}`})
	fake.Respond("api.github.com", "/installation/repositories", forgetest.Answer{Status: 403,
		Header: map[string]string{"Content-Type": "application/json"}, Body: `{"message":"not an installation"}`})
	st, err := p.Validate(context.Background(), "ghs_refused0123456789abcdefghij")
	if err != nil || st.Valid || st.Problem != "GitHub refuses it: Resource not accessible by integration" {
		t.Errorf("status %+v, %v", st, err)
	}
	fake.Respond("api.github.com", "/installation/repositories", forgetest.Answer{Status: 200,
		Header: map[string]string{"Content-Type": "text/html"}, Body: `<html>`})
	if _, err := p.Validate(context.Background(), "ghs_refused0123456789abcdefghij"); !errors.Is(err, providers.ErrNotAPI) {
		t.Errorf("a web page for the installation: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	type revokeCase struct {
		name, kind, host string
		token            forgetest.Token
		nixToken         string
		clientID         string
		outcome          providers.RevokeOutcome
		call             string // "HOST METHOD PATH" of the revoking request
		page             string
		revoked          bool
	}
	ctx := context.Background()
	for _, c := range []revokeCase{
		{name: "github classic", kind: "github", host: "github.com", token: forgetest.Token{Value: "ghp_revokeme0123456789abcdefgh", User: "octocat"},
			outcome: providers.RevokePending, call: "api.github.com POST /credentials/revoke", page: "https://github.com/settings/tokens", revoked: true},
		{name: "github oauth", kind: "github", host: "github.com", token: forgetest.Token{Value: "gho_revokeme0123456789abcdefgh", User: "octocat"},
			outcome: providers.RevokePending, call: "api.github.com POST /credentials/revoke", page: "https://github.com/settings/applications", revoked: true},
		{name: "github installation", kind: "github", host: "github.com",
			token:   forgetest.Token{Value: "ghs_revokeme0123456789abcdefgh", Installation: &forgetest.Installation{Account: "o", Repositories: 1}},
			outcome: providers.Revoked, call: "api.github.com DELETE /installation/token", revoked: true},
		{name: "github enterprise", kind: "github", host: "ghe.example.com", token: forgetest.Token{Value: "ghp_enterprise0123456789abcdef", User: "octocat"},
			outcome: providers.RevokePending, call: "ghe.example.com POST /api/v3/credentials/revoke", page: "https://ghe.example.com/settings/tokens", revoked: true},
		{name: "gitlab pat", kind: "gitlab", host: "gitlab.com", token: forgetest.Token{Value: "glpat-revokeme0123456789", User: "erin"},
			nixToken: "PAT:glpat-revokeme0123456789", outcome: providers.Revoked, call: "gitlab.com DELETE /api/v4/personal_access_tokens/self",
			page: "https://gitlab.com/-/user_settings/personal_access_tokens", revoked: true},
		{name: "gitlab oauth", kind: "gitlab", host: "gitlab.com",
			token:    forgetest.Token{Value: "oauth-revokeme-0123456789", User: "erin", OAuth: true, ClientID: providers.DefaultGitLabClientID},
			nixToken: "OAuth2:oauth-revokeme-0123456789", outcome: providers.Revoked, call: "gitlab.com POST /oauth/revoke",
			page: "https://gitlab.com/-/user_settings/applications", revoked: true},
		{name: "gitlab self-managed oauth with its client", kind: "gitlab", host: "gitlab.example.com",
			token:    forgetest.Token{Value: "oauth-selfmanaged-0123456789", User: "erin", OAuth: true, ClientID: "app-3f1e"},
			nixToken: "OAuth2:oauth-selfmanaged-0123456789", clientID: "app-3f1e", outcome: providers.Revoked, call: "gitlab.example.com POST /oauth/revoke",
			page: "https://gitlab.example.com/-/user_settings/applications", revoked: true},
		{name: "forgejo by hand", kind: "forgejo", host: "codeberg.org", token: forgetest.Token{Value: "0123456789abcdef0123456789abcdef01234567", User: "alice"},
			outcome: providers.RevokeByHand, page: "https://codeberg.org/user/settings/applications"},
		{name: "sourcehut by hand", kind: "sourcehut", host: "git.sr.ht", token: forgetest.Token{Value: "srhtTOKEN0123456789abcdef", User: "alice"},
			outcome: providers.RevokeByHand, page: "https://meta.sr.ht/oauth2"},
		{name: "gitlab token without its type", kind: "gitlab", host: "gitlab.com", token: forgetest.Token{Value: "glpat-untyped0123456789", User: "erin"},
			nixToken: "glpat-untyped0123456789", outcome: providers.RevokeByHand, page: "https://gitlab.com/-/user_settings/personal_access_tokens"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, fake := newProvider(t, providers.Kind(c.kind), c.host, providers.Options{})
			fake.AddForge("ghe.example.com", forgetest.GitHub)
			fake.AddForge("gitlab.example.com", forgetest.GitLab)
			fake.AddToken(c.token)
			nixTok := c.nixToken
			if nixTok == "" {
				nixTok = c.token.Value
			}
			rv, err := p.Revoke(ctx, nixTok, c.clientID)
			if err != nil {
				t.Fatal(err)
			}
			if rv.Outcome != c.outcome || rv.Page != c.page {
				t.Errorf("revocation %+v, want outcome %d page %q", rv, c.outcome, c.page)
			}
			if got := fake.Revoked(c.token.Value); got != c.revoked {
				t.Errorf("revoked at the fake: %v, want %v", got, c.revoked)
			}
			var calls []string
			for _, r := range fake.Requests() {
				if r.Method != "GET" {
					calls = append(calls, r.Host+" "+r.Method+" "+r.Path)
				}
			}
			switch {
			case c.call == "" && len(calls) > 0:
				t.Errorf("a token no revoker takes was sent: %q", calls)
			case c.call != "" && (len(calls) != 1 || calls[0] != c.call):
				t.Errorf("calls %q, want %q", calls, c.call)
			}
			if c.outcome == providers.RevokeByHand && rv.Note == "" {
				t.Error("no reason given for revoking by hand")
			}
		})
	}
}

func TestRevokeRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// github.com: unauthenticated, the token in the body.
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	fake.AddToken(forgetest.Token{Value: "ghp_body0123456789abcdefghijkl", User: "octocat"})
	if _, err := p.Revoke(ctx, "ghp_body0123456789abcdefghijkl", ""); err != nil {
		t.Fatal(err)
	}
	r := fake.Requests()[0]
	if r.Header.Get("Authorization") != "" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("github.com credential revocation headers %v", r.Header)
	}
	// GitLab OAuth: the public client's ID, no secret.
	p, fake = newProvider(t, providers.GitLab, "gitlab.com", providers.Options{})
	fake.AddToken(forgetest.Token{Value: "oauth-form-0123456789", OAuth: true, User: "erin"})
	if _, err := p.Revoke(ctx, "OAuth2:oauth-form-0123456789", ""); err != nil {
		t.Fatal(err)
	}
	r = fake.Requests()[0]
	if r.Form.Get("client_id") != providers.DefaultGitLabClientID || r.Form.Get("token") != "oauth-form-0123456789" || r.Form.Has("client_secret") {
		t.Errorf("oauth revocation form %v", r.Form)
	}
}

func TestRevokeFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const tok = "ghp_failing0123456789abcdefghij"
	for _, c := range []struct {
		name   string
		setup  func(*forgetest.Server)
		want   string
		advice string
	}{
		{"server error", func(f *forgetest.Server) { f.Fail("api.github.com", "/credentials/revoke", forgetest.Fail500) },
			"answered 500 Internal Server Error to POST /credentials/revoke", "try again later"},
		{"spammed", func(f *forgetest.Server) {
			f.Respond("api.github.com", "/credentials/revoke", forgetest.Answer{Status: 422,
				Header: map[string]string{"Content-Type": "application/json"}, Body: `{"message":"Validation Failed"}`})
		}, "422 Unprocessable Entity to POST /credentials/revoke: Validation Failed", "https://github.com/settings/tokens"},
		{"rate limited", func(f *forgetest.Server) {
			f.Respond("api.github.com", "/credentials/revoke", forgetest.Answer{Status: 403,
				Header: map[string]string{"Content-Type": "application/json", "X-RateLimit-Remaining": "0"}, Body: `{"message":"API rate limit exceeded"}`})
		}, "403 Forbidden", "rate limit"},
		{"unreachable", func(f *forgetest.Server) { f.Fail("api.github.com", "/credentials/revoke", forgetest.FailDrop) },
			"POST /credentials/revoke failed", "revoke it by hand at https://github.com/settings/tokens"},
		{"redirected", func(f *forgetest.Server) { f.Fail("api.github.com", "/credentials/revoke", forgetest.FailRedirect) },
			"POST /credentials/revoke failed", "revoke it by hand"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
			fake.AddToken(forgetest.Token{Value: tok, User: "octocat"})
			c.setup(fake)
			_, err := p.Revoke(ctx, tok, "")
			if !errors.Is(err, providers.ErrRevoke) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrRevoke saying %q", err, c.want)
			}
			if !strings.Contains(strings.Join(hints(err), "\n"), c.advice) {
				t.Errorf("advice %q, want %q", hints(err), c.advice)
			}
			noSecret(t, err, tok)
			if fake.Revoked(tok) {
				t.Error("the token was revoked")
			}
		})
	}

	// GitLab answers 200 to any revocation: one that still works is a
	// failure, found by validating afterwards.
	p, fake := newProvider(t, providers.GitLab, "gitlab.com", providers.Options{})
	fake.AddToken(forgetest.Token{Value: "oauth-other-app-0123456789", OAuth: true, User: "erin"})
	fake.Respond("gitlab.com", "/oauth/revoke", forgetest.Answer{Header: map[string]string{"Content-Type": "application/json"}, Body: `{}`})
	_, err := p.Revoke(ctx, "OAuth2:oauth-other-app-0123456789", "")
	if !errors.Is(err, providers.ErrRevoke) || !strings.Contains(err.Error(), "the token still works") {
		t.Errorf("an OAuth revocation that did nothing: %v", err)
	}
	// Another application's token: Doorkeeper's 403.
	p, fake = newProvider(t, providers.GitLab, "gitlab.com", providers.Options{})
	fake.AddToken(forgetest.Token{Value: "oauth-foreign-0123456789", OAuth: true, User: "erin", ClientID: "another-app"})
	_, err = p.Revoke(ctx, "OAuth2:oauth-foreign-0123456789", "")
	if !errors.Is(err, providers.ErrRevoke) || !strings.Contains(err.Error(), "You are not authorized to revoke this token") {
		t.Errorf("another application's token: %v", err)
	}
	// Self-managed GitLab without the application's ID: nothing is sent.
	p, fake = newProvider(t, providers.GitLab, "gitlab.example.com", providers.Options{})
	_, err = p.Revoke(ctx, "OAuth2:oauth-noclient-0123456789", "")
	if !errors.Is(err, providers.ErrRevoke) || !strings.Contains(err.Error(), "needs the ID of the OAuth application") || len(fake.Requests()) > 0 {
		t.Errorf("no client ID: %v, %d requests", err, len(fake.Requests()))
	}
	// A token the forge no longer accepts is as good as revoked.
	p, _ = newProvider(t, providers.GitLab, "gitlab.com", providers.Options{})
	rv, err := p.Revoke(ctx, "PAT:glpat-gone0123456789abcd", "")
	if err != nil || rv.Outcome != providers.Revoked || !strings.Contains(rv.Note, "no longer accepts") {
		t.Errorf("a token already gone: %+v, %v", rv, err)
	}
	// A stored token that cannot be sent is not.
	_, err = p.Revoke(ctx, "PAT:glpat with space", "")
	if !errors.Is(err, providers.ErrRevoke) {
		t.Errorf("an unsendable token: %v", err)
	}
}
