package cmd

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
)

type rekeyOptions struct {
	keys   keyOptions
	dryRun bool
	force  bool
}

func newRekeyCmd(f *Factory) *cobra.Command {
	o := &rekeyOptions{}
	c := &cobra.Command{
		Use:   "rekey [FILE...]",
		Short: "Re-encrypt token stores to the recipients .sops.yaml / secrets.nix name now",
		Long: strings.TrimSpace(`
Re-encrypt token stores to the recipients that .sops.yaml (sops files),
secrets.nix (agenix .age files) or --recipient name now: after adding a host
to the fleet, or removing one. Recipients are never taken from the file.

For a sops file only the data key is wrapped again (values and MAC stay, as
with "sops updatekeys"); an .age file is encrypted anew, as "agenix -r" does,
unless its header shows it is encrypted to exactly the declared ssh keys.
The change is shown first, each key with where it is declared (+ added,
- removed, ? an X25519 key an age header cannot confirm); --dry-run stops
there. A file that none of your identities could decrypt afterwards is
refused unless --force.

With no FILE, every store below the current directory that a .sops.yaml rule
or secrets.nix entry names and that holds nix-auth tokens is rekeyed. One
file failing does not stop the others; the exit status is 1 if any failed.

A removed recipient who kept a copy of a sops file can still read values
written with the same data key: rotate the tokens after removing someone
who should lose access.`),
		Example: strings.Trim(`
  nix-auth rekey secrets/tokens.yaml
  nix-auth rekey --dry-run
  nix-auth rekey secrets/tokens.age --recipient "$(ssh-keyscan -t ed25519 new-host)"`, "\n"),
		RunE: func(c *cobra.Command, a []string) error {
			return runRekey(f, a, o)
		},
	}
	fl := c.Flags()
	o.keys.addIdentityFlag(fl)
	fl.StringArrayVar(&o.keys.recipients, "recipient", nil,
		"recipients to encrypt to instead of .sops.yaml / secrets.nix: age1..., \"ssh-ed25519 ...\", or a file of them")
	fl.BoolVar(&o.dryRun, "dry-run", false, "show the recipient change, write nothing")
	fl.BoolVar(&o.force, "force", false, "write even when none of your identities could decrypt the file afterwards")
	return c
}

func runRekey(f *Factory, files []string, o *rekeyOptions) error {
	if len(files) == 0 {
		var err error
		if files, err = findStores(f, "."); err != nil {
			return err
		}
		if len(files) == 0 {
			return &hintError{
				msg:   "no token store below this directory is named by a .sops.yaml rule or secrets.nix entry",
				hints: []string{"name the files: `nix-auth rekey secrets/tokens.yaml`"},
			}
		}
	}
	ids, err := f.identities(o.keys.identities)
	if err != nil {
		return err
	}
	failed := 0
	for _, path := range files {
		if err := rekeyOne(f, path, ids, o); err != nil {
			failed++
			reportError(f.IO.ErrOut, err)
		}
	}
	if failed > 0 {
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: %d of %d file%s failed; the others were rekeyed\n", failed, len(files), plural(len(files)))
		return &exitError{exitFail}
	}
	return nil
}

func rekeyOne(f *Factory, path string, ids *crypt.Identities, o *rekeyOptions) error {
	git := f.git()
	var recips []crypt.Recipient
	// A git-crypt store (or a locked one) has no recipients to declare:
	// crypt.Rekey says so, before any declaration is looked for.
	meta, err := crypt.OpenMeta(path, crypt.OpenOptions{Now: f.Now, Git: git})
	if !(err == nil && meta.Format == crypt.FormatGitCrypt || errors.Is(err, crypt.ErrGitCryptLocked)) {
		if recips, _, err = f.storeRecipients(path, o.keys.recipients); err != nil {
			return err
		}
	}
	res, err := crypt.Rekey(path, ids.List, recips, crypt.RekeyOptions{DryRun: o.dryRun, Force: o.force, Tried: ids.Tried, Now: f.Now, Git: git, PluginUI: f.pluginUI()})
	if err != nil {
		return err
	}
	out := f.IO.Out
	termsafe.Fprintf(out, "%s:\n", path)
	for _, r := range res.Added {
		termsafe.Fprintf(out, "  + %s  from %s\n", r.Key(res.Format), r.Source)
	}
	for _, r := range res.Unverified {
		termsafe.Fprintf(out, "  ? %s  from %s\n", r.Key(res.Format), r.Source)
	}
	for _, r := range res.Removed {
		termsafe.Fprintf(out, "  - %s  was in %s\n", r.Key(res.Format), r.Source)
	}
	for _, s := range res.Undeclared {
		termsafe.Fprintf(out, "  - %s\n", s)
	}
	// Read from the file, whose key list no MAC covers.
	for _, k := range res.OtherKeys {
		termsafe.Fprintf(out, "  = %s (kept: nix-auth manages age keys only; change it with `sops updatekeys %s`)\n", k, path)
	}
	if len(res.Unverified) > 0 {
		termsafe.Fprintln(out, "  (?: an age header does not say which X25519 or post-quantum key a stanza is for, so the file is encrypted anew)")
	}
	switch {
	case !res.Changed:
		termsafe.Fprintln(out, "  recipients unchanged; nothing written")
	case o.dryRun:
		termsafe.Fprintln(out, "  dry run: nothing written")
	default:
		termsafe.Fprintln(out, "  rekeyed")
	}
	return nil
}

// findStores lists the token stores below root that a .sops.yaml rule or
// an agenix secrets.nix entry names: sops files holding nix-auth's hosts
// map, and .age files with an entry.
func findStores(f *Factory, root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "result") {
				return filepath.SkipDir
			}
			return nil
		}
		format, err := crypt.FormatOf(p)
		if err != nil {
			return nil
		}
		if _, _, err := f.storeRecipients(p, nil); err != nil {
			return nil
		}
		if format == crypt.FormatSOPS {
			meta, err := crypt.LoadMeta(p)
			if err != nil || (len(meta.Entries) == 0 && !meta.Hidden) {
				return nil
			}
		}
		out = append(out, p)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return out, nil
}
