package providers_test

import (
	"testing"

	"github.com/nix-auth/nix-auth/providers"
)

func TestGitCredential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host, token string
		user, password    string
		ok                bool
	}{
		{"github classic", "github.com", "ghp_abc", "x-access-token", "ghp_abc", true},
		{"github installation token", "github.com", "ghs_abc", "x-access-token", "ghs_abc", true},
		{"github enterprise", "github.example.com", "ghp_abc", "x-access-token", "ghp_abc", true},
		{"gitlab PAT", "gitlab.com", "PAT:glpat-abc", "oauth2", "glpat-abc", true},
		{"gitlab OAuth", "gitlab.com", "OAuth2:oauthtok", "oauth2", "oauthtok", true},
		{"gitlab bare token on gitlab.com", "gitlab.com", "glpat-abc", "oauth2", "glpat-abc", true},
		{"self-hosted gitlab known by its prefix", "gitlab.example.com:8443", "OAuth2:tok", "oauth2", "tok", true},
		{"prefix in another letter case", "gitlab.example.com", "pat:tok", "oauth2", "tok", true},
		{"only a prefix", "gitlab.com", "PAT:", "", "", false},
		{"codeberg", "codeberg.org", "cbtoken", "x-access-token", "cbtoken", true},
		{"gitea", "git.example.com", "gttoken", "x-access-token", "gttoken", true},
		{"sourcehut takes no token over https", "git.sr.ht", "srhttoken", "", "", false},
		{"empty", "github.com", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass, ok := providers.GitCredential(tt.host, tt.token)
			if user != tt.user || pass != tt.password || ok != tt.ok {
				t.Errorf("GitCredential(%q, %q) = %q, %q, %v; want %q, %q, %v",
					tt.host, tt.token, user, pass, ok, tt.user, tt.password, tt.ok)
			}
		})
	}
}
