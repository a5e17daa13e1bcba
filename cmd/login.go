package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

type loginOptions struct {
	target     string
	provider   string
	clientID   string
	tokenStdin bool
	force      bool
	dryRun     bool
	noBrowser  bool
	encryptTo  string
	keys       keyOptions
	user       string // --provider cache: the netrc login (cache.go)
}

func newLoginCmd(f *Factory) *cobra.Command {
	o := &loginOptions{}
	c := &cobra.Command{
		Use:   "login [provider|host]",
		Short: "Get a token for a forge and save it for Nix",
		Long: strings.TrimSpace(`
Get a token for a forge and save it where Nix reads it.

GitHub and GitLab use the OAuth device flow: nix-auth shows a code and a URL,
you approve in a browser, and the token comes back by itself. Gitea, Forgejo,
Codeberg and SourceHut use a personal access token that you create on the
forge's settings page and paste at a prompt that does not echo.

The argument is a provider name (github, gitlab, codeberg, sourcehut) or a
host (github.example.com); an unknown host is identified by probing it, or
named with --provider. Default: github.`),
		Example: strings.Trim(`
  nix-auth login
  nix-auth login gitlab
  nix-auth login github.example.com --client-id Iv1.0123456789abcdef
  nix-auth login codeberg
  pass show gitea-token | nix-auth login git.example.com --provider gitea --token-stdin
  nix-auth login github --encrypt-to secrets/tokens.yaml
  nix-auth login cache.example.com --provider cache`, "\n"),
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			o.target = "github"
			if len(a) == 1 {
				o.target = a[0]
			}
			return runLogin(c.Context(), f, configFlag(c), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.provider, "provider", "", "forge type of the host: github, gitlab, gitea, forgejo, sourcehut; or cache, for a binary cache")
	fl.StringVar(&o.clientID, "client-id", "", "OAuth application client ID (required for GitHub Enterprise and self-hosted GitLab)")
	fl.BoolVar(&o.tokenStdin, "token-stdin", false, "read a personal token from standard input instead of the device flow")
	fl.BoolVar(&o.force, "force", false, "replace a token that is still valid")
	fl.BoolVar(&o.dryRun, "dry-run", false, "do everything but write the files")
	fl.BoolVar(&o.noBrowser, "no-browser", false, "never open a browser")
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "store the token in this sops (.yaml/.json) or age (.age) file instead of the Nix config")
	fl.StringVar(&o.user, "user", "", userFlagHelp)
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	return c
}

func runLogin(ctx context.Context, f *Factory, config string, o *loginOptions) error {
	if isCacheProvider(o.provider) {
		return runCache(ctx, f, config, cacheOptions{target: o.target, user: o.user, login: true, force: o.force,
			tokenStdin: o.tokenStdin, dryRun: o.dryRun, encryptTo: o.encryptTo, keys: &o.keys})
	}
	kind, host, err := resolveTarget(ctx, f, o.target, o.provider)
	if err != nil {
		return err
	}
	// Where the token goes is checked before the user goes through a
	// browser flow whose result could not be saved: a read-only nix.conf,
	// or an encrypted store this machine has no key for.
	var store *nixconf.Store
	var enc *crypt.File
	var current string
	if o.encryptTo != "" {
		if enc, err = f.openEncrypted(o.encryptTo, &o.keys); err != nil {
			return err
		}
		if e, ok := enc.Entry(host); ok {
			current = e.Token
		}
	} else {
		if store, err = openStore(f, config, o.dryRun); err != nil {
			return err
		}
		// Everything Set checks, before a token exists: a forge never
		// issues one that could not be saved or would not reach Nix.
		if err := store.CheckSet(host); err != nil {
			return err
		}
		if err := checkNetrc(f, config, kind, host, o.dryRun); err != nil {
			return err
		}
		current = currentToken(store, host)
	}
	p, err := providers.New(kind, host, providerOptions(f, o.clientID))
	if err != nil {
		return err
	}
	if !o.force && current != "" {
		if st, ok := currentValid(ctx, p, current); ok {
			termsafe.Fprintf(f.IO.Out, "Already logged in to %s as %s.\n", host, termsafe.Field(orUnknown(st.User)))
			termsafe.Fprintln(f.IO.Out, "Use --force to replace the token.")
			if store != nil {
				return ensureNetrc(f, config, kind, host, st.User, current, o.dryRun)
			}
			return nil
		}
	}

	ui := &deviceUI{f: f, noBrowser: o.noBrowser, fromStdin: o.tokenStdin}
	var tok *providers.Token
	if o.tokenStdin {
		raw, err := f.readSecret("", true)
		if err != nil {
			return err
		}
		nixTok, err := providers.NormalizeToken(kind, raw)
		if err != nil {
			return err
		}
		if err := nixconf.ValidateToken(nixTok); err != nil {
			return badToken(err)
		}
		tok = &providers.Token{Value: nixTok, Type: providers.Personal}
	} else {
		tok, err = p.Login(ctx, ui)
		ui.done()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return errors.New("login cancelled; nothing was written")
			}
			return err
		}
	}
	nixTok := tok.Value
	if !o.tokenStdin {
		nixTok = p.NixToken(tok)
	}
	if err := nixconf.ValidateToken(nixTok); err != nil {
		return fmt.Errorf("the token %s issued: %w; nothing was written", host, err)
	}
	st, err := p.Validate(ctx, nixTok)
	if err != nil {
		return err
	}
	if !st.Valid {
		return &hintError{
			msg:   fmt.Sprintf("%s rejected the token: %s; nothing was written", host, st.Problem),
			hints: []string{"check that the token was copied whole and has not been revoked"},
		}
	}
	if enc != nil {
		printLoggedIn(f, host, nixTok, st)
		e := entryFor(f, kind, host, nixTok, tok, st)
		if tok.Type == providers.OAuth {
			e.ClientID = oauthClientID(kind, o.clientID)
		}
		netrcEntry(&e, kind, enc, st.User)
		if err := saveEncrypted(f, enc, e, o.dryRun); err != nil {
			return err
		}
		if kind == providers.GitLab && tok.Type == providers.OAuth && !tok.ExpiresAt.IsZero() {
			termsafe.Fprintf(f.IO.ErrOut, "nix-auth: warning: this GitLab OAuth token expires at %s; render leaves it out after that\n", tok.ExpiresAt.UTC().Format(time.RFC3339))
			termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: for a fleet, store a personal access token (read_api): `nix-auth set-token %s --encrypt-to %s`\n", host, o.encryptTo)
		}
		return nil
	}
	change, err := store.Set(host, nixTok)
	if err != nil {
		return err
	}
	printLoggedIn(f, host, nixTok, st)
	printChange(f, change, host, nixTok, o.dryRun)
	if err := saveNetrc(f, config, kind, host, st.User, nixTok, o.dryRun); err != nil {
		return err
	}
	if kind == providers.GitLab && tok.Type == providers.OAuth && !tok.ExpiresAt.IsZero() {
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: warning: this GitLab OAuth token expires in %s (at %s) and a plain config file cannot refresh it\n",
			tok.ExpiresAt.Sub(f.Now()).Round(time.Minute), tok.ExpiresAt.UTC().Format(time.RFC3339))
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: create a personal access token with the read_api scope and run `nix-auth set-token %s` (it is stored as PAT:...)\n", host)
	}
	return nil
}

// currentToken is the token Nix would use for host from the config, or "".
func currentToken(store *nixconf.Store, host string) string {
	entries, err := store.Tokens()
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if e.Host == host {
			return e.Token
		}
	}
	return ""
}

// currentValid reports whether the forge accepts the token host already
// has, so that a repeated login does not replace a working token.
func currentValid(ctx context.Context, p providers.Provider, token string) (*providers.Status, bool) {
	st, err := p.Validate(ctx, token)
	if err != nil || !st.Valid {
		return nil, false
	}
	return st, true
}

// printLoggedIn says what the forge said about the token: its user and
// scopes are the forge's words, each escaped and cut to a field.
func printLoggedIn(f *Factory, host, nixTok string, st *providers.Status) {
	termsafe.Fprintf(f.IO.Out, "Logged in to %s as %s (token %s", host, termsafe.Field(orUnknown(st.User)), nixconf.MaskToken(nixTok))
	if st.ScopesKnown {
		termsafe.Fprintf(f.IO.Out, ", scopes: %s", orNone(termsafe.List(st.Scopes, " ")))
	}
	if !st.ExpiresAt.IsZero() {
		termsafe.Fprintf(f.IO.Out, ", expires %s", st.ExpiresAt.UTC().Format(time.RFC3339))
	}
	termsafe.Fprintln(f.IO.Out, ").")
}

func printChange(f *Factory, ch *nixconf.Change, host, nixTok string, dryRun bool) {
	out := f.IO.Out
	if dryRun {
		termsafe.Fprintf(out, "Dry run: would write %s=%s to %s", host, nixconf.MaskToken(nixTok), ch.TokensFile)
		if ch.IncludeAdded {
			termsafe.Fprintf(out, " and add \"!include %s\" to %s", baseName(ch.TokensFile), ch.NixConf)
		}
		termsafe.Fprintln(out, "; nothing was written.")
		printNixNotes(f, ch, true)
		return
	}
	verb := "Saved"
	if ch.Replaced {
		verb = "Replaced"
	}
	termsafe.Fprintf(out, "%s the token for %s in %s.\n", verb, host, ch.TokensFile)
	if ch.IncludeAdded {
		termsafe.Fprintf(out, "Added \"!include %s\" to %s.\n", baseName(ch.TokensFile), ch.NixConf)
	}
	if len(ch.Migrated) > 0 {
		termsafe.Fprintf(out, "Moved the tokens for %s from %s into %s; the old file is backed up at %s (mode 0600).\n",
			strings.Join(ch.Migrated, ", "), ch.NixConf, ch.TokensFile, ch.Backup)
	}
	printNixNotes(f, ch, false)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown user)"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
