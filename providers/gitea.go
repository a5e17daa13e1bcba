package providers

import (
	"context"
	"net/http"
	"strings"
)

// giteaProvider is a Gitea or Forgejo host (Codeberg runs Forgejo). Both
// share the /api/v1 API and neither has an OAuth device flow, so login is
// a personal token.
type giteaProvider struct {
	base
}

func newGitea(b base) *giteaProvider { return &giteaProvider{base: b} }

// Validate is one GET /api/v1/user. Gitea and Forgejo do not report a
// token's scopes or expiry in that answer, so ScopesKnown stays false.
func (g *giteaProvider) Validate(ctx context.Context, nixToken string) (*Status, error) {
	st := &Status{RateLimitRemaining: -1}
	if st.Problem = tokenProblem(nixToken); st.Problem != "" {
		return st, nil
	}
	hdr := http.Header{"Authorization": {"token " + nixToken}, "Accept": {"application/json"}}
	r, err := call(ctx, g.client, http.MethodGet, g.origin()+"/api/v1/user", hdr, nil)
	if err != nil {
		return nil, err
	}
	switch r.status {
	case http.StatusOK:
		var u struct {
			Login string `json:"login"`
		}
		if err := r.decode(g.forge.Kind, &u); err != nil {
			return nil, err
		}
		st.Valid, st.User = true, boundName(u.Login)
	case http.StatusUnauthorized:
		st.Problem = g.forge.Title + " does not accept it: it was deleted or mistyped"
	case http.StatusForbidden:
		m := r.message()
		// A scoped token without read:user is refused here but works for
		// repositories: valid, user unknown.
		if strings.Contains(m, "scope") {
			st.Valid = true
			break
		}
		st.Problem = g.forge.Title + " refuses it"
		if m != "" {
			st.Problem += ": " + m
		}
	default:
		return nil, r.unexpected(g.forge.Kind)
	}
	return st, nil
}
