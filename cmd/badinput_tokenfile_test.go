package cmd

import (
	"bytes"
	"os"
	"syscall"
)

func init() { moreBadCases = append(moreBadCases, tokenfileBadCases) }

// tokenfileBadCases: render --token-file fed files that are not one token
// (what a wrong sops-nix key, an agenix secret edited by hand or another
// user could put there). Each is refused naming the file, the output and
// nix.conf untouched, the file's content never shown.
func tokenfileBadCases() []badCase {
	const tok = "ghp_tokfileSECRET0123456789abcdefghij"
	tf := func(extra ...string) []string {
		return append([]string{"render", "--token-file", "github.com=$D/token", "--output", renderOut}, extra...)
	}
	file := func(content string) func(e *badEnv) {
		return func(e *badEnv) { e.write("token", []byte(content)) }
	}
	hint := "holds the token alone"
	return []badCase{
		{name: "tokenfile/two-lines", args: tf(), setup: file(tok + "\nextra-substituters = https://evil.example.com\n"),
			code: 1, file: "$D/token", want: "2 lines", hint: hint, secrets: []string{tok, "evil.example.com"}},
		{name: "tokenfile/host-pair", args: tf(), setup: file("github.com=" + tok + "\n"),
			code: 1, file: "$D/token", want: "host=token pair", hint: "use --plain", secrets: []string{tok}},
		{name: "tokenfile/access-tokens-line", args: tf(), setup: file("access-tokens = github.com=" + tok + "\n"),
			code: 1, file: "$D/token", want: "whitespace", hint: hint, secrets: []string{tok}},
		{name: "tokenfile/escape-sequence", args: tf(), setup: file("ghp_\x1b]0;SECRETtitle\x07" + tok),
			code: 1, file: "$D/token", want: "control character (0x1b)", hint: hint, secrets: []string{tok, "SECRETtitle", "\x1b"}},
		{name: "tokenfile/nul", args: tf(), setup: file(tok + "\x00SECRETafter"),
			code: 1, file: "$D/token", want: "control character (0x00)", hint: hint, secrets: []string{tok, "SECRETafter"}},
		{name: "tokenfile/non-utf8", args: tf(), setup: file("ghp_\xff\xfeSECRETbytes"),
			code: 1, file: "$D/token", want: "not valid UTF-8", hint: hint, secrets: []string{"SECRETbytes"}},
		{name: "tokenfile/empty", args: tf(), setup: file(""),
			code: 1, file: "$D/token", want: "empty", hint: hint},
		{name: "tokenfile/10MB", args: tf(), setup: func(e *badEnv) { e.write("token", bytes.Repeat([]byte("a"), tenMB)) },
			code: 1, file: "$D/token", want: "larger than", hint: hint},
		{name: "tokenfile/gitlab-prefix-on-github", args: tf(), setup: file("PAT:" + tok + "\n"),
			code: 1, file: "$D/token", want: "only GitLab tokens take", hint: hint, secrets: []string{tok}},
		{name: "tokenfile/fifo", args: tf(),
			setup: func(e *badEnv) {
				if err := syscall.Mkfifo(e.path("token"), 0o600); err != nil {
					e.t.Fatal(err)
				}
			},
			code: 1, file: "$D/token", want: "a FIFO", hint: hint},
		{name: "tokenfile/directory", args: tf(), setup: func(e *badEnv) {
			if err := os.Mkdir(e.path("token"), 0o700); err != nil {
				e.t.Fatal(err)
			}
		},
			code: 1, file: "$D/token", want: "a directory", hint: hint},
		{name: "tokenfile/missing", args: tf(),
			code: 1, file: "$D/token", want: "does not exist", hint: "runs before render"},
		{name: "tokenfile/host-also-in-plain", args: tf("--plain", "$D/plain.yaml"),
			setup: then(file(tok+"\n"), func(e *badEnv) {
				e.write("plain.yaml", []byte("hosts:\n  github.com:\n    token: "+tokConf+"\n"))
			}),
			code: 1, file: "$D/token", want: "plain.yaml too", hint: "give github.com one token", secrets: []string{tok, tokConf}},
		{name: "tokenfile/host-twice", args: tf("--token-file", "github.com=$D/other"), setup: file(tok),
			code: 2, want: "names github.com twice", secrets: []string{tok}},
		{name: "tokenfile/host-injected", args: []string{"render", "--token-file", "github.com\nextra-substituters=x=$D/token", "--output", renderOut},
			setup: file(tok), code: 2, want: "control character", secrets: []string{tok}},
		{name: "tokenfile/no-path", args: []string{"render", "--token-file", "github.com", "--output", renderOut},
			code: 2, want: "expected HOST=PATH"},
		// A render that would have written: the output and nix.conf stay as
		// they were, a good token file beside the bad one included.
		{name: "tokenfile/default-output-untouched", args: []string{"render", "--token-file", "gitlab.com=$D/good", "--token-file", "github.com=$D/token"},
			setup: then(file(tok+"\n"+tok+"\n"), func(e *badEnv) { e.write("good", []byte("glpat-SECRETgood0123456789\n")) }),
			code:  1, file: "$D/token", want: "2 lines", hint: hint, secrets: []string{tok, "glpat-SECRETgood0123456789"}},
	}
}
