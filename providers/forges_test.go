package providers_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/providers"
)

// TestForgeTable: every row is whole, and every name in it resolves to
// its row, so that a new row cannot be half-added.
func TestForgeTable(t *testing.T) {
	seen := map[string]providers.Kind{}
	for _, f := range providers.Forges() {
		if !f.Kind.Known() || f.Title == "" || len(f.Names) == 0 || f.Names[0] != string(f.Kind) {
			t.Errorf("%s: incomplete row %+v", f.Kind, f)
		}
		if f.NoRevoke == "" || (f.RevokePage == nil && f.Netrc != providers.OnlyNetrc) {
			t.Errorf("%s: a row needs its revocation page (a cache has none nix-auth knows), and why a token may have to be revoked by hand", f.Kind)
		}
		for _, rv := range f.Revokers {
			if rv.Method == "" || !strings.HasPrefix(rv.Path, "/") || len(rv.Done)+len(rv.Accepted) == 0 {
				t.Errorf("%s: incomplete revoker %+v", f.Kind, rv)
			}
			for _, p := range rv.Prefixes {
				if !slices.ContainsFunc(f.TokenPrefixes, func(tp providers.TokenPrefix) bool { return tp.Prefix == p }) {
					t.Errorf("%s: a revoker takes %s, which is not one of the forge's token prefixes", f.Kind, p)
				}
			}
		}
		switch {
		case f.Netrc == providers.OnlyNetrc:
			// A binary cache: no token page nix-auth knows, no OAuth,
			// nothing for Nix's fetchers or git.
			if f.TokenPage != nil || f.Instructions != nil || f.DeviceFlow != nil || len(f.Fetchers) > 0 || f.GitUser != "" {
				t.Errorf("%s: a cache row with a forge's fields %+v", f.Kind, f)
			}
		case f.TokenPage == nil:
			t.Errorf("%s: no token page", f.Kind)
		case (f.DeviceFlow == nil) == (f.Instructions == nil):
			t.Errorf("%s: a forge without a device flow needs personal-token instructions, and only it", f.Kind)
		}
		names := slices.Clone(f.Names)
		for _, p := range f.Public {
			names = append(names, p.Names...)
			kind, host, known, err := providers.Resolve(p.Host, "")
			if err != nil || !known || kind != f.Kind || host != p.Host {
				t.Errorf("%s: Resolve(%s) = %s, %s, %v, %v", f.Kind, p.Host, kind, host, known, err)
			}
		}
		for _, n := range names {
			if k, ok := seen[n]; ok && k != f.Kind {
				t.Errorf("%q names both %s and %s", n, k, f.Kind)
			}
			seen[n] = f.Kind
			if _, _, _, err := providers.Resolve("git.example.com", providers.Kind(n)); err != nil {
				t.Errorf("--provider %s: %v", n, err)
			}
		}
		for _, p := range f.TokenPrefixes {
			tok := p.Prefix + strings.Repeat("aB3", 12)
			if !providers.LooksLikeToken(tok) || !strings.HasPrefix(providers.MaskToken(tok), p.Prefix+"…") {
				t.Errorf("%s: a %s token is not recognised or not masked with its prefix", f.Kind, p.Prefix)
			}
		}
	}
	if providers.Kind("bitbucket").Known() {
		t.Error("bitbucket is known")
	}
	if got := strings.Join(providers.Names(), ","); got != "github,gitlab,gitea,forgejo,sourcehut,cache,codeberg" {
		t.Errorf("Names = %s", got)
	}
	if got := strings.Join(providers.HostNames(), ","); got != "github,gitlab,codeberg,sourcehut" {
		t.Errorf("HostNames = %s", got)
	}
	if providers.DefaultClientID("gitlab.com/group") != providers.DefaultGitLabClientID || providers.DefaultClientID("gitlab.example.com") != "" {
		t.Error("DefaultClientID")
	}
}

func TestMaskToken(t *testing.T) {
	cases := map[string]string{
		"":                                         "",
		"ghp_0123456789abcdefghijWXYZ":             "ghp_…WXYZ",
		"github_pat_11AAAAAA_0123456789abcdwxyz":   "github_pat_…wxyz",
		"gho_0123456789abcdefwxyz":                 "gho_…wxyz",
		"PAT:glpat-0123456789abcdefwxyz":           "PAT:glpat-…wxyz",
		"OAuth2:0123456789abcdef0123456789abwxyz":  "OAuth2:…wxyz",
		"OAuth2:gloas-0123456789abcdefwxyz":        "OAuth2:gloas-…wxyz",
		"0123456789abcdef0123456789abcdef01234567": "…4567",
		"short":                          "…",
		"ghp_short":                      "ghp_…",
		"pat:glpat-0123456789abcdefwxyz": "…wxyz",
	}
	for in, want := range cases {
		if got := providers.MaskToken(in); got != want {
			t.Errorf("MaskToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseToken(t *testing.T) {
	for _, tc := range []struct {
		kind      providers.Kind
		raw       string
		value     string
		typ       providers.TokenType
		nixFromIt string
	}{
		{providers.GitLab, " glpat-pasted\n", "glpat-pasted", providers.Personal, "PAT:glpat-pasted"},
		{providers.GitLab, "OAuth2:gloat-pasted", "gloat-pasted", providers.OAuth, "OAuth2:gloat-pasted"},
		{providers.GitLab, "oauth2:gloat-pasted", "gloat-pasted", providers.OAuth, "OAuth2:gloat-pasted"},
		{providers.GitHub, "ghp_pasted", "ghp_pasted", providers.Personal, "ghp_pasted"},
	} {
		tok, err := providers.ParseToken(tc.kind, tc.raw)
		if err != nil || tok.Value != tc.value || tok.Type != tc.typ {
			t.Errorf("ParseToken(%s, %s) = %+v, %v", tc.kind, mask(tc.raw), tok, err)
			continue
		}
		p, err := providers.New(tc.kind, "host.example.com", providers.Options{Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.NixToken(tok); got != tc.nixFromIt {
			t.Errorf("NixToken(ParseToken(%s, %s)) = %s, want %s", tc.kind, mask(tc.raw), mask(got), mask(tc.nixFromIt))
		}
	}
	if _, err := providers.New(providers.GitHub, "github.com", providers.Options{}); err == nil {
		t.Error("New without a clock")
	}
}
