package providers

import (
	"errors"
	"strings"
	"testing"
)

func TestLooksLikeToken(t *testing.T) {
	tokens := []string{
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
		"gho_16C7e42F292c6912E7710c838347Ae178B4a",
		"ghs_16C7e42F292c6912E7710c838347Ae178B4a",
		"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
		"GHP_16C7E42F292C6912E7710C838347AE178B4A", // shouted
		"glpat-xxxxxxxxxxxxxxxxxxxx",
		"glpat-Ab3dEf6hIj9kLm2nOp5q",
		"gldt-Ab3dEf6hIj9kLm2nOp5q",
		"glrt-Ab3dEf6hIj9kLm2nOp5q",
		"GR1348941Ab3dEf6hIj9kLm2nOp5q",
		"PAT:glpat-Ab3dEf6hIj9kLm2nOp5q",
		"OAuth2:0123456789abcdef",
		"0123456789abcdef0123456789abcdef01234567",                         // Gitea/Forgejo: 40 hex
		"3e0b6b6a5a0c3f1e9d2c7b8a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e", // GitLab OAuth: 64 hex
		"AGXvWwEAAAAAAAABAAAAADwnJ0dG8tbmFtZWRfZm9yX25peC1hdXRoOkdu",       // SourceHut-like base64
		"https://ghp_16C7e42F292c6912E7710c838347Ae178B4a",
		"github.com/ghp_16C7e42F292c6912E7710c838347Ae178B4a",
		"git.example.com/0123456789abcdef0123456789abcdef01234567",
		"k8Jd2LqP9xZ4mN7vB1cR5tY3wE6",
		"  ghp_16C7e42F292c6912E7710c838347Ae178B4a\n",
	}
	for _, s := range tokens {
		if !LooksLikeToken(s) {
			t.Errorf("%q not recognised as a token", s)
		}
	}
	hosts := []string{
		"github", "gitlab", "codeberg", "sourcehut", "srht", "gitea", "forgejo",
		"github.com", "GitHub.com", "gitlab.com", "git.sr.ht", "codeberg.org",
		"git.example.com", "git.example.com:8443", "https://git.example.com/", "localhost", "localhost:3000",
		"192.168.1.10:3000", "[::1]:8443", "github.com/NixOS", "gitlab.com/my-org/sub-group",
		"my-internal-gitlab-instance", "gitea-server-01", "build-server-2024-runner-01",
		"SomeLongOrganizationName2024", "github.com/SomeLongOrganizationName2024",
		"ghp", "ghp_short", "glpat-short", "glpat-mirror.example.com",
		"deadbeefcafe.example.com",
		"0123456789abcdef0123456789abcdef01234567.example.com", // hex, but a host
		"a1a1a1a1a1a1a1a1a1a1a1a1",                             // alternates, but no randomness
		"",
	}
	for _, s := range hosts {
		if LooksLikeToken(s) {
			t.Errorf("%q taken for a token", s)
		}
	}
}

// TestResolveRefusesTokens: every command parses hosts with Resolve, which
// refuses a token-shaped argument (or --provider) before it normalises,
// probes or echoes anything.
func TestResolveRefusesTokens(t *testing.T) {
	const tok = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
	for _, c := range []struct{ target, provider string }{
		{tok, ""}, {"https://" + tok, ""}, {tok, "github"}, {"git.example.com", tok}, {strings.ToUpper(tok), ""},
	} {
		_, _, _, err := Resolve(c.target, Kind(c.provider))
		if !errors.Is(err, ErrTokenArgument) {
			t.Errorf("Resolve(%q, %q) = %v, want ErrTokenArgument", c.target, c.provider, err)
			continue
		}
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tok[4:12])) {
			t.Errorf("the error echoes the token: %v", err)
		}
	}
}

func TestHideTokens(t *testing.T) {
	const tok = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
	for in, want := range map[string]string{
		"error: " + tok: "error: [hidden]",
		`error: "` + tok + `" at secrets.nix:3:5`:           "error: [hidden] at secrets.nix:3:5",
		"error: access-tokens = github.com=" + tok + " x":   "error: access-tokens = [hidden] x",
		"error: undefined variable 'pkgs' at secrets.nix:1": "error: undefined variable 'pkgs' at secrets.nix:1",
	} {
		if got := HideTokens(in); got != want {
			t.Errorf("HideTokens(%q) = %q, want %q", in, got, want)
		}
	}
}
