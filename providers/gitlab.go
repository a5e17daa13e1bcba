package providers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultGitLabClientID is the OAuth application used for the device flow
// on gitlab.com when no --client-id is given. It is the GitLab CLI's (glab)
// public application ID, the one numtide/nix-auth uses as well: the consent
// page therefore names glab, and GitLab may restrict that application at
// any time; --client-id with nix-auth's own application is the way out.
const DefaultGitLabClientID = "41d48f9422ebd655dd9cf2947d6979681dfaddc6d0c56f7628f6ada59559af1e"

// gitlabScope: Nix's gitlab: fetcher reads commits and archives through
// the REST API (/api/v4/projects/...), which read_repository does not
// open; read_api does, read-only.
const gitlabScope = "read_api"

// gitlabProvider is gitlab.com or a self-managed GitLab.
type gitlabProvider struct {
	base
}

func newGitLab(b base) *gitlabProvider { return &gitlabProvider{base: b} }

// Validate asks GitLab about the token. No single GitLab endpoint gives
// user, scopes and expiry: GET /api/v4/user has the username but no
// scopes; GET /api/v4/personal_access_tokens/self (PATs) and GET
// /oauth/token/info (OAuth tokens) have scopes and expiry but only a user
// ID. Both are sent at once, so validation costs one round trip. The token
// goes in the header Nix would use for its prefix, so a wrongly prefixed
// token fails here as it would in Nix.
func (g *gitlabProvider) Validate(ctx context.Context, nixToken string) (*Status, error) {
	st := &Status{RateLimitRemaining: -1}
	nt, tok, owner, ok := splitNixType(nixToken)
	switch {
	case !ok || owner != g.forge:
		st.Problem, st.Misstored = "it has no PAT: or OAuth2: prefix, so Nix sends no credentials with it", true
		return st, nil
	case tokenProblem(tok) != "":
		st.Problem = tokenProblem(tok)
		return st, nil
	}
	hdr := http.Header{"Accept": {"application/json"}}
	infoURL := g.origin() + "/api/v4/personal_access_tokens/self"
	oauth := nt.Type == OAuth
	if oauth {
		hdr.Set("Authorization", "Bearer "+tok)
		infoURL = g.origin() + "/oauth/token/info"
	} else {
		hdr.Set("PRIVATE-TOKEN", tok)
	}

	var user, info *response
	var userErr, infoErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		user, userErr = call(ctx, g.client, http.MethodGet, g.origin()+"/api/v4/user", hdr, nil)
	}()
	go func() {
		defer wg.Done()
		info, infoErr = call(ctx, g.client, http.MethodGet, infoURL, hdr, nil)
	}()
	wg.Wait()
	if userErr != nil {
		return nil, userErr
	}
	if infoErr != nil {
		return nil, infoErr
	}

	st.RateLimitRemaining = headerInt(user.header, "RateLimit-Remaining")
	switch user.status {
	case http.StatusOK:
		var u struct {
			Username string `json:"username"`
		}
		if err := user.decode(GitLab, &u); err != nil {
			return nil, err
		}
		st.User = boundName(u.Username)
	case http.StatusUnauthorized:
		st.Problem = gitlabRejected(user)
		return st, nil
	case http.StatusForbidden:
		// A token without read_api/read_user may not read the user but
		// can still be valid: the token info below decides.
	default:
		return nil, user.unexpected(GitLab)
	}

	switch info.status {
	case http.StatusOK:
		if oauth {
			if err := g.oauthInfo(info, st); err != nil {
				return nil, err
			}
		} else if err := patInfo(info, st); err != nil {
			return nil, err
		}
	case http.StatusUnauthorized:
		st.Problem = gitlabRejected(info)
		return st, nil
	case http.StatusForbidden, http.StatusNotFound:
		// GitLab before 15.5 has no personal_access_tokens/self; scopes
		// and expiry stay unknown.
		if user.status != http.StatusOK {
			st.Problem = "GitLab refuses it"
			if m := user.message(); m != "" {
				st.Problem += ": " + m
			}
			return st, nil
		}
	default:
		return nil, info.unexpected(GitLab)
	}
	if st.Problem == "" {
		st.Valid = true
	}
	return st, nil
}

// patInfo reads GET /personal_access_tokens/self.
func patInfo(r *response, st *Status) error {
	var pat struct {
		Scopes    []string `json:"scopes"`
		Active    *bool    `json:"active"`
		Revoked   bool     `json:"revoked"`
		ExpiresAt *string  `json:"expires_at"`
	}
	if err := r.decode(GitLab, &pat); err != nil {
		return err
	}
	st.Scopes, st.ScopesKnown = boundScopes(pat.Scopes), true
	if pat.ExpiresAt != nil {
		st.ExpiresAt = parseGitLabDate(*pat.ExpiresAt)
	}
	switch {
	case pat.Revoked:
		st.Problem = "the token was revoked"
	case pat.Active != nil && !*pat.Active:
		st.Problem = "the token is no longer active (expired or revoked)"
	}
	return nil
}

// oauthInfo reads GET /oauth/token/info (Doorkeeper's token info).
func (g *gitlabProvider) oauthInfo(r *response, st *Status) error {
	var info struct {
		Scope            scopeList `json:"scope"`
		Scopes           scopeList `json:"scopes"`
		ExpiresIn        *int64    `json:"expires_in"`
		ExpiresInSeconds *int64    `json:"expires_in_seconds"`
	}
	if err := r.decode(GitLab, &info); err != nil {
		return err
	}
	st.Scopes = info.Scopes
	if st.Scopes == nil {
		st.Scopes = info.Scope
	}
	st.ScopesKnown = true
	secs := info.ExpiresInSeconds
	if secs == nil {
		secs = info.ExpiresIn
	}
	// Doorkeeper sends 0 for an expired token; a negative count means the
	// same, and a count beyond a century is not believed.
	if secs != nil {
		if d, ok := forgeSeconds(max(*secs, 0)); ok {
			st.ExpiresAt = g.now().Add(d).UTC().Truncate(time.Second)
		}
	}
	return nil
}

// scopeList reads scopes given as a JSON array (GitLab's token info) or as
// one space-separated string (plain Doorkeeper).
type scopeList []string

// UnmarshalJSON accepts an array or a space-separated string.
func (l *scopeList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = splitScopes(s)
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*l = boundScopes(a)
	return nil
}

// gitlabRejected explains a 401 from GitLab.
func gitlabRejected(r *response) string {
	p := "GitLab does not accept it"
	if m := r.message(); m != "" && !strings.Contains(m, "401") {
		return p + ": " + m
	}
	return p + ": it was revoked, has expired, or was mistyped"
}

// parseGitLabDate reads expires_at: a date ("2025-01-31"), after which the
// token no longer works from midnight UTC; newer versions may send a full
// timestamp.
func parseGitLabDate(v string) time.Time {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return plausibleDate(t)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return plausibleDate(t)
	}
	return time.Time{}
}

// plausibleDate is t in UTC when it is a date a token can expire on (from
// 1970 to 9000), else zero, "unknown": a forge's year 0 or 9999 with an
// offset would print as nonsense and is beyond what JSON's time format
// can hold.
func plausibleDate(t time.Time) time.Time {
	t = t.UTC()
	if t.Year() < 1970 || t.Year() > 9000 {
		return time.Time{}
	}
	return t
}
