package cmd

import (
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/tooltest"
)

func init() { moreBadCases = append(moreBadCases, gitCryptBadCases) }

// tokGitCrypt is the token a git-crypt fixture store holds in clear.
const tokGitCrypt = "ghp_gitcryptSECRET0123456789abcdefghijk"

// gcPaths the git-crypt cases name.
const (
	gcRepoDir = "$D/repo"
	gcStore   = "$D/repo/secrets/tokens.json"
)

// gcGitEnv is the environment of the git the fixtures run: the case's
// home, no system config, a fixed author.
func gcGitEnv(e *badEnv) []string {
	return []string{"HOME=" + e.path("home"), "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
}

func gcGit(e *badEnv, args ...string) {
	e.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Env = e.path(gcRepoDir), gcGitEnv(e)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// gcRepo makes $D/repo with git-crypt set up and secrets/ under its
// filter (attrs replaces that .gitattributes when given).
func gcRepo(attrs string) func(e *badEnv) {
	return func(e *badEnv) {
		e.t.Helper()
		tooltest.Installed(e.t, "git")
		tooltest.Installed(e.t, "git-crypt")
		if err := os.MkdirAll(e.path(gcRepoDir), 0o755); err != nil {
			e.t.Fatal(err)
		}
		gcGit(e, "git", "init", "-q")
		gcGit(e, "git-crypt", "init")
		if attrs == "" {
			attrs = "secrets/** filter=git-crypt diff=git-crypt\n"
		}
		e.write(gcRepoDir+"/.gitattributes", []byte(attrs))
		gcGit(e, "git", "add", ".gitattributes")
		gcGit(e, "git", "commit", "-qm", "git-crypt")
	}
}

// gcStoreWith writes secrets/tokens.json in clear, as nix-auth does, and
// commits it.
func gcStoreWith(e *badEnv) {
	e.t.Helper()
	g := &crypt.Git{Env: gcGitEnv(e)}
	f, err := crypt.Create(e.path(gcStore), nil, crypt.CreateOptions{Now: time.Now, Format: crypt.FormatGitCrypt, Git: g})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := f.Put(crypt.Entry{Host: "github.com", Token: e.secret(tokGitCrypt), Provider: "github", User: "octocat"}); err != nil {
		e.t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		e.t.Fatal(err)
	}
	gcGit(e, "git", "add", "-A")
	gcGit(e, "git", "commit", "-qm", "tokens")
}

// gcLock locks the repository: its files become git-crypt ciphertext and
// its filter is unconfigured.
func gcLock(e *badEnv) { gcGit(e, "git-crypt", "lock") }

// gcFakeGit puts a git at $D/bin that answers rev-parse as a work tree at
// $D and everything else with hostile bytes.
func gcFakeGit(e *badEnv) {
	e.t.Helper()
	script := "#!/bin/sh\ncase \"$1\" in\nrev-parse) printf 'true\\n" + e.dir + "\\n" + e.dir + "/.git\\n" + e.dir + "/.git\\n' ;;\n" +
		"*) printf 'x\\0filter\\0git-crypt\\033]0;pwned\\007\\0\\0\\0'; printf 'fatal: \\033[2J\\033]0;pwned\\007\\n' >&2; exit 0 ;;\nesac\n"
	p := e.write("bin/git", []byte(script))
	if err := os.Chmod(p, 0o755); err != nil {
		e.t.Fatal(err)
	}
}

// gitCryptBadCases: git-crypt stores. Nothing is ever written in clear
// where git-crypt would not encrypt it; a locked store is refused with
// the command that unlocks it; the repository's .gitattributes and the
// git on PATH are untrusted.
func gitCryptBadCases() []badCase {
	setToken := func(path string, extra ...string) []string {
		return append([]string{"set-token", "github.com", "--encrypt-to", path}, extra...)
	}
	locked := then(gcRepo(""), gcStoreWith, gcLock, withToken)
	return []badCase{
		{name: "gitcrypt/locked-set-token", args: setToken(gcStore), setup: locked,
			code: 1, file: gcStore, want: "git-crypt ciphertext", hint: "git-crypt unlock"},
		{name: "gitcrypt/locked-new-file", args: setToken("$D/repo/secrets/new.yaml"), setup: locked,
			code: 1, file: "$D/repo/secrets/new.yaml", want: "the repository is locked", hint: "git-crypt unlock"},
		{name: "gitcrypt/locked-render", args: []string{"render", gcStore, "--output", "$D/out.conf"}, setup: locked,
			code: 1, file: gcStore, want: "git-crypt ciphertext", hint: "git-crypt unlock"},
		{name: "gitcrypt/locked-render-forced", args: []string{"render", gcStore, "--format", "git-crypt", "--output", "$D/out.conf"}, setup: locked,
			code: 1, file: gcStore, want: "git-crypt ciphertext", hint: "git-crypt unlock"},
		{name: "gitcrypt/locked-render-plain", args: []string{"render", "--plain", gcStore, "--output", "$D/out.conf"}, setup: locked,
			code: 1, file: gcStore, want: "git-crypt ciphertext", hint: "git-crypt unlock"},
		{name: "gitcrypt/locked-status", args: []string{"status", "--file", gcStore, "--offline"}, setup: locked,
			code: 1, file: gcStore, want: "git-crypt ciphertext", hint: "git-crypt unlock"},
		{name: "gitcrypt/locked-rekey", args: []string{"rekey", gcStore}, setup: locked,
			code: 1, file: gcStore, want: "git-crypt ciphertext", hint: "git-crypt unlock"},

		// Not covered: never in clear; the error names both ways.
		{name: "gitcrypt/not-covered", args: setToken("$D/repo/tokens.json"), setup: then(gcRepo(""), withToken),
			code: 1, file: "$D/repo/tokens.json", want: "git-crypt's filter does not cover it", hint: "filter=git-crypt"},
		{name: "gitcrypt/not-covered-sops-hint", args: setToken("$D/repo/tokens.json"), setup: then(gcRepo(""), withToken),
			code: 1, file: "$D/repo/tokens.json", want: ".sops.yaml creation rule", hint: "creation rule to .sops.yaml"},
		{name: "gitcrypt/forced-not-covered", args: setToken("$D/repo/tokens.json", "--format", "git-crypt"), setup: then(gcRepo(""), withToken),
			code: 1, file: "$D/repo/tokens.json", want: "git-crypt's filter does not cover it", hint: ".gitattributes"},
		{name: "gitcrypt/forced-no-repo", args: setToken("$D/tokens.json", "--format", "git-crypt"), setup: withToken,
			code: 1, file: "$D/tokens.json", want: "no git repository", hint: "leave out --format"},

		// A forced format that contradicts the path.
		{name: "gitcrypt/forced-age-on-json", args: setToken(gcStore, "--format", "age"), setup: then(gcRepo(""), gcStoreWith, withToken),
			code: 2, want: "--format age does not fit", hint: "--help"},
		{name: "gitcrypt/forced-git-crypt-on-age", args: setToken("$D/repo/secrets/tokens.age", "--format", "git-crypt"), setup: then(gcRepo(""), withToken),
			code: 2, want: "a git-crypt store is JSON or YAML", hint: "--help"},
		{name: "gitcrypt/forced-unknown", args: setToken(gcStore, "--format", "gpg"), setup: withToken,
			code: 2, want: "--format must be", hint: "--help"},
		{name: "gitcrypt/forced-git-crypt-on-sops", args: []string{"render", "$D/tokens.yaml", "--format", "git-crypt", "--output", "$D/out.conf"}, setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "is a sops file", hint: "leave out --format"},
		{name: "gitcrypt/recipient-flag", args: setToken(gcStore, "--recipient", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"),
			setup: then(gcRepo(""), gcStoreWith, withToken), code: 2, want: "--recipient does not apply"},

		// A link planted at the store: never written through.
		{name: "gitcrypt/symlinked-store", args: setToken(gcStore), setup: then(gcRepo(""), victim, link(gcStore, victimPath), withToken),
			code: 1, file: gcStore, want: "symbolic link", hint: "remove it"},

		// Repository content and the git on PATH are untrusted.
		{name: "gitcrypt/hostile-attributes", args: setToken(gcStore),
			setup: then(gcRepo("secrets/** filter=git-crypt\x1b]0;pwned\x07 diff=git-crypt\nsecrets/** filter=git-crypt-../../../../etc\n"), withToken),
			code:  1, file: gcStore, want: "git-crypt's filter does not cover it", hint: ".gitattributes"},
		{name: "gitcrypt/hostile-git", args: setToken("$D/tokens.json"), env: map[string]string{"PATH": "$D/bin"}, setup: then(gcFakeGit, withToken),
			code: 1, file: "$D/tokens.json", want: "cannot ask git", hint: "git check-attr filter"},
		{name: "gitcrypt/tampered-store", args: []string{"render", gcStore, "--output", "$D/out.conf"},
			setup: then(gcRepo(""), func(e *badEnv) {
				e.write(gcStore, []byte(`{"hosts": {"github.com": {"token": "ghp_x extra-substituters = https://evil.example"}}}`))
			}),
			code: 1, file: gcStore, want: "token", hint: "fix it in an editor"},
		{name: "gitcrypt/expect-recipient", args: []string{"status", "--file", gcStore, "--offline", "--expect-recipient", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
			setup: then(gcRepo(""), gcStoreWith), code: 1, want: "is a git-crypt store", hint: "git-crypt status"},
		{name: "gitcrypt/rekey", args: []string{"rekey", gcStore}, setup: then(gcRepo(""), gcStoreWith),
			code: 1, file: gcStore, want: "is a git-crypt store", hint: "git-crypt add-gpg-user"},
	}
}
