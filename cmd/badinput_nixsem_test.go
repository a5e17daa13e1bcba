package cmd

import (
	"bytes"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/nixconf"
)

func init() { moreBadCases = append(moreBadCases, nixsemCases) }

// Paths and secrets of the nixsem rows.
const (
	tokensConfPath = "$D/home/.config/nix/access-tokens.conf"
	systemConfPath = "$D/etc/nix/nix.conf"
	tokLogin       = "ghp_loginSECRET0123456789abcdefghijklm"
	tokSystem      = "systemSECRET0123456789abcdef"
	tokEnv         = "envSECRET0123456789abcdefghij"
	tokPlain       = "plainSECRET0123456789abcdefgh"
)

// loginFile writes the access-tokens.conf that login made.
func loginFile(e *badEnv) {
	e.write(tokensConfPath, []byte("# Access tokens for Nix, written by nix-auth login, set-token and logout, and included from nix.conf.\n"+
		"extra-access-tokens = github.com="+tokLogin+"\n"))
	e.nixConf("!include access-tokens.conf\n")
}

// renderedTokensFile writes an access-tokens.conf that an older render made.
func renderedTokensFile(e *badEnv) {
	e.write(tokensConfPath, []byte(nixconf.RenderHeader("/etc/tokens.yaml")+"extra-access-tokens = github.com="+tokLogin+"\n"))
	e.nixConf("!include access-tokens.conf\n")
}

// systemConf writes the system's nix.conf, with a token.
func systemConf(e *badEnv) {
	e.write(systemConfPath, []byte("access-tokens = sys.example.com="+tokSystem+"\n"))
}

// ageStoreWithPlaintext encrypts plain to the good key as tokens.age, as
// `agenix -e` would leave it after a hand edit.
func ageStoreWithPlaintext(plain string) func(e *badEnv) {
	return func(e *badEnv) {
		e.keys()
		var out bytes.Buffer
		aw := armor.NewWriter(&out)
		w, err := age.Encrypt(aw, badKeys()[0].Recipient())
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := w.Write([]byte(plain)); err != nil {
			e.t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			e.t.Fatal(err)
		}
		if err := aw.Close(); err != nil {
			e.t.Fatal(err)
		}
		e.write("tokens.age", out.Bytes())
	}
}

func nixsemCases() []badCase {
	noSpaces := "# nix-auth: host=github.com provider=github\naccess-tokens=github.com=" + tokPlain + "\n"
	return []badCase{
		// Two writers, two files: render never writes login's file, login
		// never edits render's.
		{name: "nixsem/render-output-is-logins-file", args: []string{"render", "--plain", "$D/plain.yaml", "--output", tokensConfPath},
			setup: then(loginFile, func(e *badEnv) {
				e.write("plain.yaml", []byte("hosts:\n  gitlab.com:\n    token: "+tokPlain+"\n"))
			}),
			code: 1, file: tokensConfPath, want: "was written by `nix-auth login`", hint: "let render write its own file", secrets: []string{tokLogin, tokPlain}},
		{name: "nixsem/render-output-made-by-hand", args: []string{"render", "--plain", "$D/plain.yaml", "--output", nixConfPath},
			setup: func(e *badEnv) {
				e.write("plain.yaml", []byte("hosts:\n  gitlab.com:\n    token: "+tokPlain+"\n"))
			},
			code: 1, file: nixConfPath, want: "was written by hand", hint: "render write its own file", secrets: []string{tokPlain}},
		{name: "nixsem/set-token-into-renders-file", args: []string{"set-token", "example.org", "--no-validate"}, setup: then(renderedTokensFile, withToken),
			code: 1, file: tokensConfPath, want: "was written by `nix-auth render`", hint: "render writes access-tokens.rendered.conf", secrets: []string{tokLogin, tokStdin}},
		{name: "nixsem/logout-from-renders-file", args: []string{"logout", "github.com"}, setup: renderedTokensFile,
			code: 1, file: tokensConfPath, want: "was written by `nix-auth render`", hint: "render writes access-tokens.rendered.conf", secrets: []string{tokLogin}},

		// An .age plaintext Nix refuses: refused as Nix refuses it.
		{name: "nixsem/render-age-access-tokens-no-spaces", args: []string{"render", "$D/tokens.age", "--identity", "$D/good.key", "--output", "$D/out/a.conf"},
			setup: ageStoreWithPlaintext(noSpaces),
			code:  1, file: "$D/tokens.age", want: "line 2 of its plaintext", hint: "spaces around the first '='", secrets: []string{tokPlain}},
		{name: "nixsem/status-file-age-access-tokens-no-spaces", args: []string{"status", "--file", "$D/tokens.age", "--identity", "$D/good.key"},
			setup: ageStoreWithPlaintext(noSpaces),
			code:  1, file: "$D/tokens.age", want: "line 2 of its plaintext", hint: "agenix -e", secrets: []string{tokPlain}},
		{name: "nixsem/set-token-encrypted-age-no-spaces", args: []string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/tokens.age", "--identity", "$D/good.key"},
			setup: then(ageStoreWithPlaintext(noSpaces), withToken),
			code:  1, file: "$D/tokens.age", want: "line 2 of its plaintext", hint: "agenix -e", secrets: []string{tokPlain, tokStdin}},
		{name: "nixsem/render-plain-access-tokens-no-spaces", args: []string{"render", "--plain", "$D/agenix-plain", "--output", "$D/out/a.conf"},
			setup: func(e *badEnv) { e.write("agenix-plain", []byte(noSpaces)) },
			code:  1, file: "$D/agenix-plain", want: "line 2 of its plaintext", hint: "spaces around the first '='", secrets: []string{tokPlain}},
		{name: "nixsem/render-plain-token-number", args: []string{"render", "--plain", "$D/plain.yaml", "--output", "$D/out/a.conf"},
			setup: func(e *badEnv) { e.write("plain.yaml", []byte("hosts:\n  github.com:\n    token: 0123456789012345\n")) },
			code:  1, file: "$D/plain.yaml", want: "token is not a string", hint: "sops edit", secrets: []string{"0123456789012345"}},

		// Dot segments in hosts, refused by the one validator everywhere.
		{name: "nixsem/set-token-encrypted-dot-dot-host", args: []string{"set-token", "evil.test/../x", "--no-validate", "--encrypt-to", "$D/tokens.yaml"},
			setup: then(sopsStore, withToken),
			code:  2, want: "'..' part", secrets: []string{tokStdin}},
		{name: "nixsem/login-dot-host", args: []string{"login", "git.example.com/./x", "--provider", "gitea", "--token-stdin"}, setup: withToken,
			code: 2, want: "'..' part", secrets: []string{tokStdin}},
		{name: "nixsem/logout-dot-dot-host", args: []string{"logout", "github.com/org/.."}, setup: loginFile,
			code: 2, want: "'..' part", secrets: []string{tokLogin}},

		// NIX_CONFIG, applied after every file, would override the token:
		// refused before the token is read or a flow starts.
		{name: "nixsem/set-token-nix-config-overrides", args: []string{"set-token", "github.com"},
			env:   map[string]string{"NIX_CONFIG": "access-tokens = github.com=" + tokEnv},
			setup: withToken,
			code:  1, file: tokensConfPath, want: "because of other access-tokens lines: NIX_CONFIG", hint: "unset NIX_CONFIG", secrets: []string{tokEnv, tokStdin}},
		{name: "nixsem/login-nix-config-overrides-before-device-flow", args: []string{"login", "github", "--no-browser"},
			env: map[string]string{"NIX_CONFIG": "access-tokens = other.example.org=" + tokEnv},
			setup: func(e *badEnv) {
				e.fake.ScriptDevice("github.com", forgetest.DeviceScript{Token: forgetest.Token{Value: tokStdin, User: "octocat"}})
			},
			code: 1, file: tokensConfPath, want: "NIX_CONFIG", hint: "unset NIX_CONFIG", secrets: []string{tokEnv, tokStdin}},
		{name: "nixsem/status-nix-config-refused-by-nix", args: []string{"status"},
			env:  map[string]string{"NIX_CONFIG": "access-tokens=github.com=" + tokEnv},
			code: 1, want: "NIX_CONFIG:1: not a `name = value` line", hint: "spaces around '='", secrets: []string{tokEnv}},
		{name: "nixsem/nix-user-conf-files-empty", args: []string{"set-token", "github.com"},
			env: map[string]string{"NIX_USER_CONF_FILES": ""}, setup: withToken,
			code: 1, want: "NIX_USER_CONF_FILES is set but names no file", hint: "unset NIX_USER_CONF_FILES", secrets: []string{tokStdin}},

		// The system's token is not the user's to remove.
		{name: "nixsem/logout-system-token", args: []string{"logout", "sys.example.com"}, setup: systemConf,
			code: 1, file: systemConfPath + ":1", want: "which nix-auth does not manage", hint: "system's config", secrets: []string{tokSystem}},
	}
}
