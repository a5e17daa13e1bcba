package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

type logoutOptions struct {
	dryRun    bool
	encryptTo string
	keys      keyOptions
}

func newLogoutCmd(f *Factory) *cobra.Command {
	o := &logoutOptions{}
	c := &cobra.Command{
		Use:   "logout [provider|host]",
		Short: "Remove a host's token from the Nix config",
		Long: strings.TrimSpace(`
Remove a host's token from access-tokens.conf, and its netrc entry where
login puts one (Gitea, Forgejo, Codeberg, a binary cache, or a host whose
forge is not known offline). With no argument, pick the host from a list (on
a terminal). The token itself stays valid at the forge until you revoke it
there.`),
		Example: strings.Trim(`
  nix-auth logout github
  nix-auth logout git.example.com
  nix-auth logout`, "\n"),
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			return runLogout(f, configFlag(c), a, o)
		},
	}
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what would be removed, write nothing")
	c.Flags().StringVar(&o.encryptTo, "encrypt-to", "", "remove the host from this sops or age store instead of the Nix config")
	o.keys.addRecipientFlag(c.Flags())
	o.keys.addIdentityFlag(c.Flags())
	return c
}

func runLogout(f *Factory, config string, a []string, o *logoutOptions) error {
	if o.encryptTo != "" && len(a) != 1 {
		return usagef("name the host to remove from %s", o.encryptTo)
	}
	var kind providers.Kind
	host := ""
	if len(a) == 1 {
		k, h, _, err := resolveArg(a[0], "")
		if err != nil {
			return err
		}
		if err := nixconf.ValidateHost(h); err != nil {
			return &usageError{err}
		}
		kind, host = k, h
	}
	sink, err := f.openSink(sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun}, false)
	if err != nil {
		return err
	}
	var picked crypt.Entry
	if host == "" {
		if picked, err = pickHost(f, sink); err != nil {
			return err
		}
		host = picked.Host
		kind, _, _, _ = providers.Resolve(host, "")
	}
	// The access token and, for a forge whose credential goes to netrc
	// too (or one not known offline), the netrc entry; a netrc credential
	// picked from the list, where it is.
	use := removeUse(kind, host)
	if picked.Use == crypt.UseNetrc {
		use = crypt.UseNetrc
	}
	if err := sink.CheckRemove(host, use); err != nil {
		return err
	}
	ch, err := sink.Remove(host, use)
	if err != nil {
		return err
	}
	ch.report(f, host, "")
	return nil
}

// pickHost asks which host to log out from, on a terminal only: a script
// that forgot the argument must fail, not block on a prompt.
func pickHost(f *Factory, sink tokenSink) (crypt.Entry, error) {
	entries, err := sink.Entries()
	if err != nil {
		return crypt.Entry{}, err
	}
	if len(entries) == 0 {
		return crypt.Entry{}, fmt.Errorf("no tokens in %s; nothing to log out from", sink.Path())
	}
	if !f.IO.InTTY {
		return crypt.Entry{}, usagef("name the host to log out from (one of: %s)", hostList(entries))
	}
	for i, e := range entries {
		termsafe.Fprintf(f.IO.ErrOut, "  %d) %s  %s\n", i+1, e.Host, providers.MaskToken(e.Token))
	}
	termsafe.Fprintf(f.IO.ErrOut, "Log out from which host? [1-%d] ", len(entries))
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return crypt.Entry{}, errors.New("no host chosen; nothing was changed")
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 1 || n > len(entries) {
		return crypt.Entry{}, usagef("that is not a number from 1 to %d; nothing was changed", len(entries))
	}
	return entries[n-1], nil
}

func hostList(entries []crypt.Entry) string {
	hosts := make([]string, len(entries))
	for i, e := range entries {
		hosts[i] = e.Host
	}
	return strings.Join(hosts, ", ")
}
