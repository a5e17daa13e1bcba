package nixconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

// tokensFileMode is the mode of the tokens file, and of nix.conf backups,
// which hold no token but whatever else private nix.conf had.
const tokensFileMode fs.FileMode = 0o600

// Change says what Save or RemoveFrom did, or would do with DryRun.
type Change struct {
	NixConf, TokensFile string
	// IncludeAdded is true when "!include access-tokens.conf" was added to
	// NixConf.
	IncludeAdded bool
	// Replaced is true when Set replaced a token the host already had.
	Replaced bool
	// Migrated lists the hosts whose tokens moved from NixConf into
	// TokensFile.
	Migrated []string
	// Backup is the copy of NixConf made before the migration, its token
	// lines turned into comments saying where they went (mode 0600 all
	// the same); empty when there was none.
	Backup string
	// Kept lists the tokens Nix keeps from the files it reads before
	// NixConf (the system's): TokensFile adds to them with
	// extra-access-tokens instead of replacing them.
	Kept []Entry
	// Adds is true when this edit made TokensFile add to the tokens set
	// before it: it had no token line, or one that replaced them
	// (access-tokens, in it or in a nix.conf line moved into it).
	Adds bool
	// Shadowed lists the entries Nix uses, from a file read before
	// NixConf, for hosts that TokensFile names too: with
	// extra-access-tokens the first entry for a host wins.
	Shadowed []Entry
	// Still is, after Remove, the entry Nix keeps using for the host from
	// a file nix-auth does not manage; nil when there is none.
	Still *Entry
	// Tokens is true when the edit was of the host's access token; false
	// when it was of its netrc entry alone.
	Tokens bool
	// Netrc is the edit of the netrc file; nil when it had none.
	Netrc *NetrcChange
}

// Store reads and edits the user's tokens: TokensFile holds them, and
// NixConf includes it.
type Store struct {
	Paths Paths
	// DryRun computes every Change but writes nothing, not even a lock.
	DryRun bool
	// StoreDir is the Nix store, where a nix.conf made by home-manager or
	// NixOS points; empty means DefaultStoreDir.
	StoreDir string
	// Warn, if set, gets notices the user should see, such as a lock taken
	// over from a process that died holding it.
	Warn func(msg string)
}

// CheckWritable finds out, before anything is written (or a browser flow
// is started), whether Set and Remove can work: the tokens file's directory
// must be writable, and nix.conf must either be editable or already include
// the tokens file. A nix.conf that is a symlink into the Nix store or
// otherwise read-only gives a *ReadOnlyError whose hints are the lines to
// add to home-manager or NixOS. A nix.conf that Nix would refuse gives a
// *ParseError.
func (s *Store) CheckWritable() error {
	_, err := s.check()
	return err
}

// check is CheckWritable that also returns why nix.conf is read-only when
// that is fine because it already includes the tokens file.
func (s *Store) check() (readOnly string, err error) {
	if err := checkTokensFile(s.Paths.TokensFile, s.StoreDir); err != nil {
		return "", err
	}
	if err := safefile.Check(s.Paths.StateFile(), false); err != nil {
		return "", err
	}
	readOnly, err = inspect(s.Paths.NixConf, s.StoreDir)
	if err != nil || readOnly == "" {
		return readOnly, err
	}
	has, err := hasInclude(s.Paths.NixConf, s.Paths.TokensFile)
	if err != nil {
		return "", err
	}
	if !has {
		return "", &ReadOnlyError{NixConf: s.Paths.NixConf, TokensFile: s.Paths.TokensFile, Reason: readOnly}
	}
	return readOnly, nil
}

// Tokens returns the access tokens Nix would use, one per host (the value
// Nix uses, with the file it comes from), in the order they were set: from
// the files Nix reads before NixConf, NixConf and the files it includes,
// and NIX_CONFIG.
func (s *Store) Tokens() ([]Entry, error) {
	cfg, err := s.Config()
	if err != nil {
		return nil, err
	}
	return cfg.AccessTokens(), nil
}

// Config reads everything Nix reads, in its order (see Tokens).
func (s *Store) Config() (*Config, error) {
	return s.load(nil)
}

func (s *Store) load(overlay map[string][]byte) (*Config, error) {
	return loadLayers(s.Paths.earlier(), s.Paths.NixConf, s.Paths.NixConfig, overlay)
}

// Dest is where Save puts a host's token, and what RemoveFrom removes:
// Nix's access-tokens (the tokens file), the netrc file its downloader
// reads (the password of the host's netrc machine, NetrcMachine), or both.
type Dest struct {
	AccessTokens, Netrc bool
	// Login is the netrc entry's login (Save only; empty: a password
	// alone, which curl ignores once another entry follows it).
	Login string
}

// tokensOnly is the Dest of Set and Remove.
var tokensOnly = Dest{AccessTokens: true}

// preflightToken stands in for the token in CheckSave: the check is about
// which files give Nix the host's credential, so any value does.
const preflightToken = "nix-auth-preflight"

// CheckSet is CheckSave of an access token alone.
func (s *Store) CheckSet(host string) error { return s.CheckSave(host, tokensOnly) }

// CheckRemove is CheckRemoveFrom of an access token alone.
func (s *Store) CheckRemove(host string) error { return s.CheckRemoveFrom(host, tokensOnly) }

// Set is Save of an access token alone.
func (s *Store) Set(host, token string) (*Change, error) { return s.Save(host, tokensOnly, token) }

// SetState is SaveState of an access token alone.
func (s *Store) SetState(host, token string, hs HostState) (*Change, error) {
	return s.SaveState(host, tokensOnly, token, hs)
}

// Remove is RemoveFrom of an access token alone.
func (s *Store) Remove(host string) (*Change, error) { return s.RemoveFrom(host, tokensOnly) }

// CheckSave finds out, before a token is read or a browser flow is
// started, whether Save(host, to, token) would work: everything Save
// checks except the token itself, on the same edit (nix.conf writable or
// including the tokens file, every config file one Nix accepts, the tokens
// and netrc files ones that login writes, and Nix getting the credential:
// no later access-tokens or netrc-file line, or NIX_CONFIG, overriding
// it). A forge then never issues a token that cannot be saved.
func (s *Store) CheckSave(host string, to Dest) error {
	tok := preflightToken
	_, err := s.edit(false, credEdit{host: host, to: to, token: &tok})
	return err
}

// CheckRemoveFrom finds out, before anything else is done about host's
// credential (such as revoking it at the forge), whether RemoveFrom would
// work: everything RemoveFrom checks, on the same edit.
func (s *Store) CheckRemoveFrom(host string, from Dest) error {
	_, err := s.edit(false, credEdit{host: host, to: from})
	return err
}

// Save gives host the token in the files to names: the tokens file, adding
// the include to nix.conf if needed and moving any access-tokens lines out
// of nix.conf (after a backup); the netrc file Nix reads, as
// `machine MACHINE login LOGIN password TOKEN`, naming it in nix.conf with
// netrc-file when no config names one. Everything is validated and
// checked first, and written in one all-or-nothing write: nothing is
// written when anything is wrong. An access token's state (see
// planState) keeps the host's provider only: the rest was about the token
// it replaces.
func (s *Store) Save(host string, to Dest, token string) (*Change, error) {
	return s.edit(true, credEdit{host: host, to: to, token: &token})
}

// SaveState is Save that also records, in the state file, what is known
// of an access token (hs): its forge, and for an expiring GitLab OAuth
// token the refresh token that renews it. Every file is written together
// or not at all. A netrc credential alone keeps no state.
func (s *Store) SaveState(host string, to Dest, token string, hs HostState) (*Change, error) {
	return s.edit(true, credEdit{host: host, to: to, token: &token, hs: &hs})
}

// Saving is one host's credential for SaveAll.
type Saving struct {
	Host, Token string
	To          Dest
	// State is what the state file keeps of an access token (nil: the
	// host's provider only).
	State *HostState
}

// SaveAll saves every credential in one edit, as SaveState does for one:
// all written or, when anything is wrong, nothing. The Change's Replaced
// and Netrc.Found are for the first entry to each file; Migrated, Kept
// and Shadowed cover all.
func (s *Store) SaveAll(all []Saving) (*Change, error) {
	if len(all) == 0 {
		return nil, errors.New("no tokens to set")
	}
	edits := make([]credEdit, len(all))
	for i := range all {
		edits[i] = credEdit{host: all[i].Host, to: all[i].To, token: &all[i].Token, hs: all[i].State}
	}
	return s.edit(true, edits...)
}

// SetAll is SaveAll of access tokens alone (states, when not nil, holds
// what is known of each token, in the order of tokens).
func (s *Store) SetAll(tokens []Entry, states []HostState) (*Change, error) {
	if states != nil && len(states) != len(tokens) {
		return nil, errors.New("SetAll: one state per token")
	}
	all := make([]Saving, len(tokens))
	for i, e := range tokens {
		all[i] = Saving{Host: e.Host, Token: e.Token, To: tokensOnly}
		if states != nil {
			all[i].State = &states[i]
		}
	}
	return s.SaveAll(all)
}

// RemoveFrom deletes host's credential from the files from names, each
// that has one: a host may have a netrc entry alone (a binary cache), or
// an access token whose netrc entry was never written. It is an error,
// naming the file, when Nix has none for host, or when the access token is
// in a file nix-auth does not manage.
func (s *Store) RemoveFrom(host string, from Dest) (*Change, error) {
	return s.edit(true, credEdit{host: host, to: from})
}

// credEdit is one host's part of an edit: its credential goes to (token
// set) or is removed from (nil) the files to names, and hs is what the
// state file keeps of a new access token (nil: the host's provider only).
// Only an edit of one host removes.
type credEdit struct {
	host  string
	to    Dest
	token *string
	hs    *HostState
}

// edit sets or removes the credentials of edits, the whole
// read-modify-write under the locks of every file it writes (the state
// file's is the tokens file's). Without write it is the preflight: it
// plans the same edit, writes nothing, and takes the locks only where
// their directories exist, leaving no trace.
func (s *Store) edit(write bool, edits ...credEdit) (*Change, error) {
	for i, e := range edits {
		if err := validateEdit(e.host, e.to, e.token); err != nil {
			if len(edits) > 1 {
				return nil, fmt.Errorf("the credential for %s: %w", e.host, err)
			}
			return nil, err
		}
		if e.token == nil && len(edits) > 1 {
			return nil, errors.New("an edit of several hosts only sets")
		}
		if e.token == nil {
			var err error
			if edits[i].to, err = s.narrow(e.host, e.to); err != nil {
				return nil, err
			}
		}
	}
	var d Dest // every file the edit writes
	for _, e := range edits {
		d.AccessTokens = d.AccessTokens || e.to.AccessTokens
		d.Netrc = d.Netrc || e.to.Netrc
	}
	nixWritable := false
	if d.AccessTokens {
		readOnly, err := s.check()
		if err != nil {
			return nil, err
		}
		nixWritable = readOnly == ""
	}
	var nt *netrcTarget
	if d.Netrc {
		t, err := s.currentNetrcTarget()
		if err != nil {
			return nil, err
		}
		nt = &t
	}
	locks := s.lockPaths(d, nixWritable, nt)
	if !s.DryRun && (write || dirsExist(locks)) {
		// A write's locks make the directories if needed.
		unlock, err := lockAll(locks, s.Warn)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if nt != nil && write {
			// Again under the locks: another run may have named a file.
			again, err := s.currentNetrcTarget()
			if err != nil {
				return nil, err
			}
			if again != *nt {
				return nil, fmt.Errorf("%s changed while nix-auth was running; nothing was written; run it again", s.Paths.NixConf)
			}
		}
	}
	p, err := s.plan(edits, nixWritable, nt)
	if err != nil {
		return nil, err
	}
	if write && !s.DryRun {
		if err := p.apply(s.Paths); err != nil {
			return nil, err
		}
	}
	return &p.change, nil
}

// validateEdit checks the host, and a token for every file it goes to.
func validateEdit(host string, d Dest, token *string) error {
	if err := ValidateHost(host); err != nil {
		return err
	}
	if !d.AccessTokens && !d.Netrc {
		return errors.New("no file named to edit: access-tokens, netrc, or both")
	}
	if d.AccessTokens && token != nil {
		if err := ValidateToken(*token); err != nil {
			return err
		}
	}
	if !d.Netrc {
		return nil
	}
	machine := NetrcMachine(host)
	if machine == "" {
		return fmt.Errorf("%s has no netrc form: a netrc entry names a host name or IPv4 address", host)
	}
	if token == nil {
		return ValidateNetrcHost(machine)
	}
	return validateNetrcCred(machine, NetrcCredential{Login: d.Login, Password: *token})
}

// narrow keeps, of a removal that names netrc, the files that have
// something for host, and says so when none has. (A removal of an access
// token alone says it in checkRemovable.)
func (s *Store) narrow(host string, d Dest) (Dest, error) {
	if !d.Netrc {
		return d, nil
	}
	file, entries, err := s.NetrcEntries()
	if err != nil {
		return d, err
	}
	machine := NetrcMachine(host)
	d.Netrc = slices.ContainsFunc(entries, func(e NetrcEntry) bool { return asciiEqualFold(e.Host, machine) })
	msg := fmt.Sprintf("no netrc entry for %s in %s; nothing was changed", machine, file)
	if d.AccessTokens {
		cfg, err := s.load(nil)
		if err != nil {
			return d, err
		}
		d.AccessTokens = slices.ContainsFunc(cfg.AccessTokens(), func(e Entry) bool { return e.Host == host })
		msg = fmt.Sprintf("no token for %s in %s or the files it includes, and no netrc entry for %s in %s; nothing was changed", host, s.Paths.NixConf, machine, file)
	}
	if !d.AccessTokens && !d.Netrc {
		return d, &Error{Kind: ErrNoToken, Host: host, msg: msg}
	}
	return d, nil
}

// currentNetrcTarget is the netrc file an edit goes to now.
func (s *Store) currentNetrcTarget() (netrcTarget, error) {
	cfg, err := s.load(nil)
	if err != nil {
		return netrcTarget{}, err
	}
	return s.netrcTarget(cfg)
}

// lockPaths are the files whose locks an edit takes, in the one order
// every writer keeps (no deadlock): the tokens file, the netrc file, then
// nix.conf when it may be written.
func (s *Store) lockPaths(d Dest, nixWritable bool, nt *netrcTarget) []string {
	var paths []string
	if d.AccessTokens {
		paths = append(paths, s.Paths.TokensFile)
	}
	if nt != nil {
		paths = append(paths, nt.file)
	}
	if d.AccessTokens && nixWritable || nt != nil && nt.addSetting {
		paths = append(paths, s.Paths.NixConf)
	}
	return paths
}

// lockAll takes the locks of paths in their order; the function it returns
// releases them in reverse.
func lockAll(paths []string, warn func(string)) (func(), error) {
	var unlocks []func()
	release := func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for _, p := range paths {
		unlock, err := safefile.Lock(p, warn)
		if err != nil {
			release()
			return nil, err
		}
		unlocks = append(unlocks, unlock)
	}
	return release, nil
}

// dirsExist reports whether the directories of paths all exist.
func dirsExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			return false
		}
	}
	return true
}

// plan is an edit of every file a Save or RemoveFrom writes, computed and
// checked before any write.
type plan struct {
	change Change
	// The tokens' edit (tokens set): the tokens file and nix.conf.
	tokens          bool
	nixOld, nixNew  []byte
	nixBackup       []byte // nixOld with its token lines made comments
	nixPerm         fs.FileMode
	tokNew          []byte
	writeTok        bool
	migrate, setNix bool
	// The state file, written with the tokens.
	stateNew   []byte
	writeState bool
	// The netrc edit, if any, made on top of the tokens' (its netrc-file
	// line goes on their nix.conf).
	netrc *netrcPlan
}

// plan plans the edit of the files edits name. nt is the netrc file, when
// one names netrc.
func (s *Store) plan(edits []credEdit, nixWritable bool, nt *netrcTarget) (*plan, error) {
	// Entries name files by absolute, clean paths; so must we.
	nixConf, err := filepath.Abs(s.Paths.NixConf)
	if err != nil {
		return nil, err
	}
	tokFile, err := filepath.Abs(s.Paths.TokensFile)
	if err != nil {
		return nil, err
	}
	p := &plan{change: Change{NixConf: nixConf, TokensFile: tokFile}}
	var base map[string][]byte
	var tokens []credEdit
	for _, e := range edits {
		if e.to.AccessTokens {
			tokens = append(tokens, e)
		}
	}
	if len(tokens) > 0 {
		var more []Entry
		states := []stateEdit{{host: tokens[0].host, token: tokens[0].token, hs: tokens[0].hs}}
		for _, e := range tokens[1:] {
			more = append(more, Entry{Host: e.host, Token: *e.token})
			states = append(states, stateEdit{host: e.host, token: e.token, hs: e.hs})
		}
		if err := s.planTokens(p, tokens[0].host, tokens[0].token, nixWritable, more...); err != nil {
			return nil, err
		}
		if p.stateNew, p.writeState, err = planState(s.Paths.StateFile(), states...); err != nil {
			return nil, err
		}
		p.tokens, p.change.Tokens = true, true
		base = map[string][]byte{nixConf: p.nixNew, tokFile: p.tokNew}
	}
	if nt == nil {
		return p, nil
	}
	var sets []netrcSet
	for _, e := range edits {
		if !e.to.Netrc {
			continue
		}
		ns := netrcSet{machine: NetrcMachine(e.host)}
		if e.token != nil {
			ns.cred = &NetrcCredential{Login: e.to.Login, Password: *e.token}
		}
		sets = append(sets, ns)
	}
	if p.netrc, err = s.planNetrc(sets, *nt, base); err != nil {
		return nil, err
	}
	p.change.Netrc = &p.netrc.change
	if sets[0].cred == nil && !p.tokens && !p.netrc.change.Found {
		// narrow found an entry, in a file Nix reads but nix-auth does
		// not manage (the system's).
		return nil, &Error{Host: edits[0].host,
			msg:   fmt.Sprintf("the netrc entry for %s is in %s, which nix-auth does not manage; nothing was changed", sets[0].machine, p.netrc.change.File),
			hints: []string{"remove it from that file by hand (on NixOS: the configuration that writes it)"},
		}
	}
	return p, nil
}

// planTokens plans the edit of the tokens file and nix.conf into p.
// It sets (token != nil) or removes host's token, and sets the tokens of
// more with it.
func (s *Store) planTokens(p *plan, host string, token *string, nixWritable bool, more ...Entry) error {
	nixConf, tokFile := p.change.NixConf, p.change.TokensFile
	var err error
	if p.nixOld, p.nixPerm, err = readConf(nixConf); err != nil {
		return err
	}
	tokOld, tokExists, err := readTokens(tokFile)
	if err != nil {
		return err
	}
	if w := WriterOf(tokOld); w == WriterRender {
		return &WriterError{Path: tokFile, Writer: w, Want: WriterLogin}
	}
	nixStmts, err := parseFile(p.nixOld, nixConf)
	if err != nil {
		return err
	}
	p.migrate = nixWritable && slices.ContainsFunc(nixStmts, func(st stmt) bool { return st.isTokens() })

	// Nix as it is now, with the tokens file present (it will be). In an
	// overlay, nil content is a missing file, as readConf returns it.
	old, err := s.load(map[string][]byte{nixConf: p.nixOld, tokFile: orEmpty(tokOld)})
	if err != nil {
		return err
	}
	before := old.AccessTokens()
	want := tokenMap(before)
	ours := names(tokOld, tokFile, host) || p.migrate && names(p.nixOld, nixConf, host)
	if token != nil {
		p.change.Replaced = ours
		want[host] = *token
		for _, e := range more {
			want[e.Host] = e.Token
		}
	} else {
		if err := checkRemovable(before, host, ours, nixConf); err != nil {
			return err
		}
		delete(want, host)
	}

	tokNew := tokOld
	if !tokExists {
		tokNew = []byte(tokensHeader)
	}
	if p.migrate {
		for _, e := range before {
			if e.File != nixConf {
				continue
			}
			if tokNew, err = setToken(tokNew, tokFile, e.Host, e.Token); err != nil {
				return err
			}
			p.change.Migrated = append(p.change.Migrated, e.Host)
		}
	}
	if token != nil {
		tokNew, err = setToken(tokNew, tokFile, host, *token)
		for _, e := range more {
			if err == nil {
				tokNew, err = setToken(tokNew, tokFile, e.Host, e.Token)
			}
		}
	} else {
		tokNew, _, err = removeToken(tokNew, tokFile, host)
	}
	if err != nil {
		return err
	}
	p.change.Adds = p.migrate || !addsAlready(tokOld, tokFile)
	if tokNew, err = addOnly(tokNew, tokFile); err != nil {
		return err
	}
	p.tokNew = tokNew
	p.writeTok = !tokExists || !bytes.Equal(tokNew, tokOld) || !modeIs(tokFile, tokensFileMode)

	p.nixNew = p.nixOld
	if p.migrate {
		p.nixNew = removeTokenLines(p.nixOld, nixStmts)
		p.nixBackup = redactTokenLines(p.nixOld, nixStmts, tokFile)
	}
	if !old.references(tokFile) {
		line, err := includeLine(nixConf, tokFile)
		if err != nil {
			return err
		}
		p.nixNew = appendLine(p.nixNew, line)
		p.change.IncludeAdded = true
	}
	p.setNix = !bytes.Equal(p.nixNew, p.nixOld)

	// What Nix will see must be exactly what was asked for: an
	// access-tokens line elsewhere, or NIX_CONFIG, could override the
	// tokens file.
	after, err := s.load(map[string][]byte{nixConf: p.nixNew, tokFile: p.tokNew})
	if err != nil {
		return err
	}
	return p.compare(after, want, host, token != nil)
}

// checkRemovable says why host's token cannot be removed, if it cannot:
// neither the tokens file nor an editable nix.conf names it (ours).
func checkRemovable(entries []Entry, host string, ours bool, nixConf string) error {
	if ours {
		return nil
	}
	i := slices.IndexFunc(entries, func(e Entry) bool { return e.Host == host })
	if i < 0 {
		return &Error{Kind: ErrNoToken, Host: host,
			msg: fmt.Sprintf("no token for %s in %s or the files it includes; nothing was changed", host, nixConf),
		}
	}
	e := entries[i]
	return &Error{Host: host,
		msg:   fmt.Sprintf("the token for %s is set in %s, which nix-auth does not manage; nothing was changed", host, where(e.File, e.Line)),
		hints: []string{fixHint(e.File, e.Layer, false)},
	}
}

// where names a line for messages.
func where(file string, line int) string {
	if file == EnvSource {
		return fmt.Sprintf("NIX_CONFIG (the environment variable, line %d)", line)
	}
	return file + ":" + strconv.Itoa(line)
}

// fixHint says how to change a token setting that nix-auth does not
// manage. rendered is true for a file render writes (the error is then
// ErrRendered, and the commands say how to change the store).
func fixHint(file string, layer Layer, rendered bool) string {
	switch {
	case layer == LayerEnv:
		return "Nix applies NIX_CONFIG after every file: remove its access-tokens setting, or unset it (`unset NIX_CONFIG`), then run nix-auth again"
	case rendered:
		return file + " is written by render: change the token in the store it renders, or remove that store's include"
	case layer == LayerBefore:
		return "it comes from the system's config, read before yours: remove it there (on NixOS: nix.settings.access-tokens, or the fleet's token store)"
	}
	return "remove it from that file by hand, then run nix-auth again"
}

// compare checks that cfg gives Nix exactly the tokens in want, and
// otherwise names the lines that get in the way. Two differences are
// Nix's rules working as intended and are recorded in the change instead:
// tokens from the files read before nix.conf stay (the tokens file adds
// to them) and win for a host both name; and after a removal, a token for
// the host from a file nix-auth does not manage takes its place.
func (p *plan) compare(cfg *Config, want map[string]string, host string, set bool) error {
	tokFile := p.change.TokensFile
	mine, _, err := ParseTokens(p.tokNew, tokFile)
	if err != nil {
		return err
	}
	inTokFile := map[string]bool{}
	for _, e := range mine {
		inTokFile[e.Host] = true
	}
	var wrong []string
	seen := map[string]bool{}
	for _, e := range cfg.AccessTokens() {
		seen[e.Host] = true
		switch {
		case !set && e.Host == host:
			still := e
			p.change.Still = &still
			continue
		case e.Layer == LayerBefore && inTokFile[e.Host]:
			p.change.Shadowed = append(p.change.Shadowed, e)
			continue
		case e.Layer == LayerBefore:
			p.change.Kept = append(p.change.Kept, e)
			continue
		}
		if w, ok := want[e.Host]; !ok || w != e.Token {
			wrong = append(wrong, e.Host)
		}
	}
	for h := range want {
		if !seen[h] {
			wrong = append(wrong, h)
		}
	}
	if len(wrong) == 0 {
		return nil
	}
	slices.Sort(wrong)
	isWrong := map[string]bool{}
	for _, h := range wrong {
		isWrong[h] = true
	}
	// The lines to blame: in the user's files and NIX_CONFIG, outside the
	// tokens file, an access-tokens line (it replaces what came before)
	// or one that names a host that comes out wrong.
	var others, hints []string
	var kind error
	for _, a := range cfg.assigns {
		if !a.st.isTokens() || a.file == tokFile || a.layer == LayerBefore {
			continue
		}
		blame := a.st.name == settingTokens
		for _, pr := range a.st.pairs(a.data) {
			blame = blame || isWrong[pr.host]
		}
		if !blame {
			continue
		}
		others = append(others, where(a.file, a.st.line))
		rendered := WriterOf(a.data) == WriterRender
		if rendered {
			kind = ErrRendered
		}
		h := fixHint(a.file, a.layer, rendered)
		if a.layer == LayerUser && WriterOf(a.data) != WriterRender {
			h = "move those access-tokens lines into " + tokFile + " (or delete them), then run nix-auth again"
		}
		if !slices.Contains(hints, h) {
			hints = append(hints, h)
		}
	}
	if len(others) == 0 {
		// Nothing else sets tokens: the tokens file itself holds tokens
		// that Nix does not use now, and including it would bring them in.
		return &Error{
			msg: fmt.Sprintf("%s holds tokens that Nix does not use now (for %s); editing it for %s would bring them back; nothing was written",
				tokFile, strings.Join(wrong, ", "), host),
			hints: []string{"delete the tokens you do not want from " + tokFile + ", then run nix-auth again"},
		}
	}
	return &Error{Kind: kind, Host: host,
		msg: fmt.Sprintf("editing %s for %s would not give Nix the expected tokens (for %s) because of other access-tokens lines: %s; nothing was written",
			tokFile, host, strings.Join(wrong, ", "), strings.Join(others, ", ")),
		hints: hints,
	}
}

// apply writes the backup, the tokens file, the netrc file and nix.conf in
// one all-or-nothing write, in that order: Nix, reading at any moment,
// finds the files in place before the lines that name them.
func (p *plan) apply(paths Paths) error {
	var files []safefile.File
	if p.tokens && p.migrate && p.setNix {
		backup, err := backupName(paths.NixConf)
		if err != nil {
			return err
		}
		files = append(files, safefile.File{Path: backup, Data: p.nixBackup, Mode: tokensFileMode, New: true})
		p.change.Backup = backup
	}
	if p.tokens && p.writeTok {
		files = append(files, safefile.File{Path: paths.TokensFile, Data: p.tokNew, Mode: tokensFileMode})
	}
	if p.tokens && p.writeState {
		files = append(files, safefile.File{Path: paths.StateFile(), Data: p.stateNew, Mode: tokensFileMode})
	}
	nixNew, nixPerm, setNix := p.nixNew, p.nixPerm, p.tokens && p.setNix
	if p.netrc != nil {
		if p.netrc.file != nil {
			files = append(files, *p.netrc.file)
		}
		if p.netrc.nixNew != nil {
			// Made on top of the tokens' edit.
			nixNew, nixPerm, setNix = p.netrc.nixNew, p.netrc.nixPerm, true
		}
	}
	if setNix {
		files = append(files, nixConfFile(paths.NixConf, nixNew, nixPerm))
	}
	if err := safefile.Write(files...); err != nil {
		p.change.Backup = ""
		return err
	}
	return nil
}

// nixConfFile is nix.conf as safefile writes it: through a symlink into a
// dotfiles repository when the link passes safefile's trust rule (nix.conf
// holds no tokens once they moved to the tokens file), so that it stays
// linked. A link into the Nix store never gets here: inspect calls it
// read-only.
func nixConfFile(path string, data []byte, perm fs.FileMode) safefile.File {
	return safefile.File{Path: path, Data: data, Mode: perm, FollowLink: true}
}

// backupName is where nix.conf is saved before its tokens move out: a
// name not yet taken, so an earlier backup is never overwritten.
func backupName(nixConf string) (string, error) {
	for i := 0; ; i++ {
		name := nixConf + ".before-nix-auth"
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		if _, err := os.Lstat(name); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("cannot back up %s: %w", nixConf, err)
		}
		return name, nil
	}
}

// readTokens reads the tokens file, which may not exist yet.
func readTokens(path string) (data []byte, exists bool, err error) {
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return data, true, nil
}

func modeIs(path string, mode fs.FileMode) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm() == mode
}

func tokenMap(entries []Entry) map[string]string {
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		m[e.Host] = e.Token
	}
	return m
}

// orEmpty turns a missing file (nil) into an empty one for the loader.
func orEmpty(data []byte) []byte {
	if data == nil {
		return []byte{}
	}
	return data
}
