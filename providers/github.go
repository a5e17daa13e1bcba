package providers

import (
	"context"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// DefaultGitHubClientID is the OAuth app used for the device flow on
// github.com when no --client-id is given. It is the GitHub CLI's public
// client ID, the one numtide/nix-auth uses as well: the consent page
// therefore says "GitHub CLI". A public client ID is not a secret, but the
// app belongs to GitHub, which may restrict it; --client-id with nix-auth's
// own OAuth app is the way out.
const DefaultGitHubClientID = "178c6fc778ccc68e1d6a"

// githubScope is what Nix needs: `repo` is the only classic scope that
// lets the github: fetcher read private repositories (and lifts the
// anonymous rate limit for public ones).
const githubScope = "repo"

// githubProvider is github.com or a GitHub Enterprise Server.
type githubProvider struct {
	base
	api string // https://api.github.com or https://ghe.host/api/v3
}

func newGitHub(b base) *githubProvider {
	return &githubProvider{base: b, api: b.forge.apiBase(b.apiHost)}
}

// Validate reads everything from one GET /user: the login from the body,
// scopes from X-OAuth-Scopes (absent for fine-grained tokens), expiry from
// GitHub-Authentication-Token-Expiration, and X-RateLimit-Remaining. An
// integration's token, which may not read /user, costs one more request
// (validateInstallation).
func (g *githubProvider) Validate(ctx context.Context, nixToken string) (*Status, error) {
	st := &Status{RateLimitRemaining: -1}
	if st.Problem = tokenProblem(nixToken); st.Problem != "" {
		return st, nil
	}
	hdr := http.Header{
		"Authorization":        {"Bearer " + nixToken},
		"Accept":               {"application/vnd.github+json"},
		"X-Github-Api-Version": {"2022-11-28"},
	}
	r, err := call(ctx, g.client, http.MethodGet, g.api+"/user", hdr, nil)
	if err != nil {
		return nil, err
	}
	st.RateLimitRemaining = headerInt(r.header, "X-RateLimit-Remaining")
	switch r.status {
	case http.StatusOK:
	case http.StatusUnauthorized:
		st.Problem = "GitHub does not accept it (bad credentials): it was revoked, has expired, or was mistyped"
		return st, nil
	case http.StatusForbidden, http.StatusTooManyRequests:
		if st.RateLimitRemaining == 0 {
			e := &Error{Host: r.url.Host, Msg: r.url.Host + " rate limit reached, so the token could not be checked",
				Advice: []string{"try again after the limit resets"}}
			// A reset time is believed only within a day: GitHub's limits
			// reset hourly, and a far date would print as nonsense.
			if reset := headerInt(r.header, "X-RateLimit-Reset"); reset > 0 {
				at, now := time.Unix(int64(reset), 0), g.now()
				if at.After(now) && at.Before(now.Add(24*time.Hour)) {
					e.Advice = []string{"try again after " + at.UTC().Format(time.RFC3339)}
				}
			}
			return nil, e
		}
		// A 403 without X-OAuth-Scopes is an integration's token (gh's
		// rule): an app installation's, or Actions' GITHUB_TOKEN, which
		// may not read a user ("Resource not accessible by
		// integration") but may list its installation's repositories.
		if _, scoped := r.header[textproto.CanonicalMIMEHeaderKey("X-OAuth-Scopes")]; !scoped && r.status == http.StatusForbidden && g.forge.InstallationPath != "" {
			return g.validateInstallation(ctx, hdr, st, r.message())
		}
		st.Problem = "GitHub refuses it"
		if m := r.message(); m != "" {
			st.Problem += ": " + m
		}
		return st, nil
	default:
		return nil, r.unexpected(GitHub)
	}
	var user struct {
		Login string `json:"login"`
	}
	if err := r.decode(GitHub, &user); err != nil {
		return nil, err
	}
	st.Valid = true
	st.User = boundName(user.Login)
	if v, ok := r.header[textproto.CanonicalMIMEHeaderKey("X-OAuth-Scopes")]; ok {
		st.ScopesKnown = true
		st.Scopes = splitScopes(strings.Join(v, ","))
	}
	st.ExpiresAt = parseGitHubExpiry(r.header.Get("GitHub-Authentication-Token-Expiration"))
	return st, nil
}

// validateInstallation asks what an integration's token may read: the
// installation's repositories, their count and owner, and the token's
// expiry when GitHub says it. userMsg is GitHub's reason for refusing
// /user, the problem when the token is no installation's either.
func (g *githubProvider) validateInstallation(ctx context.Context, hdr http.Header, st *Status, userMsg string) (*Status, error) {
	r, err := call(ctx, g.client, http.MethodGet, g.api+g.forge.InstallationPath, hdr, nil)
	if err != nil {
		return nil, err
	}
	if n := headerInt(r.header, "X-RateLimit-Remaining"); n >= 0 {
		st.RateLimitRemaining = n
	}
	switch r.status {
	case http.StatusOK:
	case http.StatusUnauthorized:
		st.Problem = "GitHub does not accept it (bad credentials): it was revoked, has expired, or was mistyped"
		return st, nil
	case http.StatusForbidden, http.StatusNotFound:
		st.Problem = "GitHub refuses it"
		if userMsg != "" {
			st.Problem += ": " + userMsg
		}
		return st, nil
	default:
		return nil, r.unexpected(GitHub)
	}
	var in struct {
		TotalCount   *int   `json:"total_count"`
		Selection    string `json:"repository_selection"`
		Repositories []struct {
			Owner struct {
				Login string `json:"login"`
			} `json:"owner"`
		} `json:"repositories"`
	}
	if err := r.decode(GitHub, &in); err != nil {
		return nil, err
	}
	inst := &Installation{Repositories: -1, Selection: boundName(in.Selection)}
	if in.TotalCount != nil && *in.TotalCount >= 0 {
		inst.Repositories = *in.TotalCount
	}
	if len(in.Repositories) > 0 {
		inst.Account = boundName(in.Repositories[0].Owner.Login)
	}
	st.Valid, st.Installation = true, inst
	st.ExpiresAt = parseGitHubExpiry(r.header.Get("GitHub-Authentication-Token-Expiration"))
	return st, nil
}

// parseGitHubExpiry reads GitHub-Authentication-Token-Expiration; zero when
// absent (the token does not expire) or in an unknown form. Both forms
// seen in the wild are read: "2024-06-01 00:00:00 UTC" and
// "2027-03-31 00:00:00 +0900".
func parseGitHubExpiry(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 MST", time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return plausibleDate(t)
		}
	}
	return time.Time{}
}
