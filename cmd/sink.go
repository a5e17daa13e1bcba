package cmd

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// tokenSink is where a command keeps tokens: the user's Nix config
// (plainSink, over nixconf.Store) or an encrypted store (storeSink, over
// crypt.File). login, set-token, logout and refresh all write through one,
// in one flow (flow.go): the Check methods refuse, before a token exists
// or a forge is asked, every write that would fail.
type tokenSink interface {
	// Path names the sink in messages: the user's nix.conf, or the store.
	Path() string
	// CheckSave refuses what would make Save of host's token fail.
	CheckSave(host string) error
	// CheckRemove refuses what would make Remove(host) fail.
	CheckRemove(host string) error
	// Entry is what the sink has for host: the token Nix uses there and,
	// in a store, what was recorded with it.
	Entry(host string) (crypt.Entry, bool)
	// Entries are the entries the sink manages, in order: the user's own
	// tokens, or a store's.
	Entries() ([]crypt.Entry, error)
	// Save writes e (a dry run only plans it) and says what it did.
	Save(e crypt.Entry) (sinkChange, error)
	// Remove deletes host's token (a dry run only plans it) and says
	// what it did.
	Remove(host string) (sinkChange, error)
}

// sinkChange is what a Save or Remove did, or would do on a dry run.
type sinkChange interface {
	// report prints it: host's token nixTok saved, or with nixTok ""
	// removed.
	report(f *Factory, host, nixTok string)
	// expiring warns that host's GitLab OAuth token expires at at, and
	// says what that means here: a plain config cannot refresh it, and
	// render leaves it out of a store's output after that.
	expiring(f *Factory, host string, at time.Time)
}

// sinkOptions say which sink a command writes.
type sinkOptions struct {
	config    string // --config: the user's nix.conf
	encryptTo string // --encrypt-to: a store instead
	keys      *keyOptions
	dryRun    bool
}

// openSink opens the sink o names. A store that does not exist is
// started when create is set (a save), and an error otherwise.
func (f *Factory) openSink(o sinkOptions, create bool) (tokenSink, error) {
	if o.encryptTo == "" {
		store, err := openStore(f, o.config, o.dryRun)
		if err != nil {
			return nil, err
		}
		return &plainSink{store: store}, nil
	}
	open := f.openExisting
	if create {
		open = f.openEncrypted
	}
	file, err := open(o.encryptTo, o.keys)
	if err != nil {
		return nil, err
	}
	return &storeSink{file: file, dryRun: o.dryRun}, nil
}

// plainSink is the user's Nix config: access-tokens.conf, included from
// nix.conf, and beside it the state file that keeps what Nix has no
// setting for (the forge, a GitLab refresh token, the expiry).
type plainSink struct{ store *nixconf.Store }

func (s *plainSink) Path() string                  { return s.store.Paths.NixConf }
func (s *plainSink) CheckSave(host string) error   { return s.store.CheckSet(host) }
func (s *plainSink) CheckRemove(host string) error { return s.store.CheckRemove(host) }

// Entry is the token Nix uses for host, from whichever file sets it.
func (s *plainSink) Entry(host string) (crypt.Entry, bool) {
	entries, err := s.store.Tokens()
	if err != nil {
		return crypt.Entry{}, false
	}
	// CheckSave and CheckRemove have read the state file already.
	st, _ := s.store.State()
	for _, e := range entries {
		if e.Host == host {
			return plainEntry(e.Host, e.Token, st), true
		}
	}
	return crypt.Entry{}, false
}

// plainEntry is host's token with what the state file says of it.
func plainEntry(host, token string, st *nixconf.State) crypt.Entry {
	hs := st.For(host, token)
	return crypt.Entry{Host: host, Token: token, Provider: hs.Provider, User: hs.User, Scopes: hs.Scopes,
		Created: hs.Created, Expires: hs.Expires, RefreshToken: hs.RefreshToken, ClientID: hs.ClientID}
}

// Entries are the user's own tokens: the system's are not theirs to
// change.
func (s *plainSink) Entries() ([]crypt.Entry, error) {
	all, err := s.store.Tokens()
	if err != nil {
		return nil, err
	}
	st, err := s.store.State()
	if err != nil {
		return nil, err
	}
	var out []crypt.Entry
	for _, e := range all {
		if e.Layer == nixconf.LayerUser {
			out = append(out, plainEntry(e.Host, e.Token, st))
		}
	}
	return out, nil
}

// hostState is what the state file keeps of an entry.
func hostState(e crypt.Entry) nixconf.HostState {
	return nixconf.HostState{Provider: e.Provider, User: e.User, Scopes: e.Scopes,
		Created: e.Created, Expires: e.Expires, RefreshToken: e.RefreshToken, ClientID: e.ClientID}
}

// Save writes the token and, in the state file, what is known of it.
func (s *plainSink) Save(e crypt.Entry) (sinkChange, error) {
	ch, err := s.store.SetState(e.Host, e.Token, hostState(e))
	if err != nil {
		return nil, err
	}
	return &plainChange{ch: ch, dryRun: s.store.DryRun}, nil
}

// SaveAll writes every entry in one edit, all or nothing (a dry run only
// plans it), and names the file written.
func (s *plainSink) SaveAll(es []crypt.Entry) (string, error) {
	var ts []nixconf.Entry
	var states []nixconf.HostState
	for _, e := range es {
		ts = append(ts, nixconf.Entry{Host: e.Host, Token: e.Token})
		states = append(states, hostState(e))
	}
	ch, err := s.store.SetAll(ts, states)
	if err != nil {
		return "", err
	}
	return ch.TokensFile, nil
}

func (s *plainSink) Remove(host string) (sinkChange, error) {
	ch, err := s.store.Remove(host)
	if err != nil {
		return nil, err
	}
	return &plainChange{ch: ch, dryRun: s.store.DryRun}, nil
}

// plainChange is an edit of the Nix config.
type plainChange struct {
	ch     *nixconf.Change
	dryRun bool
}

func (c *plainChange) report(f *Factory, host, nixTok string) {
	out, ch := f.IO.Out, c.ch
	switch {
	case nixTok != "":
		printChange(f, ch, host, nixTok, c.dryRun)
		return
	case c.dryRun:
		termsafe.Fprintf(out, "Dry run: would remove the token for %s from %s; nothing was written.\n", host, ch.TokensFile)
		return
	}
	termsafe.Fprintf(out, "Removed the token for %s from %s.\n", host, ch.TokensFile)
	printMigrated(f, ch)
	printNixNotes(f, ch, false)
}

func (c *plainChange) expiring(f *Factory, host string, at time.Time) {
	termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: this GitLab OAuth token expires in %s (at %s); its refresh token is kept in %s\n",
		at.Sub(f.Now()).Round(time.Minute), at.UTC().Format(time.RFC3339), filepath.Join(filepath.Dir(c.ch.TokensFile), nixconf.StateFileName))
	termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: renew it before then with `nix-auth refresh`, or from a timer (`nix-auth refresh --within 1h` every 30 minutes: see the README)\n")
	termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: or create a personal access token with the read_api scope and run `nix-auth set-token %s` (it is stored as PAT:...)\n", host)
}

// storeSink is an encrypted store, which keeps what the forge said about
// the token with it.
type storeSink struct {
	file   *crypt.File
	dryRun bool
}

func (s *storeSink) Path() string { return s.file.Path() }

// CheckSave checks the host, and that the file's sops rules would encrypt
// its token (a file made by `sops encrypt` with an encrypted_suffix, say,
// would keep it in clear): opening the store checked the rest (its path, a
// key for it, whom it is encrypted to).
func (s *storeSink) CheckSave(host string) error {
	if err := nixconf.ValidateHost(host); err != nil {
		return err
	}
	return s.file.CheckEncrypts(host)
}

func (s *storeSink) CheckRemove(host string) error { return s.file.CheckRemove(host) }

func (s *storeSink) Entry(host string) (crypt.Entry, bool) { return s.file.Entry(host) }
func (s *storeSink) Entries() ([]crypt.Entry, error)       { return s.file.Entries(), nil }

func (s *storeSink) Save(e crypt.Entry) (sinkChange, error) {
	_, existed := s.file.Entry(e.Host)
	if err := s.file.Put(e); err != nil {
		return nil, err
	}
	return s.write(existed)
}

// SaveAll puts every entry and writes the store once: all or nothing (a
// dry run writes nothing).
func (s *storeSink) SaveAll(es []crypt.Entry) (string, error) {
	for _, e := range es {
		if err := s.file.Put(e); err != nil {
			return "", err
		}
	}
	if !s.dryRun {
		if err := s.file.Save(); err != nil {
			return "", err
		}
	}
	return s.file.Path(), nil
}

func (s *storeSink) Remove(host string) (sinkChange, error) {
	if err := s.file.Remove(host); err != nil {
		return nil, err
	}
	return s.write(true)
}

// write saves the file; a new store in the flake repo may be the first
// file in its folder, which Save makes.
func (s *storeSink) write(existed bool) (sinkChange, error) {
	c := &storeChange{path: s.file.Path(), format: s.file.Format(), existed: existed, dryRun: s.dryRun}
	if !s.dryRun {
		if err := s.file.Save(); err != nil {
			return nil, err
		}
	}
	c.recipients = len(s.file.Recipients())
	return c, nil
}

// storeChange is a write of an encrypted store.
type storeChange struct {
	path       string
	format     crypt.Format
	existed    bool
	dryRun     bool
	recipients int
}

func (c *storeChange) report(f *Factory, host, nixTok string) {
	out := f.IO.Out
	switch {
	case c.dryRun && nixTok != "":
		termsafe.Fprintf(out, "Dry run: would write %s=%s to %s; nothing was written.\n", host, providers.MaskToken(nixTok), c.path)
	case c.dryRun:
		termsafe.Fprintf(out, "Dry run: would remove the token for %s from %s; nothing was written.\n", host, c.path)
	case nixTok != "":
		verb := "Saved"
		if c.existed {
			verb = "Replaced"
		}
		if c.format == crypt.FormatGitCrypt {
			termsafe.Fprintf(out, "%s the token for %s in %s (in clear, mode 0600: git-crypt encrypts it when you commit it).\n", verb, host, c.path)
			termsafe.Fprintf(out, "Deploy it with `nix-auth render %s` by its path at activation, never through a Nix path.\n", absPath(c.path))
			f.warnNixPath(c.path)
			return
		}
		termsafe.Fprintf(out, "%s the token for %s in %s (encrypted to %d recipient%s).\n", verb, host, c.path, c.recipients, plural(c.recipients))
		termsafe.Fprintf(out, "Deploy it with `nix-auth render %s` on each host (or the NixOS module).\n", c.path)
	default:
		termsafe.Fprintf(out, "Removed the token for %s from %s.\n", host, c.path)
		termsafe.Fprintln(out, "Hosts that rendered it keep it until their next render.")
	}
}

func (c *storeChange) expiring(f *Factory, host string, at time.Time) {
	termsafe.Fprintf(f.IO.ErrOut, "nix-auth: warning: this GitLab OAuth token expires at %s; render leaves it out after that\n", at.UTC().Format(time.RFC3339))
	termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: for a fleet, store a personal access token (read_api): `nix-auth set-token %s --encrypt-to %s`\n", host, c.path)
}

// printMigrated says that nix.conf's tokens moved into the tokens file.
func printMigrated(f *Factory, ch *nixconf.Change) {
	if len(ch.Migrated) > 0 {
		termsafe.Fprintf(f.IO.Out, "Moved the tokens for %s from %s into %s; the old file is backed up without its tokens at %s.\n",
			strings.Join(ch.Migrated, ", "), ch.NixConf, ch.TokensFile, ch.Backup)
	}
}
