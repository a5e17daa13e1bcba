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
	g := &githubProvider{base: b, api: b.origin() + "/api/v3"}
	if b.apiHost == githubHost {
		g.api = "https://api." + githubHost
	}
	return g
}

// Validate reads everything from one GET /user: the login from the body,
// scopes from X-OAuth-Scopes (absent for fine-grained tokens), expiry from
// GitHub-Authentication-Token-Expiration, and X-RateLimit-Remaining.
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
