package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/nixquery"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// Finding codes of `doctor`; the --json schema uses these strings.
const (
	codeWorldReadable     = "world-readable"
	codeInNixStore        = "in-nix-store"
	codeShadowed          = "shadowed"
	codeUnreadableInclude = "unreadable-include"
	codeGitLabNoPrefix    = "gitlab-no-prefix"
	codeNoFetcher         = "no-fetcher-uses-it"
	codeExpired           = "expired"
	codeInvalid           = "invalid"
	codeNixConfigEnv      = "nix-config-env"
	codeManagedReadOnly   = "managed-readonly"
	codeDaemonCannotRead  = "daemon-cannot-read"
	codeConfigError       = "config-error"
	codeNixMissing        = "nix-missing"
	codeNixFailed         = "nix-failed"
	codeNixDisagrees      = "nix-disagrees"
)

// Severities: an error fails the run (exit 1).
const (
	sevError   = "error"
	sevWarning = "warning"
	sevInfo    = "info"
)

// finding is one problem doctor explains, and one element of --json's
// findings: the field names are a stable schema.
type finding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Host     string `json:"host,omitempty"`
	File     string `json:"file,omitempty"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
}

// doctorCred is one credential Nix reads: an access-tokens item or a
// netrc entry, masked.
type doctorCred struct {
	Kind  string `json:"kind"` // "access-token" or "netrc"
	Host  string `json:"host"`
	Token string `json:"token"`
	Login string `json:"login,omitempty"`
	// File and Line say where it is set (File empty: nowhere doctor
	// reads; only nix said so); Source what that file is to Nix.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Source string `json:"source"`
	// Used is false for a token a file sets and Nix does not use.
	Used bool `json:"used"`
}

// doctorNix is what doctor learnt from the installed nix.
type doctorNix struct {
	Found   bool   `json:"found"`
	Binary  string `json:"binary,omitempty"`
	Version string `json:"version,omitempty"`
	Command string `json:"command,omitempty"`
	Error   string `json:"error,omitempty"`
}

// doctorReport is the --json document.
type doctorReport struct {
	SchemaVersion int          `json:"schema_version"`
	Nix           doctorNix    `json:"nix"`
	Config        string       `json:"config"`
	NetrcFile     string       `json:"netrc_file"`
	Credentials   []doctorCred `json:"credentials"`
	Findings      []finding    `json:"findings"`
}

type doctorOptions struct {
	json       bool
	online     bool
	nixTimeout time.Duration
}

func newDoctorCmd(f *Factory) *cobra.Command {
	o := &doctorOptions{}
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Explain every token and netrc credential Nix uses, and what is wrong with them",
		Long: strings.TrimSpace(`
Ask the installed nix which access tokens and netrc file it really uses
(` + "`nix config show --json`, or `nix show-config --json` before Nix 2.20" + `), say which
file each credential comes from (the system's nix.conf, an included file,
your nix.conf, NIX_CONFIG), and explain what is wrong, each with its fix:
a token other users can read or in the Nix store, a user line hiding the
system's tokens, an include Nix skips, a GitLab token without PAT: or
OAuth2:, a Gitea or Forgejo token no Nix fetcher sends, an expired token, a
token in NIX_CONFIG, a managed nix.conf without nix-auth's include, a cache
credential the nix-daemon cannot read. Tokens are never printed, only
masked.

doctor works offline: expiry is judged from the metadata nix-auth keeps.
--online also validates every token with its forge. Without nix, it says so
and checks the files as Nix reads them.

Exit status: 0 when no finding is an error; 1 when one is; 2 on a usage
error.`),
		Example: strings.Trim(`
  nix-auth doctor
  nix-auth doctor --json | jq '.findings[] | select(.severity == "error")'
  nix-auth doctor --online`, "\n"),
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return runDoctor(c.Context(), f, configFlag(c), o)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print a JSON report (stable schema)")
	c.Flags().BoolVar(&o.online, "online", false, "also validate each token with its forge")
	c.Flags().DurationVar(&o.nixTimeout, "nix-timeout", nixquery.DefaultTimeout, "how long nix may take to answer")
	return c
}

// doctor is one run's state.
type doctor struct {
	f        *Factory
	store    *nixconf.Store
	cfg      *nixconf.Config // nil: a file Nix refuses
	nix      *nixquery.Config
	netrc    string // the netrc file the user's nix reads
	netrcs   []nixconf.NetrcEntry
	rep      doctorReport
	storeDir string
	secrets  []string // masked wherever they appear (collectSecrets)
	// state is what login recorded of the tokens in the user's config (the
	// state file): their forges and expiry, known offline.
	state *nixconf.State
	metas map[string][]crypt.Entry // metaOf's, by file
}

func runDoctor(ctx context.Context, f *Factory, config string, o *doctorOptions) error {
	if o.nixTimeout <= 0 {
		return usagef("--nix-timeout must be positive")
	}
	store, err := openStore(f, config, true)
	if err != nil {
		return err
	}
	d := &doctor{f: f, store: store, storeDir: f.Getenv("NIX_STORE_DIR")}
	d.rep = doctorReport{SchemaVersion: 1, Config: store.Paths.NixConf, Credentials: []doctorCred{}, Findings: []finding{}}
	d.askNix(ctx, o.nixTimeout)
	if d.cfg, err = store.Config(); err != nil {
		d.configError(err)
	}
	d.findNetrc()
	d.readState()
	d.collectSecrets()
	d.explain()
	if d.cfg != nil {
		d.checkFiles()
		d.checkTokens(ctx, o.online)
		d.checkIncludes()
		d.checkManaged()
		d.checkDaemon()
	}
	if o.json {
		return d.printJSON()
	}
	d.printHuman()
	return d.exit()
}

// add records a finding. Every text in it is escaped where it is printed.
func (d *doctor) add(code, sev, host, file, msg, fix string) {
	d.rep.Findings = append(d.rep.Findings, finding{Code: code, Severity: sev, Host: host, File: file, Message: msg, Fix: fix})
}

// nixEnvNames are the variables that decide what nix reads and how it
// runs: nix gets them as the Factory's environment has them (unset stays
// unset, as Nix tells the two apart), so that it answers for the same
// config doctor reads.
var nixEnvNames = []string{
	"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "LANG", "LC_ALL",
	"XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
	"NIX_CONF_DIR", "NIX_USER_CONF_FILES", "NIX_CONFIG", "NIX_STORE_DIR", "NIX_STATE_DIR",
	"NIX_LOG_DIR", "NIX_DATA_DIR", "NIX_REMOTE", "NIX_PATH", "NIX_SSL_CERT_FILE", "NIX_REMOTE_SYSTEMS",
}

// askNix runs the installed nix for the config it uses.
func (d *doctor) askNix(ctx context.Context, timeout time.Duration) {
	var env []string
	for _, k := range nixEnvNames {
		if v, ok := d.f.lookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	n, err := nixquery.Query(ctx, nixquery.Options{Env: env, Timeout: timeout})
	switch {
	case errors.Is(err, nixquery.ErrNotFound):
		d.rep.Nix.Error = "nix is not installed (no nix on PATH)"
		d.add(codeNixMissing, sevInfo, "", "", "nix is not installed (no nix on PATH): the files were checked as Nix reads them, without its word on what it uses",
			"install Nix, or put it on PATH, and run nix-auth doctor again")
		return
	case err != nil:
		d.rep.Nix = doctorNix{Found: true, Error: err.Error()}
		if n != nil {
			d.rep.Nix.Binary = n.Binary
		}
		fix := "run `nix config show` (or `nix show-config` before Nix 2.20) to see what is wrong; the files were checked as Nix reads them"
		if errors.Is(err, nixquery.ErrTimeout) {
			fix = "check that nix runs (a hung nix-daemon, a slow network file system), or give it longer with --nix-timeout; the files were checked as Nix reads them"
		}
		d.add(codeNixFailed, sevError, "", "", "could not ask nix which configuration it uses: "+err.Error(), fix)
		return
	}
	d.nix = n
	d.rep.Nix = doctorNix{Found: true, Binary: n.Binary, Version: n.Version, Command: n.Command}
}

// configError is a config file Nix refuses: Nix fails every command.
func (d *doctor) configError(err error) {
	var pe *nixconf.ParseError
	file, fix := "", "fix the line as the message says"
	if errors.As(err, &pe) {
		file = pe.File
		if hs := pe.Hints(); len(hs) > 0 {
			fix = hs[0]
		}
	}
	d.add(codeConfigError, sevError, "", file, err.Error(), fix)
}

// findNetrc decides which netrc file the user's nix reads (nix's word
// when it answered) and reads its entries.
func (d *doctor) findNetrc() {
	switch {
	case d.nix != nil:
		d.netrc = d.nix.NetrcFile
	case d.cfg != nil:
		if set, ok := d.cfg.SettingIn("netrc-file"); ok {
			d.netrc = set.Value
		} else {
			d.netrc = d.store.Paths.DefaultNetrc()
		}
	default:
		d.netrc = d.store.Paths.DefaultNetrc()
	}
	d.rep.NetrcFile = d.netrc
	entries, _, err := nixconf.ReadNetrcEntries(d.netrc)
	if err != nil {
		d.configError(err)
	}
	d.netrcs = entries
}

// source says what file is to Nix.
func (d *doctor) source(file string, layer nixconf.Layer) string {
	p := d.store.Paths
	switch {
	case file == nixconf.EnvSource:
		return "the NIX_CONFIG environment variable"
	case file == p.System:
		return "the system's nix.conf"
	case slices.Contains(p.Before, file):
		return "a user config file Nix reads before yours (XDG_CONFIG_DIRS, NIX_USER_CONF_FILES)"
	case file == p.NixConf:
		return "your nix.conf"
	case layer == nixconf.LayerBefore:
		return "a file the system's config includes"
	}
	return "a file your nix.conf includes"
}

// explain lists every credential, and where nix and the files disagree.
func (d *doctor) explain() {
	var used []nixconf.Entry
	if d.cfg != nil {
		used = d.cfg.AccessTokens()
		for _, e := range used {
			d.rep.Credentials = append(d.rep.Credentials, doctorCred{Kind: "access-token", Host: e.Host, Token: providers.MaskToken(e.Token),
				File: e.File, Line: e.Line, Source: d.source(e.File, e.Layer), Used: true})
		}
		for _, u := range d.cfg.Unused() {
			d.rep.Credentials = append(d.rep.Credentials, doctorCred{Kind: "access-token", Host: u.Host, Token: providers.MaskToken(u.Token),
				File: u.File, Line: u.Line, Source: d.source(u.File, u.Layer)})
		}
	}
	for _, e := range d.netrcs {
		d.rep.Credentials = append(d.rep.Credentials, doctorCred{Kind: "netrc", Host: e.Host, Token: providers.MaskToken(e.Password), Login: e.Login,
			File: e.File, Line: e.Line, Source: "the netrc file Nix's downloader reads", Used: true})
	}
	if d.nix == nil || d.cfg == nil {
		return
	}
	// What nix uses and no file gives it: its own config is elsewhere
	// (a wrapper's NIX_CONF_DIR, a --option), which doctor cannot see.
	hosts := make([]string, 0, len(d.nix.AccessTokens))
	for h := range d.nix.AccessTokens {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		tok := d.nix.AccessTokens[h]
		i := slices.IndexFunc(used, func(e nixconf.Entry) bool { return e.Host == h })
		if i >= 0 && used[i].Token == tok {
			continue
		}
		d.rep.Credentials = append(d.rep.Credentials, doctorCred{Kind: "access-token", Host: h, Token: providers.MaskToken(tok),
			Source: "nix's own configuration, in no file doctor reads (a wrapper's NIX_CONF_DIR, an --option)", Used: true})
		msg := fmt.Sprintf("nix uses a token for %s that no config file doctor reads gives it", h)
		if i >= 0 {
			msg = fmt.Sprintf("nix uses another token for %s than the one at %s", h, from(used[i].File, used[i].Line))
		}
		d.add(codeNixDisagrees, sevWarning, h, "", msg,
			"this nix reads another configuration: check its wrapper or package for NIX_CONF_DIR or NIX_USER_CONF_FILES, and run doctor with the same environment")
	}
	for _, e := range used {
		if _, ok := d.nix.AccessTokens[e.Host]; !ok {
			d.add(codeNixDisagrees, sevWarning, e.Host, e.File, fmt.Sprintf("%s sets a token for %s that nix does not use", from(e.File, e.Line), e.Host),
				"this nix reads another configuration: check its wrapper or package for NIX_CONF_DIR or NIX_USER_CONF_FILES")
		}
	}
	want := d.store.Paths.DefaultNetrc()
	if set, ok := d.cfg.SettingIn("netrc-file"); ok {
		want = set.Value
	}
	if want != d.nix.NetrcFile {
		d.add(codeNixDisagrees, sevWarning, "", d.nix.NetrcFile, fmt.Sprintf("nix reads the netrc file %s, the files say %s", d.nix.NetrcFile, want),
			"this nix reads another configuration: check its wrapper or package for NIX_CONF_DIR")
	}
}

// othersCanRead reports whether users other than the owner (and its
// group) can read path: it is readable by all, and every directory above
// it lets them through.
func othersCanRead(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return false
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		di, err := os.Stat(dir)
		if err != nil || di.Mode().Perm()&0o001 == 0 {
			return false
		}
		if dir == filepath.Dir(dir) {
			return true
		}
	}
}

// ownedByMe reports whether this user owns path.
func ownedByMe(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// checkFiles finds tokens in files others can read or in the Nix store.
func (d *doctor) checkFiles() {
	type held struct {
		file  string
		hosts []string
		netrc bool
		layer nixconf.Layer
	}
	var files []*held
	at := func(file string) *held {
		for _, h := range files {
			if h.file == file {
				return h
			}
		}
		h := &held{file: file}
		files = append(files, h)
		return h
	}
	entries := d.cfg.AccessTokens()
	for _, u := range d.cfg.Unused() {
		entries = append(entries, u.Entry)
	}
	for _, e := range entries {
		if e.File == nixconf.EnvSource {
			continue
		}
		h := at(e.File)
		h.layer = e.Layer
		if !slices.Contains(h.hosts, e.Host) {
			h.hosts = append(h.hosts, e.Host)
		}
	}
	for _, e := range d.netrcs {
		h := at(e.File)
		h.netrc = true
		if !slices.Contains(h.hosts, e.Host) {
			h.hosts = append(h.hosts, e.Host)
		}
	}
	for _, h := range files {
		what := "the token for " + joinWords(h.hosts, "and")
		if len(h.hosts) > 1 {
			what = "the tokens for " + joinWords(h.hosts, "and")
		}
		if nixconf.InStore(h.file, d.storeDir) {
			d.add(codeInNixStore, sevError, strings.Join(h.hosts, " "), h.file,
				fmt.Sprintf("%s holds %s and is in the Nix store, which every user of this machine can read and which is copied with every closure that refers to it (a secrets file named as a Nix path, such as builtins.fromJSON ./secrets.json, is copied there in clear)", h.file, what),
				"revoke the token at the forge and make a new one; deliver it outside the store: nix-auth render, sops-nix or agenix write it at activation, and nix.conf names the file by string path with `!include /run/...`, never as a Nix path")
			continue
		}
		if !othersCanRead(h.file) {
			continue
		}
		fix := "chmod 600 " + h.file
		switch {
		case h.netrc:
		case h.file == d.store.Paths.NixConf:
			fix = "run `nix-auth set-token HOST` for each of them: it moves them into " + nixconf.TokensFileName + " (mode 0600), which nix.conf includes"
		case h.layer == nixconf.LayerBefore:
			fix = "keep the system's tokens in a file only root reads (0600), which the system's nix.conf names with `!include`: nix-auth render writes one from an encrypted store (NixOS: the nix-auth module)"
		}
		if !ownedByMe(h.file) && strings.HasPrefix(fix, "chmod") {
			fix = "as its owner (or root): " + fix
		}
		d.add(codeWorldReadable, sevError, strings.Join(h.hosts, " "), h.file,
			fmt.Sprintf("%s holds %s and every user of this machine can read it", h.file, what), fix)
	}
}

// forgeOf is the forge a token's host runs, when it is known without
// asking (a public host, or a token whose prefix names it), or was found
// online.
func forgeOf(host, token string, online map[string]providers.Kind) (providers.Forge, bool) {
	kind, ok := online[host]
	if !ok {
		k, _, known, err := providers.Resolve(host, "")
		if err == nil && known {
			kind, ok = k, true
		}
	}
	if !ok {
		_, rest, _ := strings.Cut(token, ":")
		for _, fg := range providers.Forges() {
			for _, p := range fg.TokenPrefixes {
				if strings.HasPrefix(token, p.Prefix) || strings.HasPrefix(rest, p.Prefix) {
					return fg, true
				}
			}
		}
		return providers.Forge{}, false
	}
	return providers.ForgeOf(kind)
}

// readState reads the state file beside the user's tokens file; one Nix
// does not read, so a broken one is a warning, about nix-auth alone.
func (d *doctor) readState() {
	st, err := d.store.State()
	if err != nil {
		d.add(codeConfigError, sevWarning, "", d.store.Paths.StateFile(), err.Error(),
			"nix-auth keeps what it knows of your tokens there (their forges, expiry, GitLab refresh tokens): fix or delete it, then log in again where a refresh token is lost")
		return
	}
	d.state = st
}

// checkTokens judges each token Nix uses: its form for its forge, whether
// a fetcher sends it, its expiry, and where it is set.
func (d *doctor) checkTokens(ctx context.Context, online bool) {
	used := d.cfg.AccessTokens()
	kinds := map[string]providers.Kind{}
	for _, e := range used {
		// The forge a login found or was told: a self-hosted host's, too.
		if k := providers.Kind(d.state.For(e.Host, e.Token).Provider); k.Known() {
			kinds[e.Host] = k
		}
	}
	if online {
		// A host whose forge is recorded is not probed again.
		rows := checkAllKnown(ctx, d.f, used, 0, kinds)
		for i, r := range rows {
			e := used[i]
			if r.Provider != "" {
				kinds[e.Host] = providers.Kind(r.Provider)
			}
			switch r.State {
			case stateExpired:
				d.add(codeExpired, sevError, e.Host, e.File, fmt.Sprintf("the token for %s at %s has expired, its forge says", e.Host, from(e.File, e.Line)), loginFix(e.Host))
			case stateInvalid:
				d.add(codeInvalid, sevError, e.Host, e.File, fmt.Sprintf("%s refuses the token at %s: %s", e.Host, from(e.File, e.Line), r.Problem), loginFix(e.Host))
			case stateError:
				d.add(codeInvalid, sevWarning, e.Host, e.File, fmt.Sprintf("the token for %s could not be checked: %s", e.Host, r.Problem),
					"check the network and run nix-auth doctor --online again")
			}
		}
	} else {
		d.expiry(used)
	}
	var env []string
	for _, e := range append(slices.Clone(used), unusedEntries(d.cfg)...) {
		if e.File == nixconf.EnvSource && !slices.Contains(env, e.Host) {
			env = append(env, e.Host)
		}
	}
	for _, h := range env {
		d.add(codeNixConfigEnv, sevWarning, h, nixconf.EnvSource,
			fmt.Sprintf("the NIX_CONFIG environment variable carries the token for %s: every program you start inherits it, and tools, CI logs and crash reports print environments", h),
			fmt.Sprintf("save it with `nix-auth set-token %s` (a 0600 file nix.conf includes) and take it out of NIX_CONFIG where you set it (shell profile, CI settings, direnv)", h))
	}
	for _, e := range used {
		fg, ok := forgeOf(e.Host, e.Token, kinds)
		if !ok {
			continue
		}
		if fg.Kind == providers.GitLab {
			if norm, err := providers.NormalizeToken(providers.GitLab, e.Token); err == nil && norm != e.Token {
				d.add(codeGitLabNoPrefix, sevError, e.Host, e.File,
					fmt.Sprintf("the GitLab token for %s at %s has no PAT: or OAuth2: in front, so Nix's gitlab: fetcher sends no header GitLab takes", e.Host, from(e.File, e.Line)),
					fmt.Sprintf("write it as %s=PAT:TOKEN (a personal access token) or %s=OAuth2:TOKEN (an OAuth token); `nix-auth set-token %s` does it", e.Host, e.Host, e.Host))
			}
		}
		if len(fg.Fetchers) == 0 && fg.Netrc == providers.AlsoNetrc && !d.inNetrc(e.Host) {
			d.add(codeNoFetcher, sevWarning, e.Host, e.File,
				fmt.Sprintf("Nix has no %s fetcher, so no fetch sends the token for %s at %s, and %s has no entry for it: archives from %s go without credentials", fg.Title, e.Host, from(e.File, e.Line), "the netrc file "+orNone(d.netrc), e.Host),
				fmt.Sprintf("run `nix-auth set-token %s`: it also writes the netrc entry Nix's downloader sends (git+https fetches take git's credential helper: `nix-auth setup-git`)", e.Host))
		}
	}
	d.shadowed()
}

// shadowed explains the tokens a user's line keeps from Nix: an
// access-tokens line (not extra-) replaces all those set before it, the
// system's included; and the first entry for a host wins over a later one.
func (d *doctor) shadowed() {
	type hiding struct {
		by    nixconf.Entry
		hosts []string
		from  []string
	}
	var lines []*hiding
	for _, u := range d.cfg.Unused() {
		switch {
		case u.By.Host == "" && u.Layer == nixconf.LayerBefore && u.By.Layer != nixconf.LayerBefore:
			i := slices.IndexFunc(lines, func(h *hiding) bool { return h.by.File == u.By.File && h.by.Line == u.By.Line })
			if i < 0 {
				lines = append(lines, &hiding{by: u.By})
				i = len(lines) - 1
			}
			lines[i].hosts = append(lines[i].hosts, u.Host)
			if w := from(u.File, u.Line); !slices.Contains(lines[i].from, w) {
				lines[i].from = append(lines[i].from, w)
			}
		case u.By.Host != "" && u.By.Layer != u.Layer:
			d.add(codeShadowed, sevWarning, u.Host, u.File,
				fmt.Sprintf("Nix uses the token for %s from %s, not the one at %s: the first entry for a host wins", u.Host, from(u.By.File, u.By.Line), from(u.File, u.Line)),
				fmt.Sprintf("remove %s from one of them; to use yours, remove it from %s (on NixOS: nix.settings.access-tokens, or the fleet's token store)", u.Host, u.By.File))
		}
	}
	for _, h := range lines {
		what := "the token for " + h.hosts[0]
		if len(h.hosts) > 1 {
			what = "the tokens for " + joinWords(h.hosts, "and")
		}
		d.add(codeShadowed, sevWarning, strings.Join(h.hosts, " "), h.by.File,
			fmt.Sprintf("the access-tokens line at %s replaces every token set before it, so Nix does not use %s that the system's config sets (%s)",
				from(h.by.File, h.by.Line), what, strings.Join(h.from, ", ")),
			fmt.Sprintf("write extra-access-tokens instead of access-tokens at %s, so that it adds to the system's tokens", from(h.by.File, h.by.Line)))
	}
}

func unusedEntries(cfg *nixconf.Config) []nixconf.Entry {
	var out []nixconf.Entry
	for _, u := range cfg.Unused() {
		out = append(out, u.Entry)
	}
	return out
}

func loginFix(host string) string {
	return fmt.Sprintf("make a new token: `nix-auth login %s` (or with --encrypt-to STORE for a store render reads)", host)
}

// inNetrc reports whether the netrc file the user's nix reads has an
// entry for host's machine.
func (d *doctor) inNetrc(host string) bool {
	m := nixconf.NetrcMachine(host)
	return slices.ContainsFunc(d.netrcs, func(e nixconf.NetrcEntry) bool { return strings.EqualFold(e.Host, m) })
}

// maxMetaFile bounds a file read for nix-auth's metadata.
const maxMetaFile = 4 << 20

// expiry judges the tokens from what nix-auth keeps of them, without the
// network: the state file login writes beside the user's tokens (whose
// record is of the very token, by its hash), the "# nix-auth:" comments
// of a store's plaintext that agenix deployed and nix.conf includes, and
// the stores a file render wrote names in its first line; and the netrc
// credentials of a netrc file render wrote, from its stores.
func (d *doctor) expiry(used []nixconf.Entry) {
	now := d.f.Now()
	for _, e := range used {
		if e.File == nixconf.EnvSource {
			continue
		}
		if hs := d.state.For(e.Host, e.Token); !hs.Expires.IsZero() && !now.Before(hs.Expires) {
			fix := loginFix(e.Host)
			if hs.RefreshToken != "" {
				fix = "renew it with `nix-auth refresh` (and keep it renewed: `nix-auth refresh --within 1h` from a timer, see the README)"
			}
			d.add(codeExpired, sevError, e.Host, e.File,
				fmt.Sprintf("the token for %s at %s expired at %s, nix-auth's state file says", e.Host, from(e.File, e.Line), hs.Expires.UTC().Format(time.RFC3339)), fix)
			continue
		}
		for _, m := range d.metaOf(e.File) {
			if m.Host != e.Host || !m.Use.AccessTokens() || m.Expires.IsZero() || now.Before(m.Expires) || (m.Token != "" && m.Token != e.Token) {
				continue
			}
			d.add(codeExpired, sevError, e.Host, e.File,
				fmt.Sprintf("the token for %s at %s expired at %s, its metadata says", e.Host, from(e.File, e.Line), m.Expires.UTC().Format(time.RFC3339)),
				loginFix(e.Host)+", then deploy the store again; GitLab OAuth tokens: `nix-auth refresh --encrypt-to STORE`")
		}
	}
	for _, n := range d.netrcs {
		for _, m := range d.metaOf(n.File) {
			if !m.Use.Netrc() || !strings.EqualFold(nixconf.NetrcMachine(m.Host), n.Host) || m.Expires.IsZero() || now.Before(m.Expires) ||
				(m.Token != "" && m.Token != n.Password) {
				continue
			}
			d.add(codeExpired, sevError, m.Host, n.File,
				fmt.Sprintf("the netrc credential for %s at %s expired at %s, its store's metadata says", n.Host, from(n.File, n.Line), m.Expires.UTC().Format(time.RFC3339)),
				loginFix(m.Host)+", then deploy the store again")
		}
	}
}

// metaOf is nix-auth's metadata about the credentials in file: a store's
// plaintext's comment lines, or, for a file render wrote, the entries of
// the stores it names (a sops, age or git-crypt store; token files have
// none). Nothing when there is none to read.
func (d *doctor) metaOf(file string) []crypt.Entry {
	if es, ok := d.metas[file]; ok {
		return es
	}
	if d.metas == nil {
		d.metas = map[string][]crypt.Entry{}
	}
	d.metas[file] = nil
	data, err := nixconf.ReadRegular(file, maxMetaFile)
	if err != nil {
		return nil
	}
	if es, ok := d.f.renderedStoreEntries(data); ok {
		d.metas[file] = es
		return es
	}
	if es, _, err := crypt.ParseFragment(file, data); err == nil {
		d.metas[file] = es
	}
	return d.metas[file]
}

// checkIncludes finds included files Nix skips without a word because it
// cannot read them (a missing "!include" is skipped by design).
func (d *doctor) checkIncludes() {
	for _, p := range d.cfg.Skipped {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		msg := fmt.Sprintf("Nix skips %s without a word: this user cannot read it, so the tokens and settings in it do not reach your nix commands", p)
		fix := "if your own nix commands need it, make it readable by you (a group you are in: chgrp and chmod 640; render: --group G --mode 0640); if it is for the nix-daemon (root) alone, nothing is wrong"
		if _, err := os.Stat(p); err != nil {
			msg = fmt.Sprintf("Nix skips %s without a word: it is a symlink to nothing", p)
			fix = "if a secrets tool (sops-nix, agenix) makes it, check that it decrypts the secret at activation; else remove the include"
		}
		d.add(codeUnreadableInclude, sevWarning, "", p, msg, fix)
	}
}

// checkManaged finds a nix.conf home-manager or NixOS makes that lacks
// nix-auth's include: login cannot add it.
func (d *doctor) checkManaged() {
	ro, err := d.store.ManagedWithoutInclude()
	if err != nil || ro == nil {
		return
	}
	d.add(codeManagedReadOnly, sevWarning, "", ro.NixConf,
		fmt.Sprintf("%s %s and does not include %s, so nix-auth login and set-token cannot save a token Nix reads", ro.NixConf, ro.Reason, ro.TokensFile),
		fmt.Sprintf("add `nix.extraOptions = \"!include %s\";` to the home-manager (or NixOS) configuration that makes it, then switch to it", ro.TokensFile))
}

// daemonUsed reports whether this user's nix goes through a nix-daemon:
// NIX_REMOTE says so, or a multi-user install's socket is there.
func (d *doctor) daemonUsed() bool {
	if r, ok := d.f.lookupEnv("NIX_REMOTE"); ok {
		return r == "daemon" || strings.HasPrefix(r, "unix://")
	}
	state := d.f.Getenv("NIX_STATE_DIR")
	if state == "" {
		state = "/nix/var/nix"
	}
	fi, err := os.Stat(filepath.Join(state, "daemon-socket", "socket"))
	return err == nil && fi.Mode()&os.ModeSocket != 0 && os.Geteuid() != 0
}

// checkDaemon finds binary caches whose credential only this user's netrc
// holds: the nix-daemon substitutes as root, with its own netrc file.
func (d *doctor) checkDaemon() {
	if !d.daemonUsed() || len(d.netrcs) == 0 {
		return
	}
	daemon := d.store.DaemonNetrc(d.cfg)
	if daemon == d.netrc {
		return
	}
	var theirs []nixconf.NetrcEntry
	if _, err := os.Lstat(daemon); err == nil {
		es, readable, err := nixconf.ReadNetrcEntries(daemon)
		if err != nil || !readable {
			return // it may well have the entry: doctor cannot tell
		}
		theirs = es
	}
	subs := substituterKeys(d.cfg)
	if d.nix != nil {
		subs = append(subs, substituterHosts(d.nix.Substituters)...)
	}
	var done []string
	for _, e := range d.netrcs {
		m := strings.ToLower(e.Host)
		if slices.Contains(done, m) || !slices.ContainsFunc(subs, func(s string) bool { return nixconf.NetrcMachine(s) == m }) {
			continue
		}
		done = append(done, m)
		if slices.ContainsFunc(theirs, func(t nixconf.NetrcEntry) bool { return strings.EqualFold(t.Host, m) }) {
			continue
		}
		d.add(codeDaemonCannotRead, sevWarning, e.Host, e.File,
			fmt.Sprintf("the credential for the binary cache %s is only in your netrc file %s: the nix-daemon substitutes as root and reads %s, which has none for it (unless you are a trusted user), so builds through the daemon fetch from %s without it", e.Host, e.File, daemon, e.Host),
			"put the credential in the daemon's netrc file: keep it in an encrypted store and let `nix-auth render --netrc-output "+daemon+"` write it at activation (NixOS: nix.settings.netrc-file names it)")
	}
}

// exit is the run's verdict: an error line when a finding is an error.
func (d *doctor) exit() error {
	var errs []finding
	for _, fd := range d.rep.Findings {
		if fd.Severity == sevError {
			errs = append(errs, fd)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	first := d.safeFinding(errs[0])
	msg := fmt.Sprintf("doctor found %d error%s; the first: %s", len(errs), plural(len(errs)), first.Message)
	hints := []string{"fix each as its fix says, then run `nix-auth doctor` again"}
	if first.Fix != "" {
		hints = append([]string{"the first: " + first.Fix}, hints...)
	}
	return &hintError{msg: msg, hints: hints}
}

// safeFinding is fd with every secret masked and every text escaped and
// cut, for output.
func (d *doctor) safeFinding(fd finding) finding {
	fd.Host, fd.File = termsafe.Field(d.redact(fd.Host)), termsafe.Field(d.redact(fd.File))
	fd.Message, fd.Fix = termsafe.Line(d.redact(fd.Message)), termsafe.Line(d.redact(fd.Fix))
	return fd
}

func (d *doctor) safeCred(c doctorCred) doctorCred {
	c.Host, c.Token, c.Login = termsafe.Field(d.redact(c.Host)), termsafe.Field(c.Token), termsafe.Field(d.redact(c.Login))
	c.File = termsafe.Field(d.redact(c.File))
	return c
}

// minRedact is the shortest secret masked wherever it appears in doctor's
// text: a shorter one would mask common words.
const minRedact = 8

// collectSecrets lists every token value the run has seen, and every host
// that looks like one (a token saved where its host goes), so that no
// message can print one whole, whichever check wrote it.
func (d *doctor) collectSecrets() {
	add := func(s string) {
		if len(s) >= minRedact && !slices.Contains(d.secrets, s) {
			d.secrets = append(d.secrets, s)
		}
	}
	addHost := func(h string) {
		if providers.LooksLikeToken(h) {
			add(h)
		}
	}
	if d.cfg != nil {
		for _, e := range append(d.cfg.AccessTokens(), unusedEntries(d.cfg)...) {
			add(e.Token)
			addHost(e.Host)
		}
	}
	for _, e := range d.netrcs {
		add(e.Password)
		addHost(e.Host)
	}
	if d.nix != nil {
		for h, t := range d.nix.AccessTokens {
			add(t)
			addHost(h)
		}
	}
	// Longest first: a token that contains another is masked whole.
	slices.SortFunc(d.secrets, func(a, b string) int { return len(b) - len(a) })
}

// redact masks every secret in s.
func (d *doctor) redact(s string) string {
	for _, sec := range d.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, providers.MaskToken(sec))
		}
	}
	return s
}

// printJSON prints the --json report, every value escaped and cut as in
// the human output.
func (d *doctor) printJSON() error {
	rep := d.rep
	rep.Config, rep.NetrcFile = termsafe.Field(rep.Config), termsafe.Field(rep.NetrcFile)
	rep.Nix.Binary, rep.Nix.Version = termsafe.Field(rep.Nix.Binary), termsafe.Field(rep.Nix.Version)
	rep.Nix.Command, rep.Nix.Error = termsafe.Field(rep.Nix.Command), termsafe.Line(rep.Nix.Error)
	rep.Credentials = make([]doctorCred, len(d.rep.Credentials))
	for i, c := range d.rep.Credentials {
		rep.Credentials[i] = d.safeCred(c)
	}
	rep.Findings = make([]finding, len(d.rep.Findings))
	for i, fd := range d.rep.Findings {
		rep.Findings[i] = d.safeFinding(fd)
	}
	enc := json.NewEncoder(d.f.IO.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	return d.exit()
}

func (d *doctor) printHuman() {
	out := d.f.IO.Out
	n := d.rep.Nix
	switch {
	case d.nix != nil:
		version := n.Version
		if version == "" {
			version = "(version unknown)"
		}
		termsafe.Fprintf(out, "Nix %s at %s (`%s`) uses %d access token%s and the netrc file %s.\n",
			termsafe.Field(version), termsafe.Field(n.Binary), n.Command, len(d.nix.AccessTokens), plural(len(d.nix.AccessTokens)), termsafe.Field(d.netrc))
	case n.Found:
		termsafe.Fprintf(out, "nix did not say which configuration it uses; the files were read as Nix reads them.\n")
	default:
		termsafe.Fprintf(out, "nix is not installed (no nix on PATH); the files were read as Nix reads them.\n")
	}
	termsafe.Fprintf(out, "Your nix.conf: %s\n", termsafe.Field(d.rep.Config))
	if len(d.rep.Credentials) > 0 {
		termsafe.Fprintf(out, "\nCredentials:\n")
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, c := range d.rep.Credentials {
			c = d.safeCred(c)
			where := c.Source
			if c.File != "" {
				where = from(c.File, c.Line) + ", " + c.Source
			}
			kind := c.Kind
			if c.Kind == "netrc" && c.Login != "" {
				kind += " (login " + c.Login + ")"
			}
			use := ""
			if !c.Used {
				use = " [not used]"
			}
			termsafe.Fprintf(tw, "  %s\t%s\t%s\t%s%s\n", c.Host, kind, c.Token, where, use)
		}
		tw.Flush()
	}
	problems := slices.IndexFunc(d.rep.Findings, func(fd finding) bool { return fd.Severity != sevInfo }) >= 0
	if !problems {
		termsafe.Fprintf(out, "\nNo problems found.\n")
		return
	}
	termsafe.Fprintf(out, "\nFindings:\n")
	for _, fd := range d.rep.Findings {
		if fd.Severity == sevInfo {
			continue // said in the first line
		}
		fd = d.safeFinding(fd)
		termsafe.Fprintf(out, "  %s [%s] %s\n", fd.Severity, fd.Code, fd.Message)
		if fd.Fix != "" {
			termsafe.Fprintf(out, "    fix: %s\n", fd.Fix)
		}
	}
}
