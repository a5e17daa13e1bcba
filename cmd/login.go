package cmd

import (
	"context"
	"fmt"
	"strings"

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

` + joinWords(forgeTitles(true), "and") + ` use the OAuth device flow: nix-auth shows a code and a
URL, you approve in a browser, and the token comes back by itself.
` + joinWords(forgeTitles(false), "and") + ` use a personal access token that you
create on the forge's settings page and paste at a prompt that does not echo.
Where the token goes follows the forge: access-tokens.conf, and for Gitea,
Forgejo and Codeberg (which Nix has no fetcher for) the netrc file Nix's
downloader reads too, so that their archives authenticate. A binary cache
(--provider cache: Attic, Cachix, Harmonia, nix-serve) takes its token, checked
with GET /nix-cache-info, in netrc alone; --user gives its login.

The argument is a provider name (` + strings.Join(providers.HostNames(), ", ") + `) or a
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
	fl.StringVar(&o.provider, "provider", "", "forge type of the host (cache: a binary cache): "+strings.Join(providers.Names(), ", "))
	fl.StringVar(&o.clientID, "client-id", "", "OAuth application client ID (required for GitHub Enterprise and self-hosted GitLab)")
	fl.BoolVar(&o.tokenStdin, "token-stdin", false, "read a personal token from standard input instead of the device flow")
	fl.BoolVar(&o.force, "force", false, "replace a token that is still valid")
	fl.BoolVar(&o.dryRun, "dry-run", false, "do everything but write the files")
	fl.BoolVar(&o.noBrowser, "no-browser", false, "never open a browser")
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "store the token in this sops (.yaml/.json) or age (.age) file, or in clear in a JSON/YAML file git-crypt encrypts, instead of the Nix config")
	fl.StringVar(&o.user, "user", "", userFlagHelp)
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	o.keys.addFormatFlag(fl)
	return c
}

func runLogin(ctx context.Context, f *Factory, config string, o *loginOptions) error {
	// Where the token goes is checked before the user goes through a
	// browser flow whose result could not be saved: a read-only nix.conf,
	// or an encrypted store this machine has no key for.
	fl, err := startFlow(ctx, f, flowTarget{target: o.target, provider: o.provider, detect: true, clientID: o.clientID, user: o.user},
		sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun})
	if err != nil {
		return err
	}
	if !o.force {
		if done, err := keepCurrent(ctx, fl, o.user); done || err != nil {
			return err
		}
	}

	if forge, _ := providers.ForgeOf(fl.kind); !o.tokenStdin && o.clientID != "" && forge.DeviceFlow == nil {
		f.warn(fmt.Sprintf("--client-id is ignored: %s has no OAuth device flow", forge.Title))
	}
	nixTok, tok, err := fl.obtain(ctx, o.tokenStdin, o.noBrowser, "login cancelled; nothing was written")
	if err != nil {
		return err
	}
	st, err := fl.validate(ctx, nixTok, nil)
	if err != nil {
		return err
	}
	ch, err := fl.save(fl.entry(nixTok, tok, st), st)
	if err != nil {
		return err
	}
	if fl.kind == providers.GitLab && tok != nil && tok.Type == providers.OAuth && !tok.ExpiresAt.IsZero() {
		ch.expiring(f, fl.host, tok.ExpiresAt)
	}
	return nil
}

// forgeTitles names, from the forge table, the forges whose login uses
// the device flow (deviceFlow) or a personal token, each followed by its
// public hosts that have a name of their own (Forgejo, Codeberg).
func forgeTitles(deviceFlow bool) []string {
	var out []string
	for _, fg := range providers.Forges() {
		// A binary cache is no forge (the Long text says it apart).
		if (fg.DeviceFlow != nil) != deviceFlow || fg.Netrc == providers.OnlyNetrc {
			continue
		}
		out = append(out, fg.Title)
		for _, p := range fg.Public {
			if p.Title != "" {
				out = append(out, p.Title)
			}
		}
	}
	return out
}

// keepCurrent keeps host's credential when the forge (or the cache)
// still takes it, so that a repeated login does not replace a working
// token; one that goes to netrc too and is not there yet (a login from
// before nix-auth wrote netrc) gets its netrc entry. A login given with
// --user that the credential does not have is not kept. done is true when
// there is nothing more to do.
func keepCurrent(ctx context.Context, fl *tokenFlow, user string) (done bool, err error) {
	cur, ok := fl.sink.Entry(fl.host)
	if !ok || user != "" && cur.Use.Netrc() && cur.Login != user {
		return false, nil
	}
	st, ok := currentValid(ctx, fl.p, cur.Token)
	if !ok {
		return false, nil
	}
	out := fl.f.IO.Out
	if fl.use == crypt.UseNetrc {
		termsafe.Fprintf(out, "Already logged in to the cache %s (login %s).\n", fl.host, termsafe.Field(st.User))
	} else {
		termsafe.Fprintf(out, "Already logged in to %s as %s.\n", fl.host, termsafe.Field(orUnknown(st.User)))
	}
	e, more := fl.sink.complete(cur, fl.use, fl.netrcLogin(st))
	if !more {
		termsafe.Fprintln(out, "Use --force to replace the token.")
		return true, nil
	}
	if e.Provider == "" {
		e.Provider = string(fl.kind)
	}
	_, err = fl.save(e, nil)
	return true, err
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

func printChange(f *Factory, ch *nixconf.Change, host, nixTok string, dryRun bool) {
	out := f.IO.Out
	if dryRun {
		termsafe.Fprintf(out, "Dry run: would write %s=%s to %s", host, providers.MaskToken(nixTok), ch.TokensFile)
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
	printMigrated(f, ch)
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
