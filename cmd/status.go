package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
}

// statusReport is the --json document.
type statusReport struct {
	SchemaVersion int          `json:"schema_version"`
	Config        string       `json:"config"`
	Hosts         []statusHost `json:"hosts"`
}

type statusOptions struct {
	json         bool
	warnExpiring time.Duration
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
expires within --warn-expiring, or could not be checked; 2 on a usage error.`),
		Example: strings.TrimSpace(`
  nix-auth status
  nix-auth status github.com --warn-expiring 168h
  nix-auth status --json | jq '.hosts[] | select(.state != "valid")'`),
		RunE: func(c *cobra.Command, a []string) error {
			return runStatus(c.Context(), f, configFlag(c), a, o)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print a JSON report (stable schema)")
	c.Flags().DurationVar(&o.warnExpiring, "warn-expiring", 0, "fail when a token expires within this duration, e.g. 72h")
	return c
}

func runStatus(ctx context.Context, f *Factory, config string, hosts []string, o *statusOptions) error {
	store, err := openStore(f, config, false)
	if err != nil {
		return err
	}
	entries, err := store.Tokens()
	if err != nil {
		return err
	}
	entries, err = selectHosts(entries, hosts, store.Paths.NixConf)
	if err != nil {
		return err
	}
	rows := make([]statusHost, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i] = checkToken(ctx, f, e, o.warnExpiring)
		}()
	}
	wg.Wait()

	if o.json {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(statusReport{SchemaVersion: 1, Config: store.Paths.NixConf, Hosts: rows}); err != nil {
			return err
		}
	} else if len(rows) == 0 {
		fmt.Fprintf(f.IO.Out, "No tokens are configured in %s.\n", store.Paths.NixConf)
		fmt.Fprintln(f.IO.Out, "Run `nix-auth login` to add one.")
	} else {
		printStatusTable(f, rows)
	}
	for _, r := range rows {
		if r.State != stateValid && r.State != stateUnchecked {
			return &exitError{exitFail}
		}
	}
	return nil
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
	var out []nixconf.Entry
	for _, h := range hosts {
		_, host, _, err := providers.Resolve(h, "")
		if err != nil {
			return nil, &usageError{err}
		}
		e, ok := byHost[host]
		if !ok {
			return nil, usagef("no token for %s in %s", host, conf)
		}
		out = append(out, e)
	}
	return out, nil
}

func checkToken(ctx context.Context, f *Factory, e nixconf.Entry, warn time.Duration) statusHost {
	row := statusHost{Host: e.Host, Token: nixconf.MaskToken(e.Token), Scopes: []string{}}
	kind, host, known, err := providers.Resolve(e.Host, "")
	if err == nil && !known {
		kind, err = providers.Detect(ctx, host, f.HTTPClient())
		if err != nil {
			row.State, row.Problem = stateUnchecked, "not a forge nix-auth can check"
			return row
		}
	}
	if err != nil {
		row.State, row.Problem = stateUnchecked, err.Error()
		return row
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
	now := f.Now()
	switch {
	case !st.Valid:
		row.State, row.Problem = stateInvalid, st.Problem
	case row.ExpiresAt != nil && !now.Before(*row.ExpiresAt):
		row.State = stateExpired
	case row.ExpiresAt != nil && warn > 0 && row.ExpiresAt.Sub(now) < warn:
		row.State, row.Problem = stateExpiring, "expires in "+row.ExpiresAt.Sub(now).Round(time.Minute).String()
	default:
		row.State = stateValid
	}
	return row
}

func printStatusTable(f *Factory, rows []statusHost) {
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tPROVIDER\tUSER\tSCOPES\tTOKEN\tEXPIRES\tSTATE")
	for _, r := range rows {
		expires := "-"
		if r.ExpiresAt != nil {
			expires = r.ExpiresAt.Format("2006-01-02 15:04 UTC")
		}
		state := r.State
		if r.Problem != "" {
			state += ": " + r.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Host, dash(r.Provider), dash(r.User),
			dash(strings.Join(r.Scopes, ",")), r.Token, expires, state)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
