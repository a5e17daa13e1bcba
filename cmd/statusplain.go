package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
	"github.com/nix-auth/nix-auth/render"
)

// The status modes that the NixOS, home-manager and nix-darwin modules run:
// --plain on what render wrote (the health-check timer) and
// --expect-recipient on a store at build time (hostPublicKey).

func addStatusFileFlags(fl *pflag.FlagSet, o *statusOptions) {
	fl.StringVar(&o.plain, "plain", "",
		"show a decrypted token file: one render wrote, or one sops-nix or agenix decrypted (what render --plain reads)")
	fl.BoolVar(&o.offline, "offline", false,
		"with --file or --plain: ask no forge and use no key; show what the file says, expiry judged from its metadata")
	fl.StringArrayVar(&o.expect, "expect-recipient", nil,
		"with --file: only check that STORE is encrypted to KEY (age1..., \"ssh-ed25519 ...\", or a file of keys; repeatable)")
}

func checkStatusFileFlags(hosts []string, o *statusOptions) error {
	switch {
	case o.plain != "" && o.file != "":
		return usagef("give --file (an encrypted store) or --plain (a decrypted file), not both")
	case o.offline && o.file == "" && o.plain == "":
		return usagef("--offline reads a --file or --plain file; the tokens in nix.conf are shown validated")
	case o.offline && len(o.keys.identities) > 0:
		return usagef("--offline uses no key: drop --identity, or --offline to decrypt and validate")
	case o.plain != "" && len(o.keys.identities) > 0:
		return usagef("--identity decrypts a --file store; a --plain file is already decrypted")
	case o.keys.format != "" && o.file == "":
		return usagef("--format is the --file store's format")
	case len(o.expect) > 0 && o.file == "":
		return usagef("--expect-recipient checks an encrypted store: give it with --file STORE")
	case len(o.expect) > 0 && (o.json || len(hosts) > 0 || o.warnExpiring != 0):
		return usagef("--expect-recipient only checks the recipients: it takes no HOST, --json or --warn-expiring")
	}
	return nil
}

// runStatusPlain shows a decrypted token file, read as render --plain
// reads it: the tokens validated with their forges, or with --offline
// only what the file says. For a file render wrote, the tokens it left
// out because they expired are rows too (from the metadata of the stores
// its first line names), so that the health check fails on them.
func runStatusPlain(ctx context.Context, f *Factory, hosts []string, o *statusOptions) error {
	es, err := render.ReadPlain(o.plain, f.Now(), f.warn)
	if err != nil {
		return err
	}
	left := leftOutByRender(f, o.plain, es, hosts, o.warnExpiring)
	if len(es) == 0 && len(left) == 0 {
		// What render writes when every token has expired: Nix has none.
		return &hintError{msg: o.plain + " holds no tokens",
			hints: []string{"render leaves expired tokens out: see what the store holds with `nix-auth status --file STORE --offline`"}}
	}
	// Hosts asked for that render left out are those rows alone.
	inFile := slices.DeleteFunc(slices.Clone(hosts), func(h string) bool {
		return slices.ContainsFunc(left, func(r statusHost) bool { return r.Host == h })
	})
	var rows []statusHost
	switch {
	case len(hosts) > 0 && len(inFile) == 0:
	case o.offline:
		rows, err = metaRows(&crypt.Meta{Path: o.plain, Entries: es}, inFile, f.Now(), o.warnExpiring)
		for i := range rows {
			k := slices.IndexFunc(es, func(e crypt.Entry) bool { return e.Host == rows[i].Host })
			rows[i].Token = providers.MaskToken(es[k].Token)
		}
	default:
		rows, err = checkEntries(ctx, f, es, o.plain, inFile, o.warnExpiring)
	}
	if err != nil {
		return err
	}
	rows = append(rows, left...)
	if o.json {
		return reportStatus(f, statusReport{SchemaVersion: 1, File: o.plain, Hosts: rows})
	}
	termsafe.Fprintf(f.IO.Out, "%s (%d host%s)\n", o.plain, len(rows), plural(len(rows)))
	if o.offline {
		termsafe.Fprintf(f.IO.Out, "Note: --offline: tokens not validated.\n")
	}
	printStatusTable(f, rows)
	return statusExit(rows)
}

// runExpectRecipients checks only that the store is encrypted to every
// --expect-recipient key, from what the file shows without a key. It needs
// no key, no network and no clock, so a build sandbox can run it: the
// NixOS module's hostPublicKey check fails the build, not the activation.
func runExpectRecipients(f *Factory, o *statusOptions) error {
	format, err := readFormat(o.file, o.keys.format)
	if err != nil {
		return err
	}
	if meta, err := crypt.OpenMeta(o.file, crypt.OpenOptions{Now: f.Now, Format: format, Git: f.git()}); err == nil && meta.Format == crypt.FormatGitCrypt {
		return &hintError{
			msg:   fmt.Sprintf("%s is a git-crypt store: no age or ssh recipient reads it, so --expect-recipient has nothing to check", o.file),
			hints: []string{"git-crypt's own GPG users and keys read it: `git-crypt status` lists the files it encrypts"},
		}
	}
	want, err := crypt.ResolveRecipientFlags("--expect-recipient", o.expect)
	if err != nil {
		return err
	}
	missing, err := crypt.MissingRecipients(o.file, want)
	if err != nil {
		return err
	}
	var names []string
	for _, r := range want {
		if slices.Contains(missing, r) {
			names = append(names, recipientName(r))
			continue
		}
		termsafe.Fprintf(f.IO.Out, "%s is encrypted to %s\n", o.file, recipientName(r))
	}
	if len(names) == 0 {
		return nil
	}
	return &hintError{
		msg: fmt.Sprintf("%s is not encrypted to %s", o.file, strings.Join(names, ", ")),
		hints: []string{
			"add the key to the store's .sops.yaml creation rule (sops) or secrets.nix entry (agenix), then run `nix-auth rekey " + o.file + "`",
			"or rekey with it directly: nix-auth rekey " + o.file + " --recipient KEY (every recipient, old and new)",
		},
	}
}

// recipientName shows a recipient as it was given: the ssh key (and, for
// sops, the age key it stands for) or the age key.
func recipientName(r crypt.Recipient) string {
	if r.SSH != "" {
		return r.SSH + " (" + r.Age + ")"
	}
	return r.Age
}

// leftOutByRender returns a row for each token that the stores named by
// plain's first line (a file render wrote) hold and plain does not because
// it expired: render leaves those out, so Nix has no token for the host.
// The stores' metadata is read without a key (unverified, as --offline
// shows it); a file render did not write has none.
func leftOutByRender(f *Factory, plain string, es []crypt.Entry, hosts []string, warn time.Duration) []statusHost {
	data, err := nixconf.ReadRegular(plain, maxMetaFile)
	if err != nil {
		return nil
	}
	stored, _ := f.renderedStoreEntries(data)
	now := f.Now()
	var left []crypt.Entry
	for _, e := range stored {
		if e.Expires.IsZero() || now.Before(e.Expires) || (len(hosts) > 0 && !slices.Contains(hosts, e.Host)) ||
			slices.ContainsFunc(es, func(r crypt.Entry) bool { return r.Host == e.Host }) ||
			slices.ContainsFunc(left, func(r crypt.Entry) bool { return r.Host == e.Host }) {
			continue
		}
		left = append(left, e)
	}
	rows, _ := metaRows(&crypt.Meta{Path: plain, Entries: left}, nil, now, warn)
	for i := range rows {
		rows[i].Token = "(left out)"
		rows[i].Problem = "render left the token out because it expired: Nix has none for this host"
	}
	return rows
}

// renderedStoreEntries returns the entries of the inputs a file render
// wrote names on its first line (sops, age or git-crypt stores, read
// without a key: unverified metadata; a decrypted --plain input; token
// files have none), and whether data is such a file. A store that is not an absolute path to a regular
// file of bounded size is skipped.
func (f *Factory) renderedStoreEntries(data []byte) ([]crypt.Entry, bool) {
	srcs, ok := nixconf.RenderSource(data)
	if !ok {
		return nil, false
	}
	var es []crypt.Entry
	// render names its inputs joined by ", ".
	for _, src := range strings.Split(srcs, ", ") {
		if !filepath.IsAbs(src) {
			continue
		}
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxMetaFile {
			continue
		}
		m, err := crypt.OpenMeta(src, crypt.OpenOptions{Git: f.git(), Now: f.Now})
		switch {
		case err == nil:
			es = append(es, m.Entries...)
		case errors.Is(err, crypt.ErrNoMetadata) || errors.Is(err, crypt.ErrUnknownFormat):
			// What sops-nix or agenix decrypted (render --plain's input),
			// read as render read it; a token file alone has no metadata.
			if pes, err := render.ReadPlain(src, f.Now(), func(string) {}); err == nil {
				es = append(es, pes...)
			}
		}
	}
	return es, true
}
