package cmd

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
	"github.com/nix-auth/nix-auth/render"
)

// TestFlagHints: every kind of library error that cmd gives advice for
// gets it, naming the command or flag that fixes it; the libraries' own
// tests check that they return these kinds.
func TestFlagHints(t *testing.T) {
	forge := func(kind error) error {
		return fmt.Errorf("wrapped: %w", &providers.Error{Host: "git.example.com", Kind: providers.Gitea, Msg: "x", Err: kind})
	}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"denied", forge(providers.ErrDenied), []string{"run `nix-auth login git.example.com` again and approve the request"}},
		{"expired", forge(providers.ErrExpired), []string{"run `nix-auth login git.example.com` again and enter the code before it expires"}},
		{"refused", forge(providers.ErrRefused), []string{"run `nix-auth login git.example.com` again"}},
		{"client id", forge(providers.ErrClientID), []string{"check --client-id: it must be the ID of an OAuth app on git.example.com"}},
		{"refresh client", forge(providers.ErrRefreshClient), []string{"pass --client-id with the application ID you logged in with"}},
		{"refresh rejected", forge(providers.ErrRefreshRejected), []string{"log in again: `nix-auth login git.example.com`"}},
		{"not the API", forge(providers.ErrNotAPI), []string{"--provider github|gitlab|gitea|forgejo|sourcehut"}},
		{"not a forge", forge(providers.ErrNotForge), []string{"name the forge: --provider github|gitlab|gitea|forgejo|sourcehut"}},
		{"self-hosted", forge(providers.ErrSelfHosted), []string{"`nix-auth login git.example.com --provider gitea`"}},
		{"no client id", &providers.ClientIDError{Host: "ghe.example.com", Forge: "GitHub", AppPage: "https://ghe.example.com/settings/applications/new",
			App: "an OAuth app", TokenPage: "https://ghe.example.com/settings/tokens/new"},
			[]string{"create an OAuth app at https://ghe.example.com/settings/applications/new, then run `nix-auth login ghe.example.com --client-id <ID>`",
				"or create a personal token at https://ghe.example.com/settings/tokens/new and run `nix-auth set-token ghe.example.com`"}},
		{"redirect", &providers.Error{Err: &providers.RedirectError{From: "a.example.com", To: "b.example.com"}},
			[]string{"if the forge moved to b.example.com, use that host: `nix-auth login b.example.com`"}},

		{"not a cache", &providers.Error{Host: "cache.example.com", Kind: providers.Cache, Err: providers.ErrNotCache},
			[]string{"`nix-auth login cache.example.com/mycache --provider cache`"}},
		{"managed netrc", &nixconf.Error{Kind: nixconf.ErrManaged}, []string{"`nix-auth login HOST --encrypt-to STORE`"}},
		{"no user config", &nixconf.Error{Kind: nixconf.ErrNoUserConfig}, []string{"--config PATH"}},
		{"config not writable", &nixconf.Error{Kind: nixconf.ErrNotWritable}, []string{"another nix.conf with --config"}},
		{"no token", &nixconf.Error{Kind: nixconf.ErrNoToken, Host: "a.com"}, []string{"`nix-auth status`"}},
		{"rendered", &nixconf.Error{Kind: nixconf.ErrRendered, Host: "a.com"}, []string{"`nix-auth login a.com --encrypt-to STORE`"}},
		{"render's own file", &nixconf.WriterError{Path: "/x", Writer: nixconf.WriterLogin, Want: nixconf.WriterRender, Own: "/own.conf"},
			[]string{"let render write its own file: leave out --output (default /own.conf), or name a new file"}},
		{"render's new file", &nixconf.WriterError{Path: "/x", Writer: nixconf.WriterNone, Want: nixconf.WriterRender},
			[]string{"name a file of render's own with --output"}},
		{"login over render's file", &nixconf.WriterError{Path: "/x", Writer: nixconf.WriterRender, Want: nixconf.WriterLogin},
			[]string{"render writes " + nixconf.RenderFileName + " now", "`nix-auth login HOST --encrypt-to STORE`"}},

		{"wrong key", &crypt.DecryptError{Path: "t.yaml", Tried: []string{"k"}}, []string{"--identity PATH", "run `nix-auth rekey`"}},
		{"passphrase", fmt.Errorf("x: %w", crypt.ErrPassphrase), []string{"--identity /etc/ssh/ssh_host_ed25519_key"}},
		{"lockout", &crypt.FileError{Path: "t.yaml", Kind: crypt.ErrLockout}, []string{"pass --force if the new recipients' holders will manage the file"}},
		{"declaration", fmt.Errorf("x: %w", crypt.ErrDeclaration), []string{"--recipient"}},
		{"no secrets.nix", fmt.Errorf("x: %w", crypt.ErrNoSecretsNix), []string{"--recipient"}},
		{"no .sops.yaml", fmt.Errorf("x: %w", crypt.ErrNoSopsConfig), []string{"--recipient"}},
		{"no store", &crypt.FileError{Path: "t.yaml", Kind: fs.ErrNotExist}, []string{"`nix-auth login --encrypt-to t.yaml`"}},

		{"invalid entry", fmt.Errorf("x: %w", render.ErrInvalidEntry), []string{"`nix-auth set-token HOST --encrypt-to FILE`"}},
		{"not plain", fmt.Errorf("x: %w", render.ErrNotPlain), []string{"--plain takes the file sops-nix or agenix decrypted"}},
		{"still encrypted", &crypt.FileError{Path: "t.yaml", Kind: crypt.ErrStillEncrypted},
			[]string{"`nix-auth render t.yaml --identity KEY`", "`nix-auth status --file t.yaml`"}},

		{"git-crypt locked", &crypt.FileError{Path: "t.json", Kind: crypt.ErrGitCryptLocked}, []string{"`git-crypt unlock`"}},
		{"not git-crypt", &crypt.FileError{Path: "t.json", Kind: crypt.ErrNotGitCrypt}, []string{"leave out --format git-crypt"}},
		{"no git", &crypt.FileError{Path: "t.json", Kind: crypt.ErrNoGit}, []string{"leave out --format git-crypt"}},
		{"git failed", &crypt.FileError{Path: "t.json", Kind: crypt.ErrGit}, []string{"--format sops"}},
		{"format mismatch", &crypt.FileError{Path: "t.json", Kind: crypt.ErrFormatMismatch}, []string{"leave out --format"}},
		{"no sops metadata", &crypt.FileError{Path: "t.json", Kind: crypt.ErrNoMetadata}, []string{"--format git-crypt"}},
	} {
		hints := strings.Join(hintsOf(tc.err), "\n")
		for _, w := range tc.want {
			if !strings.Contains(hints, w) {
				t.Errorf("%s: hints %q lack %q", tc.name, hints, w)
			}
		}
	}
	// An error of no kind gets none.
	if h := flagHints(fmt.Errorf("plain")); len(h) != 0 {
		t.Errorf("hints for a plain error: %q", h)
	}
}

// TestReportErrorHintOrder: the library's hints first, then cmd's.
func TestReportErrorHintOrder(t *testing.T) {
	var b bytes.Buffer
	code := reportError(&b, &crypt.DecryptError{Path: "t.yaml", Tried: []string{"k"}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if code != exitFail || len(lines) != 3 || !strings.Contains(lines[1], "identities tried: k") || !strings.Contains(lines[2], "--identity PATH") {
		t.Errorf("exit %d, output:\n%s", code, b.String())
	}
}
