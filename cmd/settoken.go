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

type setTokenOptions struct {
	host       string
	provider   string
	noValidate bool
	dryRun     bool
	encryptTo  string
	keys       keyOptions
	user       string // --provider cache: the netrc login (cache.go)
}

func newSetTokenCmd(f *Factory) *cobra.Command {
	o := &setTokenOptions{}
	c := &cobra.Command{
		Use:   "set-token HOST",
		Short: "Save a token you already have, read from stdin or a hidden prompt",
		Long: strings.TrimSpace(`
Save a token you already have for HOST. The token is read from standard input
when it is piped, else from a prompt that does not echo. It is never taken
from the command line, where ps and shell history would keep it.

When HOST is a known forge (or --provider names one), the token is validated
first; GitLab tokens get the PAT: or OAuth2: prefix Nix needs.`),
		Example: strings.Trim(`
  nix-auth set-token github.com
  pass show gitlab-pat | nix-auth set-token gitlab.com
  nix-auth set-token git.example.com --provider forgejo < token.txt
  pass show gitlab-pat | nix-auth set-token gitlab.com --encrypt-to secrets/tokens.yaml
  pass show attic-token | nix-auth set-token cache.example.com --provider cache`, "\n"),
		Args: func(c *cobra.Command, a []string) error {
			if len(a) > 1 {
				// The extra argument is most likely the token: never echo it.
				return &usageError{&hintError{
					msg:   "refusing to take a token from the command line: ps and shell history would keep it",
					hints: []string{"pipe it instead: `pass show forge-token | nix-auth set-token HOST`, or run `nix-auth set-token HOST` and paste it at the hidden prompt"},
				}}
			}
			return args(cobra.ExactArgs(1))(c, a)
		},
		RunE: func(c *cobra.Command, a []string) error {
			o.host = a[0]
			return runSetToken(c.Context(), f, configFlag(c), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.provider, "provider", "", "forge type of HOST, to validate the token: github, gitlab, gitea, forgejo, sourcehut; or cache, for a binary cache")
	fl.BoolVar(&o.noValidate, "no-validate", false, "save without asking the forge whether the token works")
	fl.BoolVar(&o.dryRun, "dry-run", false, "do everything but write the files")
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "store the token in this sops (.yaml/.json) or age (.age) file instead of the Nix config")
	fl.StringVar(&o.user, "user", "", userFlagHelp)
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	return c
}

func runSetToken(ctx context.Context, f *Factory, config string, o *setTokenOptions) error {
	if isCacheProvider(o.provider) {
		return runCache(ctx, f, config, cacheOptions{target: o.host, user: o.user, noValidate: o.noValidate,
			dryRun: o.dryRun, encryptTo: o.encryptTo, keys: &o.keys})
	}
	kind, host, known, err := resolveArg(o.host, o.provider)
	if err != nil {
		return err
	}
	if err := nixconf.ValidateHost(host); err != nil {
		return &usageError{err}
	}
	var store *nixconf.Store
	var enc *crypt.File
	if o.encryptTo != "" {
		if enc, err = f.openEncrypted(o.encryptTo, &o.keys); err != nil {
			return err
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
	}
	raw, err := f.readSecret(fmt.Sprintf("Token for %s: ", host), false)
	if err != nil {
		return err
	}
	nixTok := raw
	if known {
		if nixTok, err = providers.NormalizeToken(kind, raw); err != nil {
			return err
		}
	}
	if err := nixconf.ValidateToken(nixTok); err != nil {
		return badToken(err)
	}
	var st *providers.Status
	switch {
	case o.noValidate:
	case !known:
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: %s is not a known forge, so the token was not validated (use --provider to validate it)\n", host)
	default:
		p, err := providers.New(kind, host, providerOptions(f, ""))
		if err != nil {
			return err
		}
		if st, err = p.Validate(ctx, nixTok); err != nil {
			return &hintError{
				msg:   fmt.Sprintf("could not validate the token: %v; nothing was written", err),
				hints: []string{"retry when the forge is reachable, or save it anyway with --no-validate"},
			}
		}
		if !st.Valid {
			return &hintError{
				msg:   fmt.Sprintf("%s rejected the token: %s; nothing was written", host, st.Problem),
				hints: []string{"check that the token was copied whole and has not been revoked"},
			}
		}
	}
	if st != nil {
		printLoggedIn(f, host, nixTok, st)
	}
	if enc != nil {
		provider := ""
		if known {
			provider = string(kind)
		}
		e := entryFor(f, providers.Kind(provider), host, nixTok, nil, st)
		netrcEntry(&e, providers.Kind(provider), enc, e.User)
		return saveEncrypted(f, enc, e, o.dryRun)
	}
	change, err := store.Set(host, nixTok)
	if err != nil {
		return err
	}
	printChange(f, change, host, nixTok, o.dryRun)
	if known {
		var user string
		if st != nil {
			user = st.User
		}
		return saveNetrc(f, config, kind, host, user, nixTok, o.dryRun)
	}
	return nil
}
