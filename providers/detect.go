package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// detectTimeout bounds the whole probe: a host that does not answer one of
// the probes must not hold up the answer of another for long.
const detectTimeout = 10 * time.Second

// probe is one unauthenticated request whose answer identifies a forge.
type probe struct {
	path string
	// identify returns the kind when the answer is this forge's, with
	// tentative set when another probe may still refine it (Gitea might
	// turn out to be Forgejo).
	identify func(r *response) (kind Kind, tentative bool)
}

// probes are the version/meta endpoints that differ between forges, from
// the table.
func probes() []probe {
	var ps []probe
	for _, f := range forges {
		ps = append(ps, f.probes...)
	}
	return ps
}

type probeResult struct {
	path string
	kind Kind
	tent bool
	resp *response
	err  error
}

// Detect finds which forge runs on host by probing the forges' version and
// meta endpoints at once, without a token. A probe failing (network error,
// 404, HTML) does not stop the others; the answer comes as soon as one
// probe is conclusive, or an error listing what each probe saw.
func Detect(ctx context.Context, host string, c *http.Client) (Kind, error) {
	h := hostPart(host)
	if h == "" {
		return "", errors.New("no host given")
	}
	c = safeClient(c)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, detectTimeout)
	defer cancel() // stops the probes still running once an answer is known

	ps := probes()
	results := make(chan probeResult, len(ps)) // buffered: late probes never block
	for _, p := range ps {
		go func() {
			r, err := call(ctx, c, http.MethodGet, "https://"+h+p.path, http.Header{"Accept": {"application/json"}}, nil)
			res := probeResult{path: p.path, resp: r, err: err}
			if err == nil {
				res.kind, res.tent = p.identify(r)
			}
			results <- res
		}()
	}

	var seen []probeResult
	var tentative Kind
	for range ps {
		res := <-results
		seen = append(seen, res)
		if res.kind == "" {
			continue
		}
		if !res.tent {
			return res.kind, nil
		}
		tentative = res.kind
	}
	if tentative != "" {
		return tentative, nil
	}
	if err := parent.Err(); errors.Is(err, context.Canceled) {
		return "", err
	}
	return "", detectError(h, seen)
}

// ErrNotForge is a host that answered the probes but runs no forge
// nix-auth knows, as opposed to one that could not be reached.
var ErrNotForge = errors.New("the host runs no forge nix-auth knows")

// detectError says what each probe saw: the network error when no probe
// got an answer, else ErrNotForge with what each answered.
func detectError(host string, seen []probeResult) error {
	var parts []string
	allNet := true
	var netErr error
	for _, r := range seen {
		if r.err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", r.path, r.err))
			if netErr == nil {
				netErr = r.err
			}
			continue
		}
		allNet = false
		parts = append(parts, fmt.Sprintf("%s: %d", r.path, r.status()))
	}
	if allNet && netErr != nil {
		return netErr
	}
	var probed []string
	for _, f := range forges {
		if len(f.probes) > 0 {
			probed = append(probed, f.Title)
		}
	}
	return &Error{
		Host:  host,
		Msg:   fmt.Sprintf("%s does not look like %s (%s)", host, joinWords(probed, "or"), strings.Join(parts, "; ")),
		class: ErrNotForge,
	}
}

func (r probeResult) status() int {
	if r.resp == nil {
		return 0
	}
	return r.resp.status
}

// isGitHubEnterprise: GHES answers /api/v3/meta with its version, in the
// X-GitHub-Enterprise-Version header and as installed_version.
func isGitHubEnterprise(r *response) (Kind, bool) {
	if r.status != http.StatusOK {
		return "", false
	}
	if r.header.Get("X-GitHub-Enterprise-Version") != "" {
		return GitHub, false
	}
	var m map[string]json.RawMessage
	if r.isJSON() && json.Unmarshal(r.body, &m) == nil {
		if _, ok := m["installed_version"]; ok {
			return GitHub, false
		}
		if _, ok := m["verifiable_password_authentication"]; ok {
			return GitHub, false
		}
	}
	return "", false
}

// isGitLab: /api/v4/version gives version and revision, or, on instances
// that require a token for it (gitlab.com), 401 with GitLab's own JSON.
func isGitLab(r *response) (Kind, bool) {
	if !r.isJSON() {
		return "", false
	}
	switch r.status {
	case http.StatusOK:
		var v struct{ Version, Revision string }
		if json.Unmarshal(r.body, &v) == nil && v.Version != "" && v.Revision != "" {
			return GitLab, false
		}
	case http.StatusUnauthorized:
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(r.body, &m) == nil && m.Message == "401 Unauthorized" {
			return GitLab, false
		}
	}
	return "", false
}

// isGitea: /api/v1/version gives {"version": ...}. Forgejo's version reads
// like "7.0.0+gitea-1.22.0" (older: "1.20.5-0" with /api/forgejo); without
// such a sign it is tentatively Gitea until the Forgejo probe answers.
func isGitea(r *response) (Kind, bool) {
	v, ok := versionOf(r)
	if !ok {
		return "", false
	}
	if strings.Contains(v, "+gitea-") || strings.Contains(strings.ToLower(v), "forgejo") {
		return Forgejo, false
	}
	return Gitea, true
}

// isForgejo: only Forgejo has /api/forgejo/v1/version.
func isForgejo(r *response) (Kind, bool) {
	if _, ok := versionOf(r); ok {
		return Forgejo, false
	}
	return "", false
}

func versionOf(r *response) (string, bool) {
	if r.status != http.StatusOK || !r.isJSON() {
		return "", false
	}
	var v struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(r.body, &v) != nil || v.Version == "" {
		return "", false
	}
	return v.Version, true
}
