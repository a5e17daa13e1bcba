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

func TestGitHubValidate(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	inJST := time.Date(2031, 3, 31, 0, 0, 0, 0, time.FixedZone("JST", 9*3600))
	fake.AddToken(forgetest.Token{Value: "ghp_classic", User: "octocat", Scopes: []string{"repo", "gist"}, Expires: inJST})
	fake.AddToken(forgetest.Token{Value: "github_pat_fine", User: "octocat", HideScopes: true,
		Expires: time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC), ExpiryHeader: "2031-06-01 00:00:00 UTC"})
	fake.AddToken(forgetest.Token{Value: "gho_noscopes", User: "octocat", Scopes: nil})
	fake.AddToken(forgetest.Token{Value: "ghp_odd_expiry", User: "octocat", ExpiryHeader: "soon"})
	ctx := context.Background()

	st, err := p.Validate(ctx, "ghp_classic")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Valid || st.User != "octocat" || !st.ScopesKnown || !slices.Equal(st.Scopes, []string{"repo", "gist"}) {
		t.Errorf("classic token status %+v", st)
	}
	if !st.ExpiresAt.Equal(inJST) || st.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt = %v, want %v in UTC (from the -0700 form)", st.ExpiresAt, inJST.UTC())
	}
	if st.RateLimitRemaining != 4999 {
		t.Errorf("RateLimitRemaining = %d, want 4999", st.RateLimitRemaining)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("validation took %d requests, want 1", n)
	}
	r := fake.Requests()[0]
	if r.Host != "api.github.com" || r.Path != "/user" || r.Header.Get("Authorization") != "Bearer ghp_classic" {
		t.Errorf("request went to %s%s", r.Host, r.Path)
	}
	if !strings.HasPrefix(r.Header.Get("User-Agent"), "nix-auth") {
		t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
	}

	st, err = p.Validate(ctx, "github_pat_fine")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Valid || st.ScopesKnown || st.Scopes != nil {
		t.Errorf("fine-grained token: %+v, want valid with unknown scopes", st)
	}
	if want := time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC); !st.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v (from the UTC form)", st.ExpiresAt, want)
	}

	st, err = p.Validate(ctx, "gho_noscopes")
	if err != nil || !st.Valid || !st.ScopesKnown || len(st.Scopes) != 0 || !st.ExpiresAt.IsZero() {
		t.Errorf("token with no scopes: %+v, %v; want known, empty scopes, no expiry", st, err)
	}

	st, err = p.Validate(ctx, "ghp_odd_expiry")
	if err != nil || !st.Valid || !st.ExpiresAt.IsZero() {
		t.Errorf("unparsable expiry: %+v, %v", st, err)
	}

	st, err = p.Validate(ctx, "ghp_revoked")
	if err != nil || st.Valid || !strings.Contains(st.Problem, "bad credentials") || st.RateLimitRemaining != 59 {
		t.Errorf("bad token: %+v, %v", st, err)
	}
	if strings.Contains(st.Problem, "ghp_revoked") {
		t.Error("Problem contains the token")
	}
}

func TestGitHubValidateRateLimited(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	fake.AddToken(forgetest.Token{Value: "ghp_limited", User: "octocat", RateLimited: true})
	_, err := p.Validate(context.Background(), "ghp_limited")
	if err == nil || !strings.Contains(err.Error(), "rate limit") || !strings.Contains(strings.Join(hints(err), " "), "try again after") {
		t.Fatalf("error %v, hints %q", err, hints(err))
	}
	noSecret(t, err, "ghp_limited")
}

// TestValidateServerTrouble: 500, HTML, dropped connections and
// redirects elsewhere are errors (not "invalid token") that name the host
// and say what to do, never the token; a redirect is not followed.
func TestValidateServerTrouble(t *testing.T) {
	t.Parallel()
	type forge struct {
		kind       providers.Kind
		host, path string // the endpoint that misbehaves
		token      string
	}
	forges := []forge{
		{providers.GitHub, "api.github.com", "/user", "ghp_trouble"},
		{providers.GitLab, "gitlab.com", "/api/v4/user", "PAT:glpat-trouble"},
		{providers.GitLab, "gitlab.com", "/api/v4/personal_access_tokens/self", "PAT:glpat-trouble"},
		{providers.Forgejo, "codeberg.org", "/api/v1/user", "forgejo-trouble"},
		{providers.SourceHut, "meta.sr.ht", "/query", "srht-trouble"},
	}
	failures := []struct {
		f    forgetest.Failure
		want string
	}{
		{forgetest.Fail500, "500"},
		{forgetest.FailHTML, "web page"},
		{forgetest.FailDrop, "cannot reach"},
		{forgetest.FailRedirect, "refused"},
	}
	for _, fg := range forges {
		for _, fl := range failures {
			t.Run(string(fg.kind)+fg.path+"/"+fl.want, func(t *testing.T) {
				t.Parallel()
				host := map[providers.Kind]string{providers.GitHub: "github.com", providers.GitLab: "gitlab.com",
					providers.Forgejo: "codeberg.org", providers.SourceHut: "git.sr.ht"}[fg.kind]
				p, fake := newProvider(t, fg.kind, host, providers.Options{})
				_, bare, _ := strings.Cut(fg.token, ":")
				if !strings.Contains(fg.token, ":") {
					bare = fg.token
				}
				fake.AddToken(forgetest.Token{Value: bare, User: "someone"})
				fake.Fail(fg.host, fg.path, fl.f)
				st, err := p.Validate(context.Background(), fg.token)
				if err == nil {
					t.Fatalf("Validate = %+v, want an error", st)
				}
				if !strings.Contains(err.Error(), fl.want) || !strings.Contains(err.Error(), fg.host) {
					t.Errorf("error %q does not mention %q and the host", err, fl.want)
				}
				if len(hints(err)) == 0 {
					t.Errorf("error %q has no hint", err)
				}
				noSecret(t, err, bare)
				if fl.f == forgetest.FailRedirect {
					var re *providers.RedirectError
					if !errors.As(err, &re) || re.To != forgetest.RedirectHost {
						t.Errorf("error %v is not a RedirectError to %s", err, forgetest.RedirectHost)
					}
					if n := len(requestsTo(fake, forgetest.RedirectHost)); n != 0 {
						t.Errorf("the token followed the redirect: %d requests to %s", n, forgetest.RedirectHost)
					}
				}
			})
		}
	}
}

func TestGitLabValidatePAT(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitLab, "gitlab.com", providers.Options{})
	exp := time.Now().AddDate(0, 2, 0)
	fake.AddToken(forgetest.Token{Value: "glpat-good", User: "tanuki", Scopes: []string{"read_api"}, Expires: exp})
	fake.AddToken(forgetest.Token{Value: "glpat-repoonly", User: "tanuki", Scopes: []string{"read_repository"}})
	fake.AddToken(forgetest.Token{Value: "gloat-oauth", User: "tanuki", Scopes: []string{"read_api"}, OAuth: true})
	ctx := context.Background()

	st, err := p.Validate(ctx, "PAT:glpat-good")
	if err != nil {
		t.Fatal(err)
	}
	wantExp := time.Date(exp.Year(), exp.Month(), exp.Day(), 0, 0, 0, 0, time.UTC)
	if !st.Valid || st.User != "tanuki" || !st.ScopesKnown || !slices.Equal(st.Scopes, []string{"read_api"}) || !st.ExpiresAt.Equal(wantExp) {
		t.Errorf("PAT status %+v, want tanuki, read_api, expiring %v", st, wantExp)
	}
	if st.RateLimitRemaining < 1990 || st.RateLimitRemaining > 1999 {
		t.Errorf("RateLimitRemaining = %d", st.RateLimitRemaining)
	}
	for _, r := range fake.Requests() {
		if r.Header.Get("PRIVATE-TOKEN") != "glpat-good" || r.Header.Get("Authorization") != "" {
			t.Errorf("%s sent without PRIVATE-TOKEN, as Nix sends PAT: tokens", r.Path)
		}
	}

	st, err = p.Validate(ctx, "PAT:glpat-repoonly")
	if err != nil || !st.Valid || st.User != "" || !slices.Equal(st.Scopes, []string{"read_repository"}) {
		t.Errorf("read_repository-only PAT: %+v, %v; want valid, user unknown", st, err)
	}

	n := len(fake.Requests())
	st, err = p.Validate(ctx, "glpat-good")
	if err != nil || st.Valid || !strings.Contains(st.Problem, "prefix") || strings.Contains(st.Problem, "glpat-good") {
		t.Errorf("bare token: %+v, %v; want invalid, naming the missing prefix", st, err)
	}
	if len(fake.Requests()) != n {
		t.Error("a bare token was sent to the forge")
	}

	// An OAuth token stored as PAT: goes out as PRIVATE-TOKEN, which
	// GitLab does not take for OAuth tokens: just what Nix would hit.
	st, err = p.Validate(ctx, "PAT:gloat-oauth")
	if err != nil || st.Valid {
		t.Errorf("OAuth token with PAT: prefix: %+v, %v; want invalid", st, err)
	}

	st, err = p.Validate(ctx, "PAT:glpat-unknown")
	if err != nil || st.Valid || st.Problem == "" {
		t.Errorf("unknown token: %+v, %v", st, err)
	}
}

func TestGitLabValidateOAuthNeverExpiring(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitLab, "gitlab.example.com", providers.Options{})
	fake.AddForge("gitlab.example.com", forgetest.GitLab)
	fake.AddToken(forgetest.Token{Value: "gloat-forever", User: "tanuki", Scopes: []string{"api"}, OAuth: true})
	st, err := p.Validate(context.Background(), "OAuth2:gloat-forever")
	if err != nil || !st.Valid || st.User != "tanuki" || !st.ExpiresAt.IsZero() || !slices.Equal(st.Scopes, []string{"api"}) {
		t.Fatalf("Validate = %+v, %v", st, err)
	}
	for _, r := range fake.Requests() {
		if r.Header.Get("Authorization") != "Bearer gloat-forever" || r.Header.Get("PRIVATE-TOKEN") != "" {
			t.Errorf("%s not sent as Bearer, as Nix sends OAuth2: tokens", r.Path)
		}
	}
}

func TestGiteaForgejoValidate(t *testing.T) {
	t.Parallel()
	for _, kind := range []providers.Kind{providers.Gitea, providers.Forgejo} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			p, fake := newProvider(t, kind, "git.example.com", providers.Options{})
			fake.AddForge("git.example.com", string(kind))
			fake.AddToken(forgetest.Token{Value: "tok-all", User: "gopher"})
			fake.AddToken(forgetest.Token{Value: "tok-repo", User: "gopher", Scopes: []string{"read:repository"}})
			ctx := context.Background()
			st, err := p.Validate(ctx, "tok-all")
			if err != nil || !st.Valid || st.User != "gopher" || st.ScopesKnown || st.RateLimitRemaining != -1 {
				t.Errorf("Validate = %+v, %v", st, err)
			}
			if r := fake.Requests()[0]; r.Path != "/api/v1/user" || r.Header.Get("Authorization") != "token tok-all" {
				t.Errorf("request %s with Authorization %s", r.Path, mask(r.Header.Get("Authorization")))
			}
			st, err = p.Validate(ctx, "tok-repo")
			if err != nil || !st.Valid || st.User != "" {
				t.Errorf("token without read:user: %+v, %v; want valid, user unknown", st, err)
			}
			st, err = p.Validate(ctx, "tok-gone")
			if err != nil || st.Valid || st.Problem == "" {
				t.Errorf("unknown token: %+v, %v", st, err)
			}
		})
	}
}

func TestSourceHutValidate(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.SourceHut, "git.sr.ht", providers.Options{})
	fake.AddToken(forgetest.Token{Value: "srht-token", User: "drew"})
	st, err := p.Validate(context.Background(), "srht-token")
	if err != nil || !st.Valid || st.User != "~drew" || st.ScopesKnown {
		t.Fatalf("Validate = %+v, %v", st, err)
	}
	r := fake.Requests()[0]
	if r.Host != "meta.sr.ht" || r.Method != "POST" || r.Path != "/query" || r.Header.Get("Authorization") != "Bearer srht-token" {
		t.Errorf("request %s %s%s", r.Method, r.Host, r.Path)
	}
	st, err = p.Validate(context.Background(), "srht-revoked")
	if err != nil || st.Valid || !strings.Contains(st.Problem, "Invalid or expired") {
		t.Errorf("bad token: %+v, %v", st, err)
	}
}

func TestSelfHostedSourceHutUsesItsMeta(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.SourceHut, "git.example.com", providers.Options{})
	fake.AddForge("git.example.com", forgetest.SourceHut)
	fake.AddForge("meta.example.com", forgetest.SourceHut)
	fake.AddToken(forgetest.Token{Value: "srht-self", User: "me"})
	st, err := p.Validate(context.Background(), "srht-self")
	if err != nil || !st.Valid || fake.Requests()[0].Host != "meta.example.com" {
		t.Fatalf("Validate = %+v, %v", st, err)
	}
}

func TestValidateUnsendableToken(t *testing.T) {
	for _, kind := range []providers.Kind{providers.GitHub, providers.GitLab, providers.Gitea, providers.SourceHut} {
		p, fake := newProvider(t, kind, "git.example.com", providers.Options{})
		for _, tok := range []string{"", "two words", "line\nbreak", "PAT:", "PAT:tab\there"} {
			if kind != providers.GitLab && strings.HasPrefix(tok, "PAT:") {
				continue
			}
			st, err := p.Validate(context.Background(), tok)
			if err != nil || st.Valid || st.Problem == "" {
				t.Errorf("%s: token %s gave %+v, %v", kind, mask(tok), st, err)
			}
		}
		if n := len(fake.Requests()); n != 0 {
			t.Errorf("%s: %d requests sent for tokens that cannot be sent", kind, n)
		}
	}
}
