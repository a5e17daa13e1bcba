package cmd

import (
	"bytes"
	"os"
	"os/exec"
	"time"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/tooltest"
)

func init() { moreBadCases = append(moreBadCases, sopsBadCases) }

// tokClear is a token that a sops file's own rules left in clear text.
const tokClear = "ghp_clearSECRET0123456789abcdefghijklm"

// sopsEncrypted writes tokens.yaml with the real sops (tools/go.mod) to
// the good key under rule (a .sops.yaml creation-rule line), from plain.
func sopsEncrypted(rule, plain string) func(e *badEnv) {
	return func(e *badEnv) {
		e.t.Helper()
		e.keys()
		sops := tooltest.ToolPath(e.t, "sops")
		e.write("src/.sops.yaml", []byte("creation_rules:\n  - age: "+badKeys()[0].Recipient().String()+"\n    "+rule+"\n"))
		p := e.write("src/tokens.yaml", []byte(plain))
		cmd := exec.Command(sops, "encrypt", "-i", p)
		cmd.Dir = e.path("src")
		cmd.Env = []string{"HOME=" + e.path("home"), "PATH=" + os.Getenv("PATH")}
		if out, err := cmd.CombinedOutput(); err != nil {
			e.t.Fatalf("sops encrypt: %v\n%s", err, out)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		e.write("tokens.yaml", data)
		if err := os.RemoveAll(e.path("src")); err != nil {
			e.t.Fatal(err)
		}
	}
}

// datedStore is a store nix-auth wrote whose token was created at created
// and expires at expires.
func datedStore(created, expires time.Time) func(e *badEnv) {
	return func(e *badEnv) {
		e.t.Helper()
		e.keys()
		f, err := crypt.Create(e.path("tokens.yaml"), []crypt.Recipient{{Age: badKeys()[0].Recipient().String()}}, crypt.CreateOptions{Now: time.Now})
		if err != nil {
			e.t.Fatal(err)
		}
		err = f.Put(crypt.Entry{Host: "github.com", Token: e.secret("ghp_datedSECRET0123456789abcdefghijklm"),
			Provider: "github", User: "octocat", Created: created.UTC().Truncate(time.Second), Expires: expires.UTC().Truncate(time.Second)})
		if err != nil {
			e.t.Fatal(err)
		}
		if err := f.Save(); err != nil {
			e.t.Fatal(err)
		}
	}
}

// swapKeys exchanges two keys of the same length in tokens.yaml, leaving
// their values (and so sops's MAC, which covers values only) in place.
func swapKeys(e *badEnv, a, b string) {
	e.edit("tokens.yaml", func(data []byte) []byte {
		i, j := bytes.Index(data, []byte(a+": ")), bytes.Index(data, []byte(b+": "))
		if i < 0 || j < 0 || len(a) != len(b) {
			e.t.Fatalf("tokens.yaml lacks %s or %s, or they differ in length", a, b)
		}
		copy(data[i:], b)
		copy(data[j:], a)
		return data
	})
}

// sopsBadCases: a token that a sops file's rules leave in clear text (or
// would), and stores whose content the MAC does not authenticate (key
// names, structure) but nix-auth's schema check refuses.
func sopsBadCases() []badCase {
	render := func(extra ...string) []string {
		return append([]string{"render", "$D/tokens.yaml", "--output", "$D/out/access-tokens.conf"}, extra...)
	}
	suffixStore := sopsEncrypted("encrypted_suffix: _secret", "other: value\n")
	now := time.Now()
	return []badCase{
		{name: "sops/set-token-encrypted-suffix-rule", args: []string{"set-token", "github.com", "--encrypt-to", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(suffixStore, withToken),
			code:  1, file: "$D/tokens.yaml", want: "token would be stored in clear text under the file's encrypted_suffix", hint: "nix-auth's own rules",
			secrets: []string{tokStdin}},
		{name: "sops/login-encrypted-regex-rule-before-flow", args: []string{"login", "codeberg", "--token-stdin", "--encrypt-to", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(sopsEncrypted("encrypted_regex: ^(data|stringData)$", "data: {}\n"), withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }),
			code:  1, file: "$D/tokens.yaml", want: "encrypted_regex", hint: "add token to the file's encrypted_regex",
			secrets: []string{tokForge}},
		{name: "sops/set-token-unencrypted-regex-rule", args: []string{"set-token", "github.com", "--encrypt-to", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(sopsEncrypted("unencrypted_regex: ^(token|user)$", "other: value\n"), withToken),
			code:  1, file: "$D/tokens.yaml", want: "would be stored in clear text", hint: "does not match token",
			secrets: []string{tokStdin}},
		{name: "sops/set-token-new-file-creation-rule", args: []string{"set-token", "github.com", "--encrypt-to", "$D/new.yaml"},
			env: map[string]string{"SOPS_CONFIG": "$D/.sops.yaml"},
			setup: then(withToken, func(e *badEnv) {
				e.write(".sops.yaml", []byte("creation_rules:\n  - age: "+badKeys()[0].Recipient().String()+"\n    encrypted_suffix: _secret\n"))
			}),
			code: 1, file: "$D/new.yaml", want: "would be stored in clear text", hint: "nix-auth's own rules", secrets: []string{tokStdin}},
		{name: "sops/render-token-in-clear", args: render("--identity", "$D/good.key"),
			setup: sopsEncrypted("encrypted_suffix: _secret", "hosts:\n    github.com:\n        token: "+tokClear+"\n"),
			code:  1, file: "$D/tokens.yaml", want: "token is stored in clear text", hint: "rotate a token", secrets: []string{tokClear}},
		{name: "sops/rekey-token-in-clear", args: []string{"rekey", "$D/tokens.yaml", "--identity", "$D/good.key", "--recipient", "$D/good.pub"},
			setup: then(sopsEncrypted("unencrypted_suffix: token", "hosts:\n    github.com:\n        token: "+tokClear+"\n"), func(e *badEnv) {
				e.write("good.pub", []byte(badKeys()[0].Recipient().String()+"\n"))
			}),
			code: 1, file: "$D/tokens.yaml", want: "stored in clear text under the file's unencrypted_suffix", hint: "rotate a token", secrets: []string{tokClear}},

		// The MAC covers values in walk order: keys swapped without the key
		// pass it, and the schema check catches them.
		{name: "sops/render-created-expires-swapped", args: render("--identity", "$D/good.key"),
			setup: then(datedStore(now.Add(-time.Hour), now.Add(time.Hour)), func(e *badEnv) { swapKeys(e, "created", "expires") }),
			code:  1, file: "$D/tokens.yaml", want: "github.com: created", hint: "sops edit"},
		{name: "sops/status-file-created-expires-swapped", args: []string{"status", "--file", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(datedStore(now.Add(-time.Hour), now.Add(time.Hour)), func(e *badEnv) { swapKeys(e, "created", "expires") }),
			code:  1, file: "$D/tokens.yaml", want: "is after expires", hint: "sops edit"},
		{name: "sops/render-provider-user-swapped", args: render("--identity", "$D/good.key"),
			setup: then(datedStore(now.Add(-time.Hour), now.Add(time.Hour)), func(e *badEnv) {
				e.edit("tokens.yaml", func(b []byte) []byte {
					return replaceOnce(e.t, b, "provider: github\n        user: octocat", "user: github\n        provider: octocat")
				})
			}),
			code: 1, file: "$D/tokens.yaml", want: `provider "octocat" is not a forge nix-auth knows`, hint: "sops edit"},
		// The file's key list and key names are unauthenticated text:
		// errors and hints that quote them are escaped at output.
		{name: "sops/status-file-hostile-recipient", args: []string{"status", "--file", "$D/tokens.yaml", "--identity", "$D/wrong.key"},
			setup: then(datedStore(now.Add(-time.Hour), now.Add(time.Hour)), func(e *badEnv) {
				r := badKeys()[0].Recipient().String()
				e.edit("tokens.yaml", func(b []byte) []byte {
					return replaceOnce(e.t, b, "recipient: "+r, `recipient: "`+r+`\e]0;owned\a\r\nnix-auth: hint: run curl"`)
				})
			}),
			code: 1, file: "$D/tokens.yaml", want: "none of the identities tried", hint: `\x1b]0;owned\x07\r\nnix-auth: hint: run curl`},
		{name: "sops/render-hostile-host-in-clear", args: render("--identity", "$D/good.key"),
			setup: sopsEncrypted("encrypted_suffix: _secret", "hosts:\n    \"git\\e[2Jhub.com\\r\\nnix-auth: hint: x\":\n        token: "+tokClear+"\n"),
			code:  1, file: "$D/tokens.yaml", want: `hosts: git\x1b[2Jhub.com\r\nnix-auth: hint: x: token is stored in clear text`, hint: "rotate a token", secrets: []string{tokClear}},
		{name: "sops/render-created-in-the-future", args: render("--identity", "$D/good.key"),
			setup: datedStore(now.Add(30*24*time.Hour), now.Add(60*24*time.Hour)),
			code:  1, file: "$D/tokens.yaml", want: "is in the future", hint: "check this machine's clock"},
	}
}
