package providers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/providers"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		target, provider string
		kind             providers.Kind
		host             string
		known            bool
		err              string
	}{
		{target: "github", kind: providers.GitHub, host: "github.com", known: true},
		{target: "gitlab", kind: providers.GitLab, host: "gitlab.com", known: true},
		{target: "codeberg", kind: providers.Forgejo, host: "codeberg.org", known: true},
		{target: "sourcehut", kind: providers.SourceHut, host: "git.sr.ht", known: true},
		{target: "srht", kind: providers.SourceHut, host: "git.sr.ht", known: true},
		{target: "GitHub.com", kind: providers.GitHub, host: "github.com", known: true},
		{target: "https://gitlab.com/", kind: providers.GitLab, host: "gitlab.com", known: true},
		{target: "github.com/NixOS", kind: providers.GitHub, host: "github.com/NixOS", known: true},
		{target: "codeberg.org", provider: "gitea", kind: providers.Gitea, host: "codeberg.org", known: true},
		{target: "git.example.com", host: "git.example.com"},
		{target: "git.example.com:3000", host: "git.example.com:3000"},
		{target: "git.example.com", provider: "forgejo", kind: providers.Forgejo, host: "git.example.com", known: true},
		{target: "git.example.com", provider: "codeberg", kind: providers.Forgejo, host: "git.example.com", known: true},
		{target: "ghe.example.com", provider: "GitHub", kind: providers.GitHub, host: "ghe.example.com", known: true},
		{target: "", err: "no provider or host"},
		{target: "gitea", err: "self-hosted"},
		{target: "forgejo", err: "self-hosted"},
		{target: "github", provider: "gitlab", err: "not gitlab"},
		{target: "gitlab.com", provider: "github", err: "not github"},
		{target: "git.example.com", provider: "bitbucket", err: "unknown provider"},
		{target: "https://user:pw@git.example.com", err: "not a host name"},
		{target: "git.example.com?x=1", err: "not a host name"},
		{target: "ssh://git.example.com", err: "expected a host"},
	}
	for _, tc := range tests {
		kind, host, known, err := providers.Resolve(tc.target, providers.Kind(tc.provider))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Resolve(%q, %q) error = %v, want one containing %q", tc.target, tc.provider, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.kind || host != tc.host || known != tc.known {
			t.Errorf("Resolve(%q, %q) = %q, %q, %v, %v; want %q, %q, %v", tc.target, tc.provider, kind, host, known, err, tc.kind, tc.host, tc.known)
		}
	}
}

func TestNormalizeToken(t *testing.T) {
	tests := []struct {
		kind     providers.Kind
		raw, out string
		err      string
	}{
		{kind: providers.GitLab, raw: "glpat-abcdef", out: "PAT:glpat-abcdef"},
		{kind: providers.GitLab, raw: "  glpat-abcdef\n", out: "PAT:glpat-abcdef"},
		{kind: providers.GitLab, raw: "PAT:glpat-abcdef", out: "PAT:glpat-abcdef"},
		{kind: providers.GitLab, raw: "pat:glpat-abcdef", out: "PAT:glpat-abcdef"},
		{kind: providers.GitLab, raw: "OAuth2:ya29token", out: "OAuth2:ya29token"},
		{kind: providers.GitLab, raw: "oauth2:ya29token", out: "OAuth2:ya29token"},
		{kind: providers.GitLab, raw: "PAT:", err: "nothing after"},
		{kind: providers.GitLab, raw: "  ", err: "empty"},
		{kind: providers.GitHub, raw: "ghp_abcdef\n", out: "ghp_abcdef"},
		{kind: providers.GitHub, raw: "PAT:ghp_abcdef", err: "only GitLab"},
		{kind: providers.Gitea, raw: "0123abcd", out: "0123abcd"},
		{kind: providers.Forgejo, raw: "0123abcd", out: "0123abcd"},
		{kind: providers.SourceHut, raw: "AbCd/xyz==", out: "AbCd/xyz=="},
		{kind: providers.SourceHut, raw: "OAuth2:AbCd", err: "only GitLab"},
		{kind: "bitbucket", raw: "x", err: "unknown provider"},
	}
	for _, tc := range tests {
		out, err := providers.NormalizeToken(tc.kind, tc.raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NormalizeToken(%s, %s) error = %v, want %q", tc.kind, mask(tc.raw), err, tc.err)
			}
			if err != nil && len(strings.TrimSpace(tc.raw)) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tc.raw)) {
				t.Errorf("NormalizeToken(%s) error contains the token", tc.kind)
			}
			continue
		}
		if err != nil || out != tc.out {
			t.Errorf("NormalizeToken(%s, %s) = %s, %v; want %s", tc.kind, mask(tc.raw), mask(out), err, mask(tc.out))
		}
	}
}

func TestNixToken(t *testing.T) {
	tests := []struct {
		kind providers.Kind
		tok  providers.Token
		want string
	}{
		{providers.GitLab, providers.Token{Value: "abc", Type: providers.OAuth}, "OAuth2:abc"},
		{providers.GitLab, providers.Token{Value: "glpat-abc", Type: providers.Personal}, "PAT:glpat-abc"},
		{providers.GitLab, providers.Token{Value: "pat:glpat-abc", Type: providers.OAuth}, "PAT:glpat-abc"},
		{providers.GitHub, providers.Token{Value: "gho_abc", Type: providers.OAuth}, "gho_abc"},
		{providers.Forgejo, providers.Token{Value: "abc", Type: providers.Personal}, "abc"},
		{providers.SourceHut, providers.Token{Value: "abc", Type: providers.Personal}, "abc"},
	}
	for _, tc := range tests {
		p, err := providers.New(tc.kind, "host.example.com", providers.Options{Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.NixToken(&tc.tok); got != tc.want {
			t.Errorf("%s NixToken(%s, %s) = %s, want %s", tc.kind, mask(tc.tok.Value), tc.tok.Type, mask(got), mask(tc.want))
		}
	}
}

func TestNew(t *testing.T) {
	p, err := providers.New(providers.GitHub, "github.com/NixOS", providers.Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind() != providers.GitHub || p.Host() != "github.com/NixOS" {
		t.Errorf("Kind, Host = %s, %s", p.Kind(), p.Host())
	}
	if _, err := providers.New("bitbucket", "bitbucket.org", providers.Options{Now: time.Now}); err == nil {
		t.Error("New accepted an unknown kind")
	}
	if _, err := providers.New(providers.GitHub, "", providers.Options{Now: time.Now}); err == nil {
		t.Error("New accepted an empty host")
	}
}
