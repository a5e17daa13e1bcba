package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
	"github.com/nix-auth/nix-auth/render"
)

// The libraries return typed errors whose hints are about the file, the
// key or the forge; what to run instead, and with which flag, is said
// here, once, by the error's kind: a library does not know which command
// called it.

// hintRule adds hints to an error of one kind; nil when it is not of it.
type hintRule func(err error) []string

// hintRules is the table, in the order the hints are printed (after the
// library's own).
var hintRules = []hintRule{
	// Forges.
	onTyped(providers.ErrDenied, func(e *providers.Error) string {
		return fmt.Sprintf("run `nix-auth login %s` again and approve the request", e.Host)
	}),
	onTyped(providers.ErrExpired, func(e *providers.Error) string {
		return fmt.Sprintf("run `nix-auth login %s` again and enter the code before it expires", e.Host)
	}),
	onTyped(providers.ErrRefused, func(e *providers.Error) string {
		return fmt.Sprintf("run `nix-auth login %s` again", e.Host)
	}),
	onTyped(providers.ErrClientID, func(e *providers.Error) string {
		return fmt.Sprintf("check --client-id: it must be the ID of an OAuth app on %s that allows the device flow", e.Host)
	}),
	onTyped(providers.ErrRefreshClient, func(*providers.Error) string {
		return "pass --client-id with the application ID you logged in with"
	}),
	onTyped(providers.ErrRefreshRejected, func(e *providers.Error) string {
		return fmt.Sprintf("log in again: `nix-auth login %s`", e.Host)
	}),
	onTyped(providers.ErrNotAPI, func(e *providers.Error) string {
		return "if it runs another forge, name it: " + providerFlag()
	}),
	onTyped(providers.ErrNotForge, func(*providers.Error) string {
		return "name the forge: " + providerFlag()
	}),
	onTyped(providers.ErrNotCache, func(e *providers.Error) string {
		return fmt.Sprintf("give the cache's URL as a substituter names it, e.g. `nix-auth login %s/mycache --provider cache` (Attic serves each cache under its name)", e.Host)
	}),
	onTyped(providers.ErrSelfHosted, func(e *providers.Error) string {
		return fmt.Sprintf("name the host that runs it, e.g. `nix-auth login git.example.com --provider %s`", e.Kind)
	}),
	func(err error) []string {
		var e *providers.ClientIDError
		if !errors.As(err, &e) {
			return nil
		}
		return []string{
			fmt.Sprintf("create %s at %s, then run `nix-auth login %s --client-id <ID>`", e.App, e.AppPage, e.Host),
			fmt.Sprintf("or create a personal token at %s and run `nix-auth set-token %s`", e.TokenPage, e.Host),
		}
	},
	func(err error) []string {
		var e *providers.RedirectError
		if !errors.As(err, &e) {
			return nil
		}
		return []string{fmt.Sprintf("if the forge moved to %s, use that host: `nix-auth login %s`", e.To, e.To)}
	},

	// The Nix config.
	onTyped(nixconf.ErrNoUserConfig, func(*nixconf.Error) string { return "name the file with --config PATH" }),
	onTyped(nixconf.ErrNotWritable, func(*nixconf.Error) string {
		return "or point nix-auth at another nix.conf with --config"
	}),
	onTyped(nixconf.ErrNoToken, func(*nixconf.Error) string {
		return "run `nix-auth status` to see the hosts that have tokens"
	}),
	onTyped(nixconf.ErrRendered, func(e *nixconf.Error) string {
		return fmt.Sprintf("change the token in the store render reads: `nix-auth login %s --encrypt-to STORE`", orHost(e.Host))
	}),
	onTyped(nixconf.ErrManaged, func(e *nixconf.Error) string {
		return fmt.Sprintf("or keep the token in an encrypted store, which render writes out on each host: `nix-auth login %s --encrypt-to STORE`", orHost(e.Host))
	}),
	func(err error) []string {
		var e *nixconf.WriterError
		switch {
		case !errors.As(err, &e):
			return nil
		case e.Want == nixconf.WriterRender && e.Own != "":
			return []string{"let render write its own file: leave out --output (default " + e.Own + "), or name a new file"}
		case e.Want == nixconf.WriterRender:
			return []string{"name a file of render's own with --output (a new file, or one render wrote)"}
		case e.Writer == nixconf.WriterRender:
			return []string{"to keep it in the store: `nix-auth login HOST --encrypt-to STORE`"}
		}
		return nil
	},

	// Encrypted stores and keys.
	func(err error) []string {
		var e *crypt.DecryptError
		if !errors.As(err, &e) {
			return nil
		}
		return []string{"use a key the file is encrypted to (--identity PATH), or ask someone who can decrypt it to add your recipient and run `nix-auth rekey`"}
	},
	onKind(crypt.ErrPassphrase, func(error) string {
		return "on a host, decrypt with its own key: --identity /etc/ssh/ssh_host_ed25519_key"
	}),
	onKind(crypt.ErrLockout, func(error) string {
		return "or pass --force if the new recipients' holders will manage the file"
	}),
	func(err error) []string {
		if !errors.Is(err, crypt.ErrDeclaration) && !errors.Is(err, crypt.ErrNoSecretsNix) && !errors.Is(err, crypt.ErrNoSopsConfig) {
			return nil
		}
		return []string{"or give the recipients with --recipient"}
	},
	func(err error) []string {
		var e *crypt.FileError
		if !errors.As(err, &e) || e.Kind != fs.ErrNotExist {
			return nil
		}
		return []string{"create the store by adding a token with `nix-auth login --encrypt-to " + e.Path + "`"}
	},

	// git-crypt stores.
	onKind(crypt.ErrGitCryptLocked, func(error) string {
		return "run `git-crypt unlock` in the repository (with your GPG key, or `git-crypt unlock KEYFILE` with the key `git-crypt export-key` wrote), then run the command again"
	}),
	onKind(crypt.ErrNotGitCrypt, func(error) string {
		return "or leave out --format git-crypt: the name then makes it a sops (.yaml, .json) or age (.age) store"
	}),
	onKind(crypt.ErrNoGit, func(error) string {
		return "or leave out --format git-crypt: the name then makes it a sops or age store"
	}),
	func(err error) []string {
		if !errors.Is(err, crypt.ErrGit) || errors.Is(err, crypt.ErrNoGit) {
			return nil
		}
		return []string{"or name the store's format, which asks no git: --format sops (or age, by its name)"}
	},
	onKind(crypt.ErrFormatMismatch, func(error) string {
		return "leave out --format: nix-auth tells sops, age and git-crypt stores apart"
	}),
	onKind(crypt.ErrNoMetadata, func(err error) string {
		return "if git-crypt encrypts it, `git check-attr filter -- FILE` must say git-crypt (a .gitattributes filter), or pass --format git-crypt"
	}),

	// render's input.
	onKind(render.ErrInvalidEntry, func(error) string {
		return "or replace the entry: `nix-auth set-token HOST --encrypt-to FILE`, then deploy the store again"
	}),
	onKind(render.ErrNotPlain, func(error) string {
		return "--plain takes the file sops-nix or agenix decrypted: what `sops -d` prints for a nix-auth store (hosts: HOST: token: ...), or the access-tokens line agenix deploys"
	}),
	onKind(crypt.ErrNotMapping, func(error) string {
		return "a file that holds one token alone is for `nix-auth set-token HOST < FILE`, or `nix-auth render --token-file HOST=FILE` on a host"
	}),
	onKind(render.ErrTokenFile, func(error) string {
		return "--token-file takes a file with the token alone; for an access-tokens line or a decrypted store, use --plain"
	}),
	func(err error) []string {
		var e *crypt.FileError
		if !errors.Is(err, crypt.ErrStillEncrypted) || !errors.As(err, &e) {
			return nil
		}
		return []string{fmt.Sprintf("--plain is for the file sops-nix decrypted; read the store itself: `nix-auth render %s --identity KEY`, `nix-auth status --file %s`", e.Path, e.Path)}
	},
}

// flagHints are the hints cmd adds to err.
func flagHints(err error) []string {
	var hs []string
	for _, r := range hintRules {
		hs = append(hs, r(err)...)
	}
	return hs
}

// onKind is a rule for errors of kind (errors.Is).
func onKind(kind error, hint func(error) string) hintRule {
	return func(err error) []string {
		if !errors.Is(err, kind) {
			return nil
		}
		return []string{hint(err)}
	}
}

// onTyped is a rule for an error of kind whose typed form E (a forge's
// *providers.Error, a config's *nixconf.Error) the hint reads: the host,
// the forge.
func onTyped[E error](kind error, hint func(E) string) hintRule {
	return func(err error) []string {
		var e E
		if !errors.Is(err, kind) || !errors.As(err, &e) {
			return nil
		}
		return []string{hint(e)}
	}
}

// orHost is host, or HOST when the error names none.
func orHost(host string) string {
	if host == "" {
		return "HOST"
	}
	return host
}

// providerFlag is --provider with the forges it takes, from the table.
func providerFlag() string {
	return "--provider " + strings.Join(providers.KindNames(), "|")
}
