package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// sourcehutProvider is git.sr.ht or a self-hosted SourceHut. Nix's
// sourcehut: fetcher looks tokens up under the git host (git.sr.ht), while
// accounts and tokens live on the meta host (meta.sr.ht).
type sourcehutProvider struct {
	base
	meta string // https://meta.sr.ht
}

func newSourceHut(b base) *sourcehutProvider {
	return &sourcehutProvider{base: b, meta: "https://" + metaHost(b.apiHost)}
}

// metaHost maps the git service's host to meta's: git.sr.ht -> meta.sr.ht.
func metaHost(gitHost string) string {
	return "meta." + strings.TrimPrefix(gitHost, "git.")
}

func (s *sourcehutProvider) instructions() string {
	return fmt.Sprintf("Nix sends this token as a Bearer token with its sourcehut: fetcher (flake inputs such as sourcehut:~user/repo) to %s. "+
		"Nix's own source notes that SourceHut does not accept it for archives of private repositories yet, so it helps with refs more than with private tarballs. "+
		"nix-auth checks the token on %s: grant it read access to the meta.sr.ht profile and to git.sr.ht repositories.",
		s.apiHost, metaHost(s.apiHost))
}

// Login prompts for a personal token made on meta's settings page.
func (s *sourcehutProvider) Login(ctx context.Context, ui UI) (*Token, error) {
	if s.clientID != "" {
		ui.Warn("--client-id is ignored: SourceHut has no OAuth device flow")
	}
	return s.personalLogin(ui, metaHost(s.apiHost), s.meta+"/oauth2/personal-token", s.instructions())
}

// NixToken is the token itself.
func (s *sourcehutProvider) NixToken(t *Token) string { return t.Value }

// Validate is one GraphQL query on meta: { me { canonicalName } }. The
// answer says nothing of grants or expiry, so those stay unknown.
func (s *sourcehutProvider) Validate(ctx context.Context, nixToken string) (*Status, error) {
	st := &Status{RateLimitRemaining: -1}
	if st.Problem = tokenProblem(nixToken); st.Problem != "" {
		return st, nil
	}
	hdr := http.Header{
		"Authorization": {"Bearer " + nixToken},
		"Content-Type":  {"application/json"},
		"Accept":        {"application/json"},
	}
	r, err := call(ctx, s.client, http.MethodPost, s.meta+"/query", hdr, []byte(`{"query":"{ me { canonicalName } }"}`))
	if err != nil {
		return nil, err
	}
	var answer struct {
		Data *struct {
			Me *struct {
				CanonicalName string `json:"canonicalName"`
			} `json:"me"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	switch r.status {
	case http.StatusOK, http.StatusUnauthorized, http.StatusForbidden:
		if !r.isJSON() || json.Unmarshal(r.body, &answer) != nil {
			return nil, r.unexpected(SourceHut)
		}
	default:
		return nil, r.unexpected(SourceHut)
	}
	if answer.Data != nil && answer.Data.Me != nil && r.status == http.StatusOK {
		st.Valid, st.User = true, boundName(answer.Data.Me.CanonicalName)
		return st, nil
	}
	st.Problem = "SourceHut does not accept it"
	if len(answer.Errors) > 0 && answer.Errors[0].Message != "" {
		st.Problem += ": " + answer.Errors[0].Message
	} else {
		st.Problem += ": it was revoked, has expired, or was mistyped"
	}
	return st, nil
}
