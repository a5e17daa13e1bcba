package cmd

import (
	"os"
	"strings"
)

func init() { moreBadCases = append(moreBadCases, doctorBadCases) }

// Secrets of the doctor cases; none may be printed.
const (
	doctorNixTok  = "ghp_NIXSAIDsecret0123456789abcdefXY"
	doctorConfTok = "glpat-CONFsecret0123456789"
)

// fakeDoctorNix puts a fake nix first on PATH: it answers --version as Nix
// 2.8 and runs body for the config command. The files hold a GitLab token
// without its PAT: prefix, an error doctor reports whatever nix says.
func fakeDoctorNix(body string) func(e *badEnv) {
	return func(e *badEnv) {
		e.secret(doctorNixTok)
		e.secret(doctorConfTok)
		e.nixConf("extra-access-tokens = gitlab.com=" + doctorConfTok + "\n")
		p := e.write("bin/nix", []byte("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'nix (Nix) 2.8.0'; exit 0; fi\n"+body+"\n"))
		if err := os.Chmod(p, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
}

// hostileConfig is valid JSON of Nix's shape whose host names and netrc
// file carry terminal escapes, a forged line and a bidi override.
var hostileConfig = `{"access-tokens":{"value":{"\u001b]0;pwned\u0007evil.example\nnix-auth: hint: run rm -rf ~":"` + doctorNixTok + `",` +
	`"\u202eelpmaxe.live":"` + doctorNixTok + `x"}},"netrc-file":{"value":"/etc/\u001b[2Jnetrc\r"},` +
	`"substituters":{"value":["https://\u001b[31mcache.example"]},"trusted-substituters":{"value":[]}}`

func doctorBadCases() []badCase {
	env := map[string]string{"PATH": "$D/bin:/usr/bin:/bin"}
	return []badCase{
		{
			name: "doctor-nix-hostile-json", args: []string{"doctor"}, env: env,
			setup: fakeDoctorNix("cat <<'EOF'\n" + hostileConfig + "\nEOF"),
			code:  1, want: "has no PAT: or OAuth2: in front", hint: "then run `nix-auth doctor` again", progress: false,
		},
		{
			name: "doctor-nix-hostile-json-json", args: []string{"doctor", "--json"}, env: env,
			setup: fakeDoctorNix("cat <<'EOF'\n" + hostileConfig + "\nEOF"),
			code:  1, want: "has no PAT: or OAuth2: in front",
		},
		{
			name: "doctor-nix-not-json", args: []string{"doctor"}, env: env,
			setup: fakeDoctorNix("printf 'error: \\033]0;pwned\\007 access-tokens = github.com=" + doctorNixTok + "\\n'"),
			code:  1, want: "not its configuration as JSON",
		},
		{
			name: "doctor-nix-huge", args: []string{"doctor", "--nix-timeout", "15s"}, env: env,
			setup: fakeDoctorNix("yes '" + doctorNixTok + "'"),
			code:  1, want: "nix printed more than 4 MiB",
		},
		{
			name: "doctor-nix-hangs", args: []string{"doctor", "--nix-timeout", "1s"}, env: env,
			setup: fakeDoctorNix("sleep 60 & sleep 60"),
			code:  1, want: "nix did not answer in time", hint: "--nix-timeout",
		},
		{
			name: "doctor-nix-fails", args: []string{"doctor"}, env: env,
			// Nix quotes a refused line, token and all, on stderr.
			setup: fakeDoctorNix("echo \"error: illegal configuration line 'access-tokens github.com=" + doctorNixTok + "'\" >&2; exit 1"),
			code:  1, want: "nix exited with status 1",
		},
		{
			name: "doctor-timeout-zero", args: []string{"doctor", "--nix-timeout", "0s"},
			code: 2, want: "--nix-timeout must be positive",
		},
		{
			name: "doctor-argument", args: []string{"doctor", strings.Repeat("x", 3)},
			code: 2, want: "unknown command",
		},
	}
}
