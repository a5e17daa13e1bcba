package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

type tokenOptions struct {
	file  string
	force bool
	keys  keyOptions
}

func newTokenCmd(f *Factory) *cobra.Command {
	o := &tokenOptions{}
	c := &cobra.Command{
		Use:   "token HOST",
		Short: "Print the token Nix uses for HOST, for scripts",
		Long: strings.TrimSpace(`
Print the token Nix would use for HOST, as ` + "`gh auth token`" + ` does, for a script
to pass on: from every config file Nix reads, in its order (the system's,
yours and what they include, NIX_CONFIG), or with --file from an encrypted
store, as render would deploy it (an expired token is not).

It is printed as the forge issued it: GitLab's PAT: or OAuth2: prefix, which
only tells Nix's fetcher which header to send, is left out. This is the one
place nix-auth prints a token unmasked, so it refuses when standard output
is a terminal (where it would stay in the scrollback) unless --force is
given, and it prints only a token that has no whitespace or control
characters: a value a config file could hold but that would drive a
terminal, or add a line to what a script reads, is refused instead.`),
		Example: strings.Trim(`
  curl -H "Authorization: Bearer $(nix-auth token github.com)" https://api.github.com/user
  nix-auth token gitlab.com | glab auth login --stdin
  nix-auth token github.com --file secrets/tokens.yaml | gh auth login --with-token`, "\n"),
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			return runToken(f, configFlag(c), a[0], o)
		},
	}
	c.Flags().StringVar(&o.file, "file", "", "read the token from this encrypted store instead of the Nix config")
	c.Flags().BoolVar(&o.force, "force", false, "print the token even when standard output is a terminal")
	o.keys.addIdentityFlag(c.Flags())
	return c
}

func runToken(f *Factory, config, target string, o *tokenOptions) error {
	kind, host, _, err := resolveArg(target, "")
	if err != nil {
		return err
	}
	if err := nixconf.ValidateHost(host); err != nil {
		return &usageError{err}
	}
	if f.IO.OutTTY && !o.force {
		return &usageError{&hintError{msg: "refusing to print a token to a terminal, where it would stay in the scrollback",
			hints: []string{fmt.Sprintf("pipe it to what needs it: `nix-auth token %s | ...`, or pass --force", host)}}}
	}
	var nixTok, where string
	if o.file != "" {
		e, err := storeToken(f, host, o)
		if err != nil {
			return err
		}
		nixTok, where = e.Token, o.file
		if !kind.Known() {
			kind = providers.Kind(e.Provider)
		}
	} else {
		store, err := openStore(f, config, false)
		if err != nil {
			return err
		}
		entries, err := store.Tokens()
		if err != nil {
			return err
		}
		found := false
		for _, e := range entries {
			if e.Host == host {
				nixTok, where, found = e.Token, e.File, true
			}
		}
		if !found {
			return &hintError{msg: fmt.Sprintf("no token for %s in %s or the other files Nix reads", host, store.Paths.NixConf),
				hints: []string{"run `nix-auth status` to see the hosts that have tokens"}}
		}
		if !kind.Known() {
			if st, err := store.State(); err == nil {
				kind = providers.Kind(st.For(host, nixTok).Provider)
			}
		}
	}
	tok := providers.ForgeToken(kind, nixTok)
	// The one unmasked print: whatever the file holds, nothing that could
	// drive a terminal or split a script's input goes out.
	if err := nixconf.ValidateToken(tok); err != nil {
		return &hintError{msg: fmt.Sprintf("the token for %s in %s is not printed: %v", host, where, err),
			hints: []string{fmt.Sprintf("save it again as the forge shows it: `nix-auth set-token %s`", host)}}
	}
	termsafe.Fprintln(f.IO.Out, tok)
	return nil
}

// storeToken is host's entry in the --file store, as render would deploy
// it.
func storeToken(f *Factory, host string, o *tokenOptions) (crypt.Entry, error) {
	if _, err := formatOf(o.file); err != nil {
		return crypt.Entry{}, err
	}
	ids, err := f.identities(o.keys.identities)
	if err != nil {
		return crypt.Entry{}, err
	}
	file, err := crypt.Load(o.file, ids.List, ids.Tried, f.Now)
	if err != nil {
		return crypt.Entry{}, err
	}
	e, ok := file.Entry(host)
	if !ok {
		return crypt.Entry{}, &hintError{msg: fmt.Sprintf("%s has no token for %s", o.file, host),
			hints: []string{"hosts in the file: " + joinOr(entryHosts(file.Entries()), "(none)")}}
	}
	if !e.Expires.IsZero() && !f.Now().Before(e.Expires) {
		return crypt.Entry{}, &hintError{msg: fmt.Sprintf("the token for %s in %s expired at %s: render leaves it out, so Nix would not use it", host, o.file, e.Expires.UTC().Format(time.RFC3339)),
			hints: []string{fmt.Sprintf("renew it: `nix-auth refresh %s --encrypt-to %s` (a GitLab OAuth token), or `nix-auth rotate %s --encrypt-to %s`", host, o.file, host, o.file)}}
	}
	return e, nil
}
