package cmd

import (
	"os"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

func init() { moreBadCases = append(moreBadCases, lifecycleBadCases) }

// Tokens and paths of the lifecycle cases; none of the tokens may be
// printed.
const (
	lifeGitHub   = "ghp_lifeSECRET0123456789abcdefghij"
	lifeGitLab   = "glpat-lifeSECRET0123456789"
	lifeJobToken = "glcbt-64_lifeSECRETjob0123456789"
	lifeRefresh  = "refreshSECRET0123456789"
	statePath    = "$D/home/.config/nix/nix-auth-state.json"
)

// lifeConfig gives the user's config a GitHub token (which the fake
// forge accepts) in login's tokens file, and a GitLab OAuth token with
// its refresh token in the state file.
func lifeConfig(e *badEnv) {
	e.nixConf("!include access-tokens.conf\n")
	e.write("home/.config/nix/access-tokens.conf", []byte("access-tokens = github.com="+lifeGitHub+" gitlab.com=OAuth2:"+lifeGitLab+"\n"))
	e.fake.AddToken(forgetest.Token{Value: lifeGitHub, User: "octocat", Scopes: []string{"repo"}})
}

// lifeState writes the state file beside the tokens.
func lifeState(content string) func(e *badEnv) {
	return func(e *badEnv) { e.write(statePath, []byte(content)) }
}

func lifecycleBadCases() []badCase {
	logoutRevoke := []string{"logout", "github.com", "--revoke"}
	return []badCase{
		// A revocation the forge refuses removes nothing.
		{name: "lifecycle/logout-revoke-forge-500", args: logoutRevoke,
			setup: then(lifeConfig, forgeFail("api.github.com", "/credentials/revoke", forgetest.Fail500)),
			code:  1, want: "could not revoke the token for github.com: api.github.com answered 500", hint: "--revoke --force", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/logout-revoke-forge-unreachable", args: logoutRevoke,
			setup: then(lifeConfig, forgeFail("api.github.com", "/credentials/revoke", forgetest.FailDrop)),
			code:  1, want: "POST /credentials/revoke failed", hint: "revoke it by hand at https://github.com/settings/tokens", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/logout-revoke-redirect", args: logoutRevoke,
			setup: then(lifeConfig, forgeFail("api.github.com", "/credentials/revoke", forgetest.FailRedirect)),
			code:  1, want: "refused a redirect", hint: "--revoke --force", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/logout-revoke-hostile-message", args: logoutRevoke,
			setup: then(lifeConfig, respond("api.github.com", "/credentials/revoke", 422, `{"message":`+hostileJSON+`}`)),
			code:  1, want: `422 Unprocessable Entity to POST /credentials/revoke: evil\x1b[2J`, hint: "--revoke --force", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/logout-revoke-oauth-still-valid", args: []string{"logout", "gitlab.com", "--revoke"},
			setup: then(lifeConfig, func(e *badEnv) {
				e.fake.AddToken(forgetest.Token{Value: lifeGitLab, OAuth: true, User: "erin"})
				e.fake.Respond("gitlab.com", "/oauth/revoke", forgetest.Answer{Header: map[string]string{"Content-Type": "application/json"}, Body: "{}"})
			}),
			code: 1, want: "the token still works", hint: "https://gitlab.com/-/user_settings/applications", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/logout-revoke-not-a-forge", args: []string{"logout", "example.org", "--revoke"},
			setup: func(e *badEnv) {
				e.nixConf("!include access-tokens.conf\n")
				e.write("home/.config/nix/access-tokens.conf", []byte("access-tokens = example.org="+lifeGitHub+"\n"))
			},
			code: 1, want: "could not tell which forge example.org runs", hint: "--revoke --force", secrets: []string{lifeGitHub}},
		{name: "lifecycle/logout-force-without-revoke", args: []string{"logout", "github.com", "--force"}, setup: lifeConfig,
			code: 2, want: "--force only applies with --revoke", secrets: []string{lifeGitHub, lifeGitLab}},

		// rotate: nothing to rotate, or nothing new.
		{name: "lifecycle/rotate-no-token", args: []string{"rotate", "codeberg", "--token-stdin"}, setup: lifeConfig, stdin: tokForge,
			code: 1, file: nixConfPath, want: "has no token for codeberg.org", hint: "nix-auth login codeberg.org", secrets: []string{lifeGitHub, lifeGitLab, tokForge}},
		{name: "lifecycle/rotate-same-token", args: []string{"rotate", "github.com", "--token-stdin"}, setup: lifeConfig, stdin: lifeGitHub,
			code: 1, want: "is the one already saved", hint: "create a new token", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/rotate-job-token", args: []string{"rotate", "gitlab.com", "--token-stdin"}, setup: lifeConfig, stdin: lifeJobToken,
			code: 1, want: "GitLab CI/CD job token (CI_JOB_TOKEN), which Nix cannot use", hint: "read_api", secrets: []string{lifeGitHub, lifeGitLab, lifeJobToken}},
		{name: "lifecycle/rotate-token-on-argv", args: []string{"rotate", "github.com", lifeGitHub},
			code: 2, want: "looks like a token", hint: "revoke it at the forge", secrets: []string{lifeGitHub}},
		{name: "lifecycle/rotate-store-missing", args: []string{"rotate", "github.com", "--token-stdin", "--encrypt-to", "$D/missing.yaml"}, stdin: lifeGitHub,
			code: 1, file: "$D/missing.yaml", want: "no such file", hint: "create the store", secrets: []string{lifeGitHub}},

		// CI: a job token is not saved.
		{name: "lifecycle/set-token-job-token", args: []string{"set-token", "gitlab.com"}, stdin: lifeJobToken,
			code: 1, want: "which Nix cannot use", hint: "masked CI/CD variable", secrets: []string{lifeJobToken}},
		{name: "lifecycle/set-token-job-token-typed", args: []string{"set-token", "gitlab.com", "--no-validate"}, stdin: "PAT:" + lifeJobToken,
			code: 1, want: "which Nix cannot use", hint: "read_api", secrets: []string{lifeJobToken}},

		// The state file is nix-auth's own, and checked as such.
		{name: "lifecycle/refresh-state-not-json", args: []string{"refresh"}, setup: then(lifeConfig, lifeState("refresh_token = "+lifeRefresh+"\n")),
			code: 1, file: statePath, want: "not a state file nix-auth wrote (malformed JSON at byte 1)", hint: "move it away", secrets: []string{lifeGitHub, lifeGitLab, lifeRefresh}},
		{name: "lifecycle/status-state-unknown-version", args: []string{"status"}, setup: then(lifeConfig, lifeState(`{"version":7,"hosts":{}}`)),
			code: 1, file: statePath, want: "state format 7", hint: "move it away", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/set-token-state-symlink", args: []string{"set-token", "github.com"}, stdin: lifeGitHub,
			setup: then(lifeConfig, func(e *badEnv) {
				target := e.write("elsewhere.json", []byte(`{"version":1,"hosts":{}}`))
				if err := os.Symlink(target, e.path(statePath)); err != nil {
					e.t.Fatal(err)
				}
			}),
			code: 1, file: statePath, want: "symlink", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/login-state-too-large", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(lifeConfig, withToken, func(e *badEnv) {
				e.stdin = []byte(tokForge)
				e.write(statePath, append([]byte(`{"version":1,"hosts":{}}`), make([]byte, 2<<20)...))
			}),
			code: 1, file: statePath, want: "larger than", hint: "move it away", secrets: []string{lifeGitHub, lifeGitLab, tokForge}},
		{name: "lifecycle/refresh-within-negative", args: []string{"refresh", "--within", "-1h"}, setup: lifeConfig,
			code: 2, want: "--within must not be negative", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/refresh-no-refresh-token", args: []string{"refresh", "github.com"}, setup: lifeConfig,
			code: 1, file: nixConfPath, want: "has no refresh token", hint: "nix-auth set-token github.com`", secrets: []string{lifeGitHub, lifeGitLab}},

		// token: only what can be printed safely, from where Nix reads.
		{name: "lifecycle/token-no-host", args: []string{"token", "codeberg.org"}, setup: lifeConfig,
			code: 1, file: nixConfPath, want: "no token for codeberg.org", hint: "nix-auth status", secrets: []string{lifeGitHub, lifeGitLab}},
		{name: "lifecycle/token-file-wrong-key", args: []string{"token", "github.com", "--file", "$D/tokens.yaml", "--identity", "$D/wrong.key"}, setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "none of the identities", hint: "wrong.key"},
		{name: "lifecycle/token-file-unknown-format", args: []string{"token", "github.com", "--file", "$D/tokens.txt"},
			code: 2, file: "$D/tokens.txt", want: "unknown encrypted store format"},
		{name: "lifecycle/token-control-character", args: []string{"token", "example.org"},
			setup: func(e *badEnv) { e.nixConf("access-tokens = example.org=abc\x1b]0;ctrlSECRET\x07\n") },
			code:  1, want: "not printed", hint: "nix-auth set-token example.org", secrets: []string{"ctrlSECRET", "\x1b"}},
		{name: "lifecycle/token-injected-host", args: []string{"token", "github.com\nextra-substituters = https://evil.example.com"}, setup: lifeConfig,
			code: 2, want: "expected a host", secrets: []string{lifeGitHub, lifeGitLab}},
	}
}
