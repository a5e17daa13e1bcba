package cmd

import "strings"

func init() { moreBadCases = append(moreBadCases, procBadCases) }

// procFlood is a secrets.nix whose one rule evaluates to about 12 MiB of
// JSON: nix-instantiate is stopped at its output cap.
const procFlood = `{ "tokens.age".publicKeys = [ (builtins.concatStringsSep "" (builtins.genList (i: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") 200000)) ]; }` + "\n"

// procGoodKeySecret marks the good key as a secret the output must not show.
func procGoodKeySecret(e *badEnv) { e.secret(strings.TrimSpace(badKeys()[0].String())) }

// procBadCases: programs nix-auth runs on input nobody authenticated (a
// repository's secrets.nix, the environment's key commands) are bounded:
// one error line naming what is wrong, a hint, nothing changed, no key
// shown, no terminal control passed through.
func procBadCases() []badCase {
	good := []string{"--identity", "$D/good.key"}
	render := []string{"render", "$D/tokens.yaml"}
	return []badCase{
		{name: "proc/secrets-nix-flood-set-token", args: append([]string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/tokens.age"}, good...),
			setup: then(ageStore, withToken, recipSecretsNix(procFlood)),
			code:  1, file: "$D/secrets.nix", want: "evaluating it printed more than 4 MiB; nix-instantiate was stopped", hint: "prints its rules quickly", secrets: []string{tokStdin}},
		{name: "proc/secrets-nix-flood-rekey", args: append([]string{"rekey", "$D/tokens.age"}, good...),
			setup: then(ageStore, recipSecretsNix(procFlood)),
			code:  1, file: "$D/secrets.nix", want: "evaluating it printed more than 4 MiB", hint: "agenix's secrets.nix is an attribute set"},
		// Nix prints a thrown string raw; it reaches the terminal escaped.
		{name: "proc/secrets-nix-throws-controls", args: append([]string{"rekey", "$D/tokens.age"}, good...),
			setup: then(ageStore, recipSecretsNix(`{ "tokens.age".publicKeys = throw (builtins.fromJSON "\"\\u001b]0;pwned\\u0007\\u001b[2J boom\""); }`+"\n")),
			code:  1, file: "$D/secrets.nix", want: "nix-instantiate failed: error:", hint: "works"},

		{name: "proc/key-cmd-flood-render", args: render,
			env:   map[string]string{"SOPS_AGE_KEY_CMD": `sh -c 'k=$(cat $D/good.key); while :; do echo "$k"; done'`},
			setup: then(sopsStore, procGoodKeySecret),
			code:  1, file: "$D/good.key", want: "printed more than 64 KiB; it was stopped", hint: "AGE-SECRET-KEY-1"},
		{name: "proc/key-cmd-fails-printing-key-render", args: render,
			env:   map[string]string{"SOPS_AGE_KEY_CMD": "sh -c 'cat $D/good.key; cat $D/good.key >&2; exit 3'"},
			setup: then(sopsStore, procGoodKeySecret),
			code:  1, file: "$D/good.key", want: "failed: sh exited with status 3", hint: "run the command by hand"},
		{name: "proc/ssh-key-cmd-flood-rekey", args: []string{"rekey", "$D/tokens.yaml"},
			env:   map[string]string{"SOPS_AGE_SSH_PRIVATE_KEY_CMD": "yes"},
			setup: sopsStore,
			code:  1, want: `SOPS_AGE_SSH_PRIVATE_KEY_CMD: "yes" printed more than 64 KiB`, hint: "OpenSSH private key"},
	}
}
