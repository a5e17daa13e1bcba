package cmd

import (
	"bytes"
	"os"

	"filippo.io/age"
	"filippo.io/age/armor"
)

func init() { moreBadCases = append(moreBadCases, recipBadCases) }

// An identity that must never be printed, found where a recipient goes.
const recipSecretKey = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"

// recipStaleAge writes tokens.age as someone left it who re-encrypted the
// store with the age CLI: to the good key and a stranger's, while the
// plaintext still lists the good and the wrong key in the recipients
// comment an older nix-auth wrote, as many as the header has stanzas.
func recipStaleAge(e *badEnv) {
	e.keys()
	ks := badKeys()
	stranger, err := age.GenerateX25519Identity()
	if err != nil {
		e.t.Fatal(err)
	}
	plain := "# nix-auth-recipients: " + ks[0].Recipient().String() + " " + ks[1].Recipient().String() + "\n" +
		"access-tokens = github.com=" + e.secret("ghp_staleSECRET0123456789abcdefghijklm") + "\n"
	var b bytes.Buffer
	aw := armor.NewWriter(&b)
	w, err := age.Encrypt(aw, ks[0].Recipient(), stranger.Recipient())
	if err != nil {
		e.t.Fatal(err)
	}
	w.Write([]byte(plain))
	w.Close()
	aw.Close()
	e.write("tokens.age", b.Bytes())
}

// recipSecretsNix writes an agenix secrets.nix beside the stores.
func recipSecretsNix(body string) func(e *badEnv) {
	return func(e *badEnv) { e.write("secrets.nix", []byte(body)) }
}

func recipRSAKey(e *badEnv) string {
	data, err := os.ReadFile("../testdata/crypt/keys/rsa1.pub")
	if err != nil {
		e.t.Fatal(err)
	}
	return string(bytes.TrimSpace(data))
}

// recipBadCases: who a store is encrypted to comes only from secrets.nix,
// .sops.yaml or --recipient, and every key goes through one parser.
func recipBadCases() []badCase {
	const undeclared = "no secrets.nix entry or --recipient says who may decrypt it"
	good := []string{"--identity", "$D/good.key"}
	return []badCase{
		// An existing .age store with nothing declaring its recipients:
		// every write is refused before anything else happens.
		{name: "recip/set-token-age-undeclared", args: append([]string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/tokens.age"}, good...),
			setup: then(ageStore, withToken),
			code:  1, file: "$D/tokens.age", want: undeclared, hint: `"tokens.age".publicKeys`, secrets: []string{tokStdin}},
		{name: "recip/logout-age-undeclared", args: append([]string{"logout", "github.com", "--encrypt-to", "$D/tokens.age"}, good...),
			setup: ageStore,
			code:  1, file: "$D/tokens.age", want: undeclared, hint: "--recipient"},
		{name: "recip/refresh-age-undeclared", args: append([]string{"refresh", "--encrypt-to", "$D/tokens.age"}, good...),
			setup: ageStore,
			code:  1, file: "$D/tokens.age", want: undeclared, hint: "re-encrypts without changing a token"},
		{name: "recip/rekey-age-undeclared", args: append([]string{"rekey", "$D/tokens.age"}, good...),
			setup: ageStore,
			code:  1, file: "$D/tokens.age", want: undeclared, hint: "secrets.nix"},
		// The stale list in the plaintext is not a declaration: the login
		// stops before the forge is asked for anything.
		{name: "recip/login-age-stale-comment", args: append([]string{"login", "codeberg", "--token-stdin", "--encrypt-to", "$D/tokens.age"}, good...),
			setup: then(recipStaleAge, withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }),
			code:  1, file: "$D/tokens.age", want: undeclared, hint: "secrets.nix", secrets: []string{tokForge}},
		// A sops store keeps its own recipients: --recipient on a write is
		// a wrong call that points to rekey.
		{name: "recip/set-token-sops-recipient-existing", args: append([]string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/tokens.yaml", "--recipient", "$D/wrong.pub"}, good...),
			setup: then(sopsStore, withToken, func(e *badEnv) { e.write("wrong.pub", []byte(badKeys()[1].Recipient().String()+"\n")) }),
			code:  2, file: "$D/tokens.yaml", want: "--recipient only applies when creating", secrets: []string{tokStdin}},

		// Keys the one parser refuses, wherever they come from.
		{name: "recip/recipient-file-holds-identity", args: []string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/new.age", "--recipient", "$D/keys.txt"},
			setup: then(withToken, func(e *badEnv) { e.write("keys.txt", []byte("# mine\n"+recipSecretKey+"\n")) }),
			code:  1, file: "$D/keys.txt:2", want: "is an identity (a secret key), not a recipient", hint: "age-keygen -y", secrets: []string{tokStdin, recipSecretKey, "GFPYYSJZ"}},
		{name: "recip/recipient-file-ssh-rsa", args: []string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/new.yaml", "--recipient", "$D/hosts.pub"},
			setup: then(withToken, func(e *badEnv) { e.write("hosts.pub", []byte(recipRSAKey(e)+"\n")) }),
			code:  1, file: "$D/hosts.pub:1", want: "ssh-rsa key refused", hint: "ssh-ed25519", secrets: []string{tokStdin}},
		{name: "recip/recipient-plugin", args: []string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/new.age", "--recipient", "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"},
			setup: withToken,
			code:  1, file: "$D/new.age", want: "the age plugin age-plugin-yubikey is not on PATH", hint: "install age-plugin-yubikey", secrets: []string{tokStdin}},
		{name: "recip/secrets-nix-ssh-rsa", args: append([]string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/tokens.age"}, good...),
			setup: func(e *badEnv) {
				ageStore(e)
				withToken(e)
				recipSecretsNix(`{ "tokens.age".publicKeys = [ "` + recipRSAKey(e) + `" ]; }` + "\n")(e)
			},
			code: 1, file: "$D/secrets.nix:1", want: "ssh-rsa key refused", hint: "ssh-ed25519", secrets: []string{tokStdin}},
		{name: "recip/secrets-nix-identity", args: append([]string{"rekey", "$D/tokens.age"}, good...),
			setup: then(ageStore, recipSecretsNix("let\n  me = \""+recipSecretKey+"\";\nin { \"tokens.age\".publicKeys = [ me ]; }\n")),
			code:  1, file: "$D/secrets.nix:2 (me)", want: "is an identity (a secret key)", hint: "age-keygen -y", secrets: []string{recipSecretKey, "GFPYYSJZ"}},
	}
}
