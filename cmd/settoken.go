package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/internal/termsafe"
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
first; GitLab tokens get the PAT: or OAuth2: prefix Nix needs. It goes where
login puts it: access-tokens.conf, and netrc too for Gitea, Forgejo and
Codeberg; a binary cache's (--provider cache) to netrc alone.`),
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
	fl.StringVar(&o.provider, "provider", "", "forge type of HOST, to validate the token (cache: a binary cache): "+strings.Join(providers.Names(), ", "))
	fl.BoolVar(&o.noValidate, "no-validate", false, "save without asking the forge whether the token works")
	fl.BoolVar(&o.dryRun, "dry-run", false, "do everything but write the files")
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "store the token in this sops (.yaml/.json) or age (.age) file, or in clear in a JSON/YAML file git-crypt encrypts, instead of the Nix config")
	fl.StringVar(&o.user, "user", "", userFlagHelp)
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	o.keys.addFormatFlag(fl)
	return c
}

func runSetToken(ctx context.Context, f *Factory, config string, o *setTokenOptions) error {
	fl, err := startFlow(ctx, f, flowTarget{target: o.host, provider: o.provider, user: o.user},
		sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun})
	if err != nil {
		return err
	}
	raw, err := f.readSecret(fmt.Sprintf("Token for %s: ", fl.host), false)
	if err != nil {
		return err
	}
	nixTok, err := fl.pasted(raw)
	if err != nil {
		return err
	}
	var st *providers.Status
	switch {
	case o.noValidate:
	case fl.p == nil:
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: %s is not a known forge, so the token was not validated (use --provider to validate it)\n", fl.host)
	default:
		st, err = fl.validate(ctx, nixTok, func(err error) error {
			return &hintError{
				msg:   fmt.Sprintf("could not validate the token: %v; nothing was written", err),
				hints: append(hintsOf(err), "retry when the forge is reachable, or save it anyway with --no-validate"),
			}
		})
		if err != nil {
			return err
		}
	}
	_, err = fl.save(fl.entry(nixTok, nil, st), st)
	return err
}
