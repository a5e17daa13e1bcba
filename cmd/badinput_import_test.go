package cmd

import (
	"bytes"
	"syscall"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

func init() { moreBadCases = append(moreBadCases, importBadCases) }

// importBadCases: import fed secrets files that are damaged, hostile or
// hold nothing to import, and forges that refuse. Each fails naming the
// file, writes nothing (neither the Nix config nor the store), and never
// shows a value from the file.
func importBadCases() []badCase {
	const (
		tokGH  = "ghp_importSECRET0123456789abcdefghij"
		tokOth = "otherSECRET-0123456789"
	)
	imp := func(extra ...string) []string { return append([]string{"import", "$D/secrets.json"}, extra...) }
	file := func(content string) func(e *badEnv) {
		return func(e *badEnv) { e.write("secrets.json", []byte(content)) }
	}
	return []badCase{
		{name: "import/forge-rejects", args: imp(), setup: file(`{"github": {"oauth_token": "` + tokGH + `"}}`),
			code: 1, want: "github.com rejected the token", hint: "--no-validate", secrets: []string{tokGH}},
		{name: "import/forge-500", args: imp(),
			setup: then(file(`{"github": {"oauth_token": "`+tokGH+`"}}`), forgeFail("api.github.com", "/user", forgetest.Fail500)),
			code:  1, want: "could not validate the token for github.com", hint: "--no-validate", secrets: []string{tokGH}},
		// A rejected token among good ones: nothing is written, the good
		// one neither.
		{name: "import/all-or-nothing", args: imp(),
			setup: then(withToken, file(`{"codeberg": "`+tokForge+`", "github": "`+tokGH+`"}`)),
			code:  1, want: "github.com rejected the token", hint: "leave it out of", secrets: []string{tokGH, tokForge}},
		{name: "import/nothing-to-import", args: imp(), setup: file(`{"tailscale": {"authkey": "tskey-SECRET"}, "smtp": "` + tokOth + `"}`),
			code: 1, file: "$D/secrets.json", want: "no forge token to import", hint: "oauth_token", secrets: []string{"tskey-SECRET", tokOth}},
		{name: "import/injected-token", args: imp("--no-validate"),
			setup: file(`{"github": "ghp_abcSECRET\nextra-substituters = https://evil.example.com"}`),
			code:  1, file: "$D/secrets.json", want: "no forge token to import", hint: "oauth_token", secrets: []string{"ghp_abcSECRET", "evil.example.com"}},
		{name: "import/escape-in-key", args: imp("--no-validate"),
			setup: file(`{"git\u001b]0;owned\u0007hub.com": "` + tokOth + `"}`),
			code:  1, file: "$D/secrets.json", want: "no forge token", hint: "oauth_token", secrets: []string{tokOth, "\x1b]0;owned"}},
		{name: "import/not-json", args: imp(), setup: file(`{"github": {"oauth_token": "` + tokGH + `"`),
			code: 1, file: "$D/secrets.json", want: "not a YAML or JSON mapping", hint: "oauth_token", secrets: []string{tokGH}},
		{name: "import/single-token", args: imp(), setup: file(tokGH + "\n"),
			code: 1, file: "$D/secrets.json", want: "not a YAML or JSON mapping", hint: "oauth_token", secrets: []string{tokGH}},
		{name: "import/duplicate-key", args: imp(), setup: file(`{"github": "` + tokGH + `", "github": "` + tokOth + `"}`),
			code: 1, file: "$D/secrets.json", want: "not a YAML or JSON mapping", hint: "oauth_token", secrets: []string{tokGH, tokOth}},
		{name: "import/10MB", args: imp(), setup: func(e *badEnv) {
			e.write("secrets.json", append([]byte(`{"github": "`+tokGH+`", "x": "`), bytes.Repeat([]byte("a"), tenMB)...))
		},
			code: 1, file: "$D/secrets.json", want: "larger than 4 MiB", hint: "holds the tokens", secrets: []string{tokGH}},
		{name: "import/fifo", args: imp(), setup: func(e *badEnv) {
			if err := syscall.Mkfifo(e.path("secrets.json"), 0o600); err != nil {
				e.t.Fatal(err)
			}
		},
			code: 1, file: "$D/secrets.json", want: "a FIFO, not a regular file"},
		{name: "import/git-crypt-locked", args: imp(), setup: file("\x00GITCRYPT\x00" + tokGH),
			code: 1, file: "$D/secrets.json", want: "locked", hint: "git-crypt unlock", secrets: []string{tokGH}},
		{name: "import/sops-wrong-key", args: []string{"import", "$D/tokens.yaml"},
			env: map[string]string{"SOPS_AGE_KEY_FILE": "$D/wrong.key"}, setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "none of the identities", hint: "wrong.key"},
		{name: "import/sops-mac-tampered", args: []string{"import", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(sopsStore, func(e *badEnv) {
				e.edit("tokens.yaml", func(b []byte) []byte { return swapAfter(e.t, b, "mac: ENC[AES256_GCM,data:", 5) })
			}),
			code: 1, file: "$D/tokens.yaml", want: "MAC mismatch", hint: "restore it from version control"},
		{name: "import/age-truncated", args: []string{"import", "$D/tokens.age", "--identity", "$D/good.key"},
			setup: then(ageStore, truncate("tokens.age")),
			code:  1, file: "$D/tokens.age", want: "truncated", hint: "restore it from version control"},
		// The sink refuses before a forge is asked: nix.conf Nix would refuse.
		{name: "import/nixconf-name=value", args: imp(), setup: then(confNoSpaces, file(`{"github": "`+tokGH+`"}`)),
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf, tokGH}},
		{name: "import/encrypt-to-unknown-extension", args: imp("--encrypt-to", "$D/tokens.txt"), setup: file(`{"github": "` + tokGH + `"}`),
			code: 2, file: "$D/tokens.txt", want: "unknown encrypted store format", hint: "secrets/tokens.yaml", secrets: []string{tokGH}},
		{name: "import/missing", args: imp(),
			code: 1, file: "$D/secrets.json", want: "no such file", hint: "check the path"},
		{name: "import/no-file", args: []string{"import"},
			code: 2, want: "accepts 1 arg"},
	}
}
