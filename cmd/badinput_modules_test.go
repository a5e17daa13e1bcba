package cmd

import "bytes"

func init() { moreBadCases = append(moreBadCases, modulesBadCases) }

// modulesBadCases: the status modes the NixOS, home-manager and nix-darwin
// modules run (--plain for the health check, --expect-recipient at build
// time), fed what an attacker or an accident could put in their files.
func modulesBadCases() []badCase {
	plain := func(name string) []string { return []string{"status", "--plain", "$D/" + name} }
	expect := func(store string, keys ...string) []string {
		args := []string{"status", "--file", "$D/" + store, "--offline"}
		for _, k := range keys {
			args = append(args, "--expect-recipient", k)
		}
		return args
	}
	// The store's key, and one it is not encrypted to.
	good, other := badKeys()[0].Recipient().String(), badKeys()[1].Recipient().String()
	return []badCase{
		{name: "modules/status-plain-injected-token", args: plain("plain.yaml"),
			setup: func(e *badEnv) {
				e.write("plain.yaml", []byte("hosts:\n    github.com:\n        token: \"ghp_plainSECRET\\nextra-substituters = https://evil.example.com\"\n"))
			},
			code: 1, file: "$D/plain.yaml", want: "the token for github.com", hint: "fix the store", secrets: []string{"ghp_plainSECRET", "evil.example.com"}},
		{name: "modules/status-plain-escape-in-host", args: plain("plain.conf"),
			setup: func(e *badEnv) {
				e.write("plain.conf", []byte("access-tokens = git\x1b]0;owned\x07hub.com="+tokConf+"\n"))
			},
			code: 1, file: "$D/plain.conf", want: "", hint: "fix the store", secrets: []string{tokConf, "\x1b]0;owned"}},
		{name: "modules/status-plain-10MB", args: plain("plain.conf"),
			setup: func(e *badEnv) {
				e.write("plain.conf", append([]byte("access-tokens = github.com="+tokConf+"\n"), bytes.Repeat([]byte("#\n"), tenMB/2)...))
			},
			code: 1, file: "$D/plain.conf", want: "too large", hint: "--plain takes", secrets: []string{tokConf}},
		{name: "modules/status-plain-still-encrypted", args: plain("tokens.yaml"), setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "still sops-encrypted", hint: "nix-auth render"},
		{name: "modules/status-plain-no-tokens", args: plain("plain.yaml"),
			setup: func(e *badEnv) { e.write("plain.yaml", []byte("hosts: {}\n")) },
			code:  1, file: "$D/plain.yaml", want: "holds no tokens", hint: "render leaves expired tokens out"},
		{name: "modules/status-plain-missing", args: plain("nothing.conf"),
			code: 1, file: "$D/nothing.conf", want: "no such file"},
		{name: "modules/expect-recipient-missing", args: expect("tokens.yaml", good, other), setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "is not encrypted to age1", hint: "nix-auth rekey"},
		{name: "modules/expect-recipient-age1-in-age-file", args: expect("tokens.age", good), setup: ageStore,
			code: 1, file: "$D/tokens.age", want: "cannot tell whether it is encrypted to age1", hint: "ssh-ed25519 key instead"},
		{name: "modules/expect-recipient-truncated-age", args: expect("tokens.age", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIfk0fmmTiNTRp7QRg7xMjpgQnIcEX8vg7Tfi0xMU7i7"),
			// Cut inside the header: the recipients cannot be read.
			setup: then(ageStore, func(e *badEnv) { e.edit("tokens.age", func(b []byte) []byte { return b[:40] }) }),
			code:  1, file: "$D/tokens.age", want: "", hint: "restore it from version control"},
		{name: "modules/expect-recipient-not-a-key", args: expect("tokens.yaml", "ssh-ed25519 AAAA"), setup: sopsStore,
			code: 1, want: "invalid ssh public key"},
		{name: "modules/expect-recipient-rsa-key", args: expect("tokens.yaml", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDdkPIvYEXlKEzJ9ZfCnrI4Bp8nM0Ug27aS/6ZsD3zD2UHaKwRyGhJb4Zn5kh2oKjcBL3xD9ShhW1/0Tv52NqS6Jp0q1P6Cbe5AqnpsaS2xEPHBlwEOZC6xU9Jul7Je5GHy4bxeC5W4Vmh2OlUh/ueB8eqNQAEq1g9AyZYH6Kw8vQ=="), setup: sopsStore,
			code: 1, want: "ssh-rsa key refused", hint: "ssh-ed25519"},
		{name: "modules/expect-recipient-with-hosts", args: append(expect("tokens.yaml", good), "github.com"), setup: sopsStore,
			code: 2, want: "only checks the recipients"},
	}
}
