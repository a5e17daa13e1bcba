package providers

import (
	"context"
	"encoding/json"
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
