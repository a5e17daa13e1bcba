package providers

import (
	"context"
	"fmt"
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

func (g *giteaProvider) name() string {
	if g.kind == Forgejo {
		return "Forgejo"
	}
	return "Gitea"
}

// instructions say plainly what Nix does with the token: Nix reads
// access-tokens only in its github:, gitlab: and sourcehut: fetchers, and
// it has no Gitea or Forgejo fetcher.
func (g *giteaProvider) instructions() string {
	return fmt.Sprintf("Nix has no %[1]s fetcher: it uses access-tokens only in its github:, gitlab: and sourcehut: fetchers, "+
		"so Nix itself does not send this token to %[2]s; tarball and git+https fetches from %[2]s authenticate through "+
		"netrc or git's credential helpers instead. nix-auth keeps it with your other forge tokens and checks it with `nix-auth status`. "+
		"Give it read permission on \"repository\" and \"user\".", g.name(), g.apiHost)
}

// Login prompts for a personal token; there is no device flow to run.
func (g *giteaProvider) Login(ctx context.Context, ui UI) (*Token, error) {
	if g.clientID != "" {
		ui.Warn(fmt.Sprintf("--client-id is ignored: %s has no OAuth device flow", g.name()))
	}
	return g.personalLogin(ui, g.apiHost, g.origin()+"/user/settings/applications", g.instructions())
}

// NixToken is the token itself.
func (g *giteaProvider) NixToken(t *Token) string { return t.Value }

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
		if err := r.decode(g.kind, &u); err != nil {
			return nil, err
		}
		st.Valid, st.User = true, boundName(u.Login)
	case http.StatusUnauthorized:
		st.Problem = g.name() + " does not accept it: it was deleted or mistyped"
	case http.StatusForbidden:
		m := r.message()
		// A scoped token without read:user is refused here but works for
		// repositories: valid, user unknown.
		if strings.Contains(m, "scope") {
			st.Valid = true
			break
		}
		st.Problem = g.name() + " refuses it"
		if m != "" {
			st.Problem += ": " + m
		}
	default:
		return nil, r.unexpected(g.kind)
	}
	return st, nil
}
