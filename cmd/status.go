package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// Token states in status output; the JSON schema uses these strings.
const (
	stateValid     = "valid"
	stateInvalid   = "invalid"
	stateExpired   = "expired"
	stateExpiring  = "expiring"
	stateError     = "error"
	stateUnchecked = "unchecked"
)

// statusHost is one row of `status`, and one element of its --json output:
// the field names are a stable schema.
type statusHost struct {
	Host               string     `json:"host"`
	Provider           string     `json:"provider"`
	User               string     `json:"user"`
	Scopes             []string   `json:"scopes"`
	Token              string     `json:"token"`
	ExpiresAt          *time.Time `json:"expires_at"`
	RateLimitRemaining *int       `json:"rate_limit_remaining"`
	State              string     `json:"state"`
	Problem            string     `json:"problem,omitempty"`
	// Source is FILE:LINE (NIX_CONFIG:LINE) of the token Nix uses;
	// Overrides the places whose token for the host Nix does not use.
	Source    string   `json:"source,omitempty"`
	Overrides []string `json:"overrides,omitempty"`
	// Installation is set for an app installation's token (GitHub App,
	// Actions' GITHUB_TOKEN), which has no user.
	Installation *statusInstallation `json:"installation,omitempty"`
}

// statusInstallation is what the forge said of an installation's token.
type statusInstallation struct {
	Account      string `json:"account"`
	Repositories *int   `json:"repositories"`
	Selection    string `json:"repository_selection,omitempty"`
}

// installationOf is st's installation for a status row, nil for a user's
// token.
func installationOf(st *providers.Status) *statusInstallation {
	in := st.Installation
	if in == nil {
		return nil
	}
	si := &statusInstallation{Account: in.Account, Selection: in.Selection}
	if in.Repositories >= 0 {
		n := in.Repositories
		si.Repositories = &n
	}
	return si
}

// installationText describes an installation's token where a user goes:
// "app installation on octo-org, 3 repositories".
func installationText(in *statusInstallation) string {
	s := "app installation"
	if in.Account != "" {
		s += " on " + in.Account
	}
	if in.Repositories != nil {
		s += fmt.Sprintf(", %d repositor%s", *in.Repositories, map[bool]string{true: "y", false: "ies"}[*in.Repositories == 1])
	}
	return s
}

// statusReport is the --json document.
type statusReport struct {
	SchemaVersion int    `json:"schema_version"`
	Config        string `json:"config,omitempty"`
	// File, Decrypted and Recipients describe an encrypted store (--file);
	// File alone a decrypted file (--plain).
	File       string       `json:"file,omitempty"`
	Decrypted  *bool        `json:"decrypted,omitempty"`
	Recipients []string     `json:"recipients,omitempty"`
	Hosts      []statusHost `json:"hosts"`
}

type statusOptions struct {
	json         bool
	warnExpiring time.Duration
	file         string
	keys         keyOptions
	plain        string   // --plain: a decrypted file (statusplain.go)
	offline      bool     // ask no forge, use no key
	expect       []string // --expect-recipient keys
}

func newStatusCmd(f *Factory) *cobra.Command {
	o := &statusOptions{}
	c := &cobra.Command{
		Use:   "status [host...]",
		Short: "Validate the saved tokens and show user, scopes and expiry",
		Long: strings.TrimSpace(`
Validate every token Nix would use (or only the named hosts), all at once, and
show provider, user, scopes, the masked token, expiry and validity.

Exit status: 0 when every token is valid; 1 when one is invalid, expired,
expires within --warn-expiring, or its host could not be checked (no
answer, a TLS or DNS failure, an answer that is not its forge's API); 2 on
a usage error. A host that answers but runs no forge nix-auth knows is
shown as "unchecked" and does not fail the run.

--plain shows a decrypted file instead: one render wrote, or one sops-nix or
agenix decrypted (a file with no token fails). --offline, with --file or
--plain, asks no forge and uses no key. --expect-recipient KEY, with --file,
only checks that the store is encrypted to KEY, from what it shows without a
key (offline, for a build sandbox): exit 1 names each key it is not.`),
		Example: strings.Trim(`
  nix-auth status
  nix-auth status github.com --warn-expiring 168h
  nix-auth status --json | jq '.hosts[] | select(.state != "valid")'
  nix-auth status --file secrets/tokens.yaml
  nix-auth status --plain /run/nix-auth/access-tokens.conf --warn-expiring 168h
  nix-auth status --file secrets/tokens.yaml --offline --expect-recipient "$(cat host.pub)"`, "\n"),
		RunE: func(c *cobra.Command, a []string) error {
			return runStatus(c.Context(), f, configFlag(c), a, o)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print a JSON report (stable schema)")
	c.Flags().DurationVar(&o.warnExpiring, "warn-expiring", 0, "fail when a token expires within this duration, e.g. 72h")
	c.Flags().StringVar(&o.file, "file", "", "show an encrypted store: metadata without a key, validation with one")
	o.keys.addIdentityFlag(c.Flags())
	o.keys.addFormatFlag(c.Flags())
	addStatusFileFlags(c.Flags(), o)
	return c
}

func runStatus(ctx context.Context, f *Factory, config string, hosts []string, o *statusOptions) error {
	if err := checkStatusFileFlags(hosts, o); err != nil {
		return err
	}
	switch {
	case len(o.expect) > 0:
		return runExpectRecipients(f, o)
	case o.plain != "":
		return runStatusPlain(ctx, f, hosts, o)
	}
	if o.file != "" {
		return runStatusFile(ctx, f, hosts, o)
	}
	store, err := openStore(f, config, false)
	if err != nil {
		return err
	}
	cfg, err := store.Config()
	if err != nil {
		return err
	}
	// Netrc credentials of binary caches are rows too (cache.go).
	caches, hosts, onlyCaches, err := netrcCaches(f, store, cfg, hosts)
	if err != nil {
		return err
	}
	var entries []nixconf.Entry
	if !onlyCaches {
		if entries, err = selectHosts(cfg.AccessTokens(), hosts, store.Paths.NixConf); err != nil {
			return err
		}
	}
	// The forges logins recorded: a self-hosted host is not probed again.
	state, err := store.State()
	if err != nil {
		return err
	}
	kinds := map[string]providers.Kind{}
	for _, e := range entries {
		kinds[e.Host] = providers.Kind(state.For(e.Host, e.Token).Provider)
	}
	rows := checkAllKnown(ctx, f, entries, o.warnExpiring, kinds)
	addSources(rows, entries, cfg.Unused())
	rows = append(rows, checkCaches(ctx, f, caches)...)
	warnUnused(f, store.Paths, cfg.Unused())
	if o.json {
		return reportStatus(f, statusReport{SchemaVersion: 1, Config: store.Paths.NixConf, Hosts: rows})
	}
	if len(rows) == 0 {
		termsafe.Fprintf(f.IO.Out, "No tokens are configured in %s.\n", store.Paths.NixConf)
		termsafe.Fprintln(f.IO.Out, "Run `nix-auth login` to add one.")
	} else {
		printStatusTable(f, rows)
		printSources(f, append(entries, cacheSources(caches)...))
		if len(caches) > 0 {
			termsafe.Fprintf(f.IO.Out, "\nNote: the cache credentials come from netrc: %s\n", daemonNote)
		}
	}
	return statusExit(rows)
}

// checkAll validates every entry at once: the wall time is the slowest
// forge's, not the sum.
func checkAll(ctx context.Context, f *Factory, entries []nixconf.Entry, warn time.Duration) []statusHost {
	return checkAllKnown(ctx, f, entries, warn, nil)
}

// checkAllKnown is checkAll with the forges recorded for the hosts
// (kinds), which are then not probed.
func checkAllKnown(ctx context.Context, f *Factory, entries []nixconf.Entry, warn time.Duration, kinds map[string]providers.Kind) []statusHost {
	return checkRows(len(entries), func(i int, row *statusHost) {
		e := entries[i]
		*row = statusHost{Host: e.Host, Token: providers.MaskToken(e.Token), Scopes: []string{}}
		*row = checkToken(ctx, f, e, warn, kinds[e.Host])
	})
}

// checkRows fills n rows at once, each by check: the wall time is the
// slowest host's, not the sum. Run's recover cannot reach these
// goroutines: a bug while reading one host's answer is that row's error
// (on what check put in the row so far), not a crash.
func checkRows(n int, check func(i int, row *statusHost)) []statusHost {
	rows := make([]statusHost, n)
	var wg sync.WaitGroup
	for i := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					rows[i].State, rows[i].Problem = stateError, fmt.Sprintf("internal error (a bug in nix-auth): %v", r)
				}
			}()
			check(i, &rows[i])
		}()
	}
	wg.Wait()
	return rows
}

// reportStatus prints the --json report. JSON escapes control characters
// itself; the values are escaped and cut as in the table all the same, so
// that `jq -r` on the output cannot drive a terminal either, and a forge's
// 100,000 scopes do not make a megabyte of it.
func reportStatus(f *Factory, rep statusReport) error {
	rows := make([]statusHost, len(rep.Hosts)) // the schema has a list, never null
	for i, r := range rep.Hosts {
		rows[i] = safeRow(r)
	}
	out := rep
	out.Hosts = rows
	if rep.Recipients != nil {
		out.Recipients = termsafe.Items(rep.Recipients)
	}
	out.Config, out.File = termsafe.Escape(rep.Config), termsafe.Escape(rep.File)
	enc := json.NewEncoder(f.IO.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	return statusExit(rep.Hosts)
}

// safeRow is r with every value that came from a forge or a file escaped
// and cut: fields to termsafe.MaxField, the problem to a line, the scopes
// to termsafe.MaxItems.
func safeRow(r statusHost) statusHost {
	r.Host, r.Provider, r.User, r.Token = termsafe.Field(r.Host), termsafe.Field(r.Provider), termsafe.Field(r.User), termsafe.Field(r.Token)
	if in := r.Installation; in != nil {
		safe := *in
		safe.Account, safe.Selection = termsafe.Field(in.Account), termsafe.Field(in.Selection)
		r.Installation = &safe
	}
	r.Problem = termsafe.Line(r.Problem)
	r.Scopes = termsafe.Items(r.Scopes)
	return r
}

// statusExit is 1 when any token is invalid, expired, expiring or could
// not be checked for a reason other than being unknown to nix-auth.
func statusExit(rows []statusHost) error {
	for _, r := range rows {
		if r.State != stateValid && r.State != stateUnchecked {
			return &exitError{exitFail}
		}
	}
	return nil
}

// runStatusFile shows an encrypted store: the metadata anyone can read
// (hosts, users, expiry, recipients), and, when a key decrypts it, the
// tokens validated with their forges.
func runStatusFile(ctx context.Context, f *Factory, hosts []string, o *statusOptions) error {
	format, err := readFormat(o.file, o.keys.format)
	if err != nil {
		return err
	}
	git := f.git()
	meta, err := crypt.OpenMeta(o.file, crypt.OpenOptions{Now: f.Now, Format: format, Git: git})
	if err != nil {
		return err
	}
	if meta.Format == crypt.FormatGitCrypt {
		warnGitCryptMode(f, o.file)
	}
	rep := statusReport{SchemaVersion: 1, File: o.file, Recipients: meta.Recipients}
	if rep.Recipients == nil {
		rep.Recipients = meta.Stanzas
	}
	decrypted := false
	var rows []statusHost
	var note string
	var ids *crypt.Identities
	switch {
	case !o.offline && meta.Format == crypt.FormatGitCrypt:
		// In clear in the checkout: no key opens it.
		ids = &crypt.Identities{}
	case !o.offline:
		ids, err = f.identities(o.keys.identities)
	}
	if !o.offline && err == nil {
		var file *crypt.File
		if file, err = crypt.Open(o.file, crypt.OpenOptions{Identities: ids.List, Tried: ids.Tried, Now: f.Now, Format: meta.Format, Git: git}); err == nil {
			decrypted = true
			rows, err = checkStore(ctx, f, file, hosts, o.warnExpiring)
			if err != nil {
				return err
			}
		}
	}
	if !decrypted {
		// Metadata only is for a machine without a key. A key named with
		// --identity was asked to open the file: that it cannot (a host
		// key the file is not encrypted to) is the answer, not a note. A
		// token the file's rules leave in clear is shown as a problem of
		// its host.
		cleartext := errors.Is(err, crypt.ErrCleartext) && len(meta.Cleartext) > 0
		if !o.offline && !cleartext && (len(o.keys.identities) > 0 || !errors.Is(err, crypt.ErrWrongKey) && !errors.Is(err, crypt.ErrPassphrase)) {
			return err
		}
		note = "no key here decrypts it: showing the metadata only, tokens not validated"
		switch {
		case o.offline:
			note = "--offline: showing the metadata only, tokens not validated"
		case cleartext:
			note = "its sops rules leave tokens unencrypted: showing the metadata only, tokens not validated"
		}
		if rows, err = metaRows(meta, hosts, f.Now(), o.warnExpiring); err != nil {
			return err
		}
	}
	rep.Decrypted, rep.Hosts = &decrypted, rows
	if o.json {
		return reportStatus(f, rep)
	}
	termsafe.Fprintf(f.IO.Out, "%s (%s store, %d host%s)\n", o.file, meta.Format, len(rows), plural(len(rows)))
	// Recipients come from the file, which nobody authenticated.
	if meta.Format == crypt.FormatGitCrypt {
		termsafe.Fprintln(f.IO.Out, "Recipients: git-crypt's GPG users and key holders (`git-crypt status`); the file is in clear in this checkout")
	} else {
		termsafe.Fprintf(f.IO.Out, "Recipients: %s\n", orUnknownList(rep.Recipients))
	}
	if note != "" {
		termsafe.Fprintf(f.IO.Out, "Note: %s.\n", note)
	}
	if len(rows) > 0 {
		printStatusTable(f, rows)
	}
	return statusExit(rows)
}

func checkStore(ctx context.Context, f *Factory, file *crypt.File, hosts []string, warn time.Duration) ([]statusHost, error) {
	return checkEntries(ctx, f, file.Entries(), file.Path(), hosts, warn)
}

// checkEntries validates the entries of a store or a decrypted file
// (path), those of the named hosts when hosts are given: a binary cache's
// credential is checked as Nix sends it (cache.go), the others with their
// forges.
func checkEntries(ctx context.Context, f *Factory, es []crypt.Entry, path string, hosts []string, warn time.Duration) ([]statusHost, error) {
	var entries []nixconf.Entry
	kinds := map[string]providers.Kind{}
	for _, e := range es {
		entries = append(entries, nixconf.Entry{Host: e.Host, Token: e.Token, File: path})
		kinds[e.Host] = providers.Kind(e.Provider)
	}
	entries, err := selectHosts(entries, hosts, path)
	if err != nil {
		return nil, err
	}
	entries, caches := storeCaches(es, path, entries)
	return append(checkAllKnown(ctx, f, entries, warn, kinds), checkCaches(ctx, f, caches)...), nil
}

// metaRows are status rows from a store's readable metadata: expiry is
// judged from it, validity cannot be.
func metaRows(meta *crypt.Meta, hosts []string, now time.Time, warn time.Duration) ([]statusHost, error) {
	var entries []nixconf.Entry
	byHost := map[string]crypt.Entry{}
	for _, e := range meta.Entries {
		entries = append(entries, nixconf.Entry{Host: e.Host})
		byHost[e.Host] = e
	}
	entries, err := selectHosts(entries, hosts, meta.Path)
	if err != nil {
		return nil, err
	}
	rows := make([]statusHost, 0, len(entries))
	for _, ne := range entries {
		e := byHost[ne.Host]
		row := statusHost{Host: e.Host, Provider: e.Provider, User: e.User, Scopes: e.Scopes, Token: "(encrypted)", State: stateUnchecked}
		if row.Scopes == nil {
			row.Scopes = []string{}
		}
		if !e.Expires.IsZero() {
			t := e.Expires.UTC()
			row.ExpiresAt = &t
		}
		row.State, row.Problem = expiryState(row.ExpiresAt, now, warn, stateUnchecked)
		if meta.Format == crypt.FormatGitCrypt {
			row.Token = "(git-crypt)"
		}
		if slices.Contains(meta.Cleartext, e.Host) {
			row.Token, row.State, row.Problem = "(not encrypted)", stateError, "the token is stored in clear text: the file's sops rules do not encrypt it"
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// expiryState judges a token by its expiry alone; ok is the state when
// it is neither expired nor expiring.
func expiryState(exp *time.Time, now time.Time, warn time.Duration, ok string) (state, problem string) {
	switch {
	case exp != nil && !now.Before(*exp):
		return stateExpired, ""
	case exp != nil && warn > 0 && exp.Sub(now) < warn:
		return stateExpiring, "expires in " + exp.Sub(now).Round(time.Minute).String()
	}
	return ok, ""
}

// selectHosts keeps the named hosts, in the order given; naming a host that
// has no token is a usage error rather than a silent empty report.
func selectHosts(entries []nixconf.Entry, hosts []string, conf string) ([]nixconf.Entry, error) {
	if len(hosts) == 0 {
		return entries, nil
	}
	byHost := make(map[string]nixconf.Entry, len(entries))
	for _, e := range entries {
		byHost[e.Host] = e
	}
	// Every argument is parsed before any is looked up: a token among them
	// is refused whatever its place.
	resolved := make([]string, len(hosts))
	for i, h := range hosts {
		_, host, _, err := resolveArg(h, "")
		if err != nil {
			return nil, err
		}
		resolved[i] = host
	}
	var out []nixconf.Entry
	for _, host := range resolved {
		e, ok := byHost[host]
		if !ok {
			return nil, usagef("no token for %s in %s", host, conf)
		}
		out = append(out, e)
	}
	return out, nil
}

// checkToken validates one token. A host that cannot be checked is an
// error (it fails the run): one nix-auth cannot parse, one that does not
// answer (DNS, connection, TLS, timeout), one whose answer is not its
// forge's API. Only a host that answers the probes as no forge nix-auth
// knows is "unchecked". recorded is the forge a login recorded for the
// host ("" for none): such a host is not probed.
func checkToken(ctx context.Context, f *Factory, e nixconf.Entry, warn time.Duration, recorded providers.Kind) statusHost {
	row := statusHost{Host: e.Host, Token: providers.MaskToken(e.Token), Scopes: []string{}}
	kind, host, known, err := providers.Resolve(e.Host, "")
	if err != nil {
		if errors.Is(err, providers.ErrTokenArgument) {
			row.Host = providers.MaskToken(e.Host) // a token saved as a host
		}
		row.State, row.Problem = stateError, err.Error()
		return row
	}
	if !known && recorded.Known() {
		kind, known = recorded, true
	}
	if !known {
		kind, err = providers.Detect(ctx, host, f.HTTPClient())
		if errors.Is(err, providers.ErrNotForge) {
			row.State, row.Problem = stateUnchecked, "not a forge nix-auth can check"
			return row
		}
		if err != nil {
			row.State, row.Problem = stateError, err.Error()
			return row
		}
	}
	row.Provider = string(kind)
	p, err := providers.New(kind, host, providerOptions(f, ""))
	if err != nil {
		row.State, row.Problem = stateError, err.Error()
		return row
	}
	st, err := p.Validate(ctx, e.Token)
	if err != nil {
		row.State, row.Problem = stateError, err.Error()
		return row
	}
	row.User = st.User
	row.Installation = installationOf(st)
	if st.Scopes != nil {
		row.Scopes = st.Scopes
	}
	if st.RateLimitRemaining >= 0 {
		n := st.RateLimitRemaining
		row.RateLimitRemaining = &n
	}
	if !st.ExpiresAt.IsZero() {
		t := st.ExpiresAt.UTC()
		row.ExpiresAt = &t
	}
	if !st.Valid {
		row.State, row.Problem = stateInvalid, st.Problem
		if st.Misstored {
			row.Problem += fmt.Sprintf("; store it again with `nix-auth set-token %s`", e.Host)
		}
		return row
	}
	row.State, row.Problem = expiryState(row.ExpiresAt, f.Now(), warn, stateValid)
	return row
}

// printStatusTable prints the rows, every cell escaped and cut (safeRow):
// a tab or line break from a forge would otherwise break the columns.
func printStatusTable(f *Factory, rows []statusHost) {
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	termsafe.Fprintf(tw, "HOST\tPROVIDER\tUSER\tSCOPES\tTOKEN\tEXPIRES\tSTATE\n")
	for _, r := range rows {
		r = safeRow(r)
		expires := "-"
		if r.ExpiresAt != nil {
			expires = r.ExpiresAt.Format("2006-01-02 15:04 UTC")
		}
		state := r.State
		if r.Problem != "" {
			state += ": " + r.Problem
		}
		user := dash(r.User)
		if r.Installation != nil {
			user = installationText(r.Installation)
		}
		termsafe.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Host, dash(r.Provider), user,
			dash(strings.Join(r.Scopes, ",")), r.Token, expires, state)
	}
	tw.Flush()
}

// orUnknownList lists items (each a field, a bounded number of them), or
// says there are none.
func orUnknownList(items []string) string {
	if len(items) == 0 {
		return "(unknown)"
	}
	return termsafe.List(items, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
