package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/providers"
)

type rotateOptions struct {
	target     string
	provider   string
	clientID   string
	tokenStdin bool
	noBrowser  bool
	encryptTo  string
	keys       keyOptions
}

func newRotateCmd(f *Factory) *cobra.Command {
	o := &rotateOptions{}
	c := &cobra.Command{
		Use:   "rotate HOST",
		Short: "Replace a host's token with a new one, then revoke the old one",
		Long: strings.TrimSpace(`
Replace HOST's token with a new one and revoke the old one at the forge:
get the new token (the device flow, or with --token-stdin a personal token
from standard input), validate it, save it where the old one was (the Nix
config, or with --encrypt-to an encrypted store: one entry changes, one
commit-sized diff), and only then revoke the old token, so that Nix is never
left without a working token.

The old token is revoked as ` + "`nix-auth logout --revoke`" + ` does it. On Gitea,
Forgejo and SourceHut, whose APIs cannot, rotate prints the settings page
where you revoke it.

Exit status: 1 when the new token could not be had or saved (nothing
changed), or when the old one could not be revoked (the new one is saved:
revoke the old one by hand, at the page the hint names).`),
		Example: strings.Trim(`
  nix-auth rotate gitlab.com
  pass show github-new | nix-auth rotate github.com --token-stdin
  nix-auth rotate codeberg --encrypt-to secrets/tokens.yaml`, "\n"),
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			o.target = a[0]
			return runRotate(c.Context(), f, configFlag(c), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.provider, "provider", "", "forge type of HOST: "+strings.Join(providers.Names(), ", "))
	fl.StringVar(&o.clientID, "client-id", "", "OAuth application for the device flow (required for GitHub Enterprise and self-hosted GitLab)")
	fl.BoolVar(&o.tokenStdin, "token-stdin", false, "read the new personal token from standard input instead of the device flow")
	fl.BoolVar(&o.noBrowser, "no-browser", false, "never open a browser")
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "rotate the token in this sops (.yaml/.json) or age (.age) store instead of the Nix config")
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	return c
}

// runRotate is login's flow on a host that has a token, then the
// revocation of the old one: startFlow -> token -> validate -> save ->
// revoke.
func runRotate(ctx context.Context, f *Factory, config string, o *rotateOptions) error {
	fl, err := startFlow(ctx, f, flowTarget{target: o.target, provider: o.provider, detect: true, clientID: o.clientID, existing: true},
		sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys})
	if err != nil {
		return err
	}
	old, _ := fl.sink.Entry(fl.host)
	if fl.p == nil {
		return &hintError{msg: fmt.Sprintf("cannot rotate the token for %s: nix-auth does not know which forge runs there; nothing was changed", fl.host),
			hints: []string{"name it: " + providerFlag()}}
	}

	nixTok, tok, err := fl.obtain(ctx, o.tokenStdin, o.noBrowser, "rotation cancelled; nothing was changed")
	if err != nil {
		return err
	}
	if nixTok == old.Token {
		return &hintError{msg: fmt.Sprintf("the new token for %s is the one already saved; nothing was changed", fl.host),
			hints: []string{"create a new token at the forge and give that one"}}
	}
	st, err := fl.validate(ctx, nixTok, nil)
	if err != nil {
		return err
	}
	if _, err := fl.save(fl.entry(nixTok, tok, st), st); err != nil {
		return err
	}
	if _, err := fl.revoke(ctx, old); err != nil {
		return &hintError{msg: err.Error() + "; the new token is saved, and the old one still works", hints: hintsOf(err)}
	}
	return nil
}
