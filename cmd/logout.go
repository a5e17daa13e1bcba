package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
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
Remove a host's token from access-tokens.conf. With no argument, pick the host
from a list (on a terminal). The token itself stays valid at the forge until
you revoke it there.`),
		Example: strings.Trim(`
  nix-auth logout github
  nix-auth logout git.example.com
  nix-auth logout`, "\n"),
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			if o.encryptTo != "" {
				if len(a) != 1 {
					return usagef("name the host to remove from %s", o.encryptTo)
				}
				return logoutEncrypted(f, a[0], o)
			}
			store, err := openStore(f, configFlag(c), o.dryRun)
			if err != nil {
				return err
			}
			var host string
			if len(a) == 1 {
				_, h, _, err := resolveArg(a[0], "")
				if err != nil {
					return err
				}
				if err := nixconf.ValidateHost(h); err != nil {
					return &usageError{err}
				}
				host = h
			} else if host, err = pickHost(f, store); err != nil {
				return err
			}
			// A binary cache has only a netrc entry (netrc.go).
			if only, err := logoutNetrcFirst(f, configFlag(c), store, host, o.dryRun); only || err != nil {
				return err
			}
			if err := store.CheckWritable(); err != nil {
				return err
			}
			change, err := store.Remove(host)
			if err != nil {
				return err
			}
			if o.dryRun {
				termsafe.Fprintf(f.IO.Out, "Dry run: would remove the token for %s from %s; nothing was written.\n", host, change.TokensFile)
				return logoutNetrcAfter(f, configFlag(c), host, true)
			}
			termsafe.Fprintf(f.IO.Out, "Removed the token for %s from %s.\n", host, change.TokensFile)
			if err := logoutNetrcAfter(f, configFlag(c), host, false); err != nil {
				return err
			}
			if len(change.Migrated) > 0 {
				termsafe.Fprintf(f.IO.Out, "Moved the tokens for %s from %s into %s; the old file is backed up at %s (mode 0600).\n",
					strings.Join(change.Migrated, ", "), change.NixConf, change.TokensFile, change.Backup)
			}
			termsafe.Fprintln(f.IO.Out, "The token is still valid at the forge until you revoke it there.")
			printNixNotes(f, change, false)
			return nil
		},
	}
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what would be removed, write nothing")
	c.Flags().StringVar(&o.encryptTo, "encrypt-to", "", "remove the host from this sops or age store instead of the Nix config")
	o.keys.addRecipientFlag(c.Flags())
	o.keys.addIdentityFlag(c.Flags())
	return c
}

// logoutEncrypted removes one host from an encrypted store.
func logoutEncrypted(f *Factory, target string, o *logoutOptions) error {
	_, host, _, err := resolveArg(target, "")
	if err != nil {
		return err
	}
	if err := nixconf.ValidateHost(host); err != nil {
		return &usageError{err}
	}
	file, err := f.openExisting(o.encryptTo, &o.keys)
	if err != nil {
		return err
	}
	if err := file.Remove(host); err != nil {
		return err
	}
	if o.dryRun {
		termsafe.Fprintf(f.IO.Out, "Dry run: would remove the token for %s from %s; nothing was written.\n", host, file.Path())
		return nil
	}
	if err := file.Save(); err != nil {
		return err
	}
	termsafe.Fprintf(f.IO.Out, "Removed the token for %s from %s.\n", host, file.Path())
	termsafe.Fprintln(f.IO.Out, "Hosts that rendered it keep it until their next render; the token is valid at the forge until you revoke it there.")
	return nil
}

// pickHost asks which host to log out from, on a terminal only: a script
// that forgot the argument must fail, not block on a prompt.
func pickHost(f *Factory, store *nixconf.Store) (string, error) {
	all, err := store.Tokens()
	if err != nil {
		return "", err
	}
	// Only the user's own tokens: the system's are not theirs to remove.
	var entries []nixconf.Entry
	for _, e := range all {
		if e.Layer == nixconf.LayerUser {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("no tokens in %s; nothing to log out from", store.Paths.NixConf)
	}
	if !f.IO.InTTY {
		return "", usagef("name the host to log out from (one of: %s)", hostList(entries))
	}
	for i, e := range entries {
		termsafe.Fprintf(f.IO.ErrOut, "  %d) %s  %s\n", i+1, e.Host, nixconf.MaskToken(e.Token))
	}
	termsafe.Fprintf(f.IO.ErrOut, "Log out from which host? [1-%d] ", len(entries))
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no host chosen; nothing was changed")
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 1 || n > len(entries) {
		return "", usagef("that is not a number from 1 to %d; nothing was changed", len(entries))
	}
	return entries[n-1].Host, nil
}

func hostList(entries []nixconf.Entry) string {
	hosts := make([]string, len(entries))
	for i, e := range entries {
		hosts[i] = e.Host
	}
	return strings.Join(hosts, ", ")
}
