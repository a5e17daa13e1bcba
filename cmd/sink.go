package cmd

import (
	"path/filepath"
	"slices"
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
//
// An entry's Use says where its credential goes (useOf: the forge table):
// access-tokens, the netrc file Nix's downloader reads, or both. The plain
// config writes it to those files, in one edit; a store keeps the entry
// with its use, and render writes the files on each host.
type tokenSink interface {
	// Path names the sink in messages: the user's nix.conf, or the store.
	Path() string
	// CheckSave refuses what would make Save of an entry like e fail: its
	// host, where it goes and its login; it has no token yet.
	CheckSave(e crypt.Entry) error
	// CheckRemove refuses what would make Remove(host, use) fail.
	CheckRemove(host string, use crypt.Use) error
	// Entry is what the sink has for host: the credential Nix uses there
	// (its use says from which files) and, in a store, what was recorded
	// with it.
	Entry(host string) (crypt.Entry, bool)
	// Entries are the entries the sink manages, in order: the user's own
	// credentials, or a store's.
	Entries() ([]crypt.Entry, error)
	// Save writes e (a dry run only plans it) and says what it did.
	Save(e crypt.Entry) (sinkChange, error)
	// Remove deletes host's credential from where use says it goes,
	// wherever it has one (a dry run only plans it), and says what it
	// did.
	Remove(host string, use crypt.Use) (sinkChange, error)
	// complete is cur, a valid credential a repeated login keeps, as Save
	// takes it to go where use says with login too; ok is false when the
	// sink has nothing to add (cur goes there, or the sink cannot).
	complete(cur crypt.Entry, use crypt.Use, login string) (e crypt.Entry, ok bool)
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
// nix.conf, the netrc file nix.conf names, and beside the tokens file the
// state file that keeps what Nix has no setting for (the forge, a GitLab
// refresh token, the expiry).
type plainSink struct{ store *nixconf.Store }

func (s *plainSink) Path() string { return s.store.Paths.NixConf }

func (s *plainSink) CheckSave(e crypt.Entry) error {
	if e.Login == "" {
		// Any login stands in: the check is about the files.
		e.Login = providers.DefaultNetrcLogin
	}
	return s.store.CheckSave(e.Host, dest(e.Use, e.Login))
}

func (s *plainSink) CheckRemove(host string, use crypt.Use) error {
	return s.store.CheckRemoveFrom(host, dest(use, ""))
}

// dest is the files a plain config's credential of use goes to.
func dest(use crypt.Use, login string) nixconf.Dest {
	return nixconf.Dest{AccessTokens: use.AccessTokens(), Netrc: use.Netrc(), Login: login}
}

// Entry is the credential Nix uses for host: its access token, from
// whichever file sets it, and the netrc entry curl sends its machine when
// that carries the same token (both); or the netrc credential alone, for a
// host without an access token (a binary cache).
func (s *plainSink) Entry(host string) (crypt.Entry, bool) {
	entries, err := s.store.Tokens()
	if err != nil {
		return crypt.Entry{}, false
	}
	// A state file that cannot be read is refused by CheckSave and
	// CheckRemove (every write plans it); here it only adds metadata.
	st, _ := s.store.State()
	e := crypt.Entry{Host: host}
	i := slices.IndexFunc(entries, func(t nixconf.Entry) bool { return t.Host == host })
	if i >= 0 {
		e = plainEntry(host, entries[i].Token, st)
	}
	machine := nixconf.NetrcMachine(host)
	if machine == "" {
		return e, i >= 0
	}
	_, cred, ok, err := s.store.NetrcFor(machine)
	switch {
	case err != nil || !ok:
		return e, i >= 0
	case i < 0:
		e.Token, e.Use, e.Login = cred.Password, crypt.UseNetrc, cred.Login
		return e, true
	case cred.Password == e.Token:
		e.Use, e.Login = crypt.UseBoth, cred.Login
	}
	return e, true
}

// plainEntry is host's access token with what the state file says of it.
func plainEntry(host, token string, st *nixconf.State) crypt.Entry {
	hs := st.For(host, token)
	return crypt.Entry{Host: host, Token: token, Provider: hs.Provider, User: hs.User, Scopes: hs.Scopes,
		Created: hs.Created, Expires: hs.Expires, RefreshToken: hs.RefreshToken, ClientID: hs.ClientID}
}

// Entries are the user's own credentials: their access tokens, and the
// netrc credentials of hosts without one in the netrc file of their own
// config. The system's are not theirs to change.
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
	tokenOf := map[string]bool{}
	for _, e := range all {
		tokenOf[nixconf.NetrcMachine(e.Host)] = true
		if e.Layer == nixconf.LayerUser {
			out = append(out, plainEntry(e.Host, e.Token, st))
		}
	}
	if _, by, err := s.store.EffectiveNetrc(); err != nil || by == nil || by.Layer == nixconf.LayerBefore {
		return out, err
	}
	_, netrc, err := s.store.NetrcEntries()
	if err != nil {
		return nil, err
	}
	for _, ne := range netrc {
		if h := strings.ToLower(ne.Host); !tokenOf[h] && !slices.ContainsFunc(out, func(e crypt.Entry) bool { return e.Host == h }) {
			out = append(out, crypt.Entry{Host: h, Token: ne.Password, Use: crypt.UseNetrc, Login: ne.Login})
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
	ch, err := s.store.SaveState(e.Host, dest(e.Use, e.Login), e.Token, hostState(e))
	if err != nil {
		return nil, err
	}
	return &plainChange{ch: ch, store: s.store, entry: e}, nil
}

// SaveAll writes every entry in one edit, each where its use says, all or
// nothing (a dry run only plans it), and names the files written.
func (s *plainSink) SaveAll(es []crypt.Entry) (string, error) {
	all := make([]nixconf.Saving, len(es))
	for i, e := range es {
		hs := hostState(e)
		all[i] = nixconf.Saving{Host: e.Host, Token: e.Token, To: dest(e.Use, e.Login), State: &hs}
	}
	ch, err := s.store.SaveAll(all)
	if err != nil {
		return "", err
	}
	var files []string
	if ch.Tokens {
		files = append(files, ch.TokensFile)
	}
	if ch.Netrc != nil {
		files = append(files, ch.Netrc.File)
	}
	return strings.Join(files, " and "), nil
}

func (s *plainSink) Remove(host string, use crypt.Use) (sinkChange, error) {
	ch, err := s.store.RemoveFrom(host, dest(use, ""))
	if err != nil {
		return nil, err
	}
	return &plainChange{ch: ch, store: s.store, entry: crypt.Entry{Host: host, Use: use}}, nil
}

// complete writes the netrc file alone when the access token is in place:
// it stays where it is, whichever file sets it.
func (s *plainSink) complete(cur crypt.Entry, use crypt.Use, login string) (crypt.Entry, bool) {
	if !use.Netrc() || cur.Use.Netrc() {
		return crypt.Entry{}, false
	}
	e := cur
	e.Use, e.Login = crypt.UseNetrc, login
	return e, true
}

// plainChange is an edit of the Nix config: of entry's access token, its
// netrc entry, or both.
type plainChange struct {
	ch    *nixconf.Change
	store *nixconf.Store
	entry crypt.Entry
}

func (c *plainChange) report(f *Factory, host, nixTok string) {
	out, ch, dryRun := f.IO.Out, c.ch, c.store.DryRun
	machine := nixconf.NetrcMachine(host)
	if nixTok != "" {
		if ch.Tokens {
			printChange(f, ch, host, nixTok, dryRun)
		}
		if ch.Netrc != nil {
			printNetrcChange(f, ch.Netrc, ch.NixConf, machine, c.entry.Login, dryRun)
			netrcNotes(f, c.store, c.entry, dryRun)
		}
		return
	}
	if ch.Tokens {
		if dryRun {
			termsafe.Fprintf(out, "Dry run: would remove the token for %s from %s; nothing was written.\n", host, ch.TokensFile)
		} else {
			termsafe.Fprintf(out, "Removed the token for %s from %s.\n", host, ch.TokensFile)
			printMigrated(f, ch)
		}
	}
	if ch.Netrc != nil {
		printNetrcRemoval(f, ch.Netrc, machine, dryRun)
	}
	if dryRun {
		return
	}
	if ch.Tokens {
		printNixNotes(f, ch, false)
	}
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
// key for it, whom it is encrypted to). Every store format keeps an
// entry's use and login, so where the credential goes is no reason to
// refuse.
func (s *storeSink) CheckSave(e crypt.Entry) error {
	if err := nixconf.ValidateHost(e.Host); err != nil {
		return err
	}
	return s.file.CheckEncrypts(e.Host)
}

// CheckRemove: a store's entry is one, whatever its use.
func (s *storeSink) CheckRemove(host string, _ crypt.Use) error { return s.file.CheckRemove(host) }

func (s *storeSink) Entry(host string) (crypt.Entry, bool) { return s.file.Entry(host) }
func (s *storeSink) Entries() ([]crypt.Entry, error)       { return s.file.Entries(), nil }

// Save keeps e. A forge's token that would go to netrc too keeps its
// access token alone in a store that cannot carry netrc credentials, and
// the report says so.
func (s *storeSink) Save(e crypt.Entry) (sinkChange, error) {
	_, existed := s.file.Entry(e.Host)
	if err := s.file.Put(e); err != nil {
		return nil, err
	}
	return s.write(existed, e.Use)
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

func (s *storeSink) Remove(host string, _ crypt.Use) (sinkChange, error) {
	if err := s.file.Remove(host); err != nil {
		return nil, err
	}
	return s.write(true, "")
}

// complete rewrites the entry with its netrc use when it lacks one.
func (s *storeSink) complete(cur crypt.Entry, use crypt.Use, login string) (crypt.Entry, bool) {
	if !use.Netrc() || cur.Use.Netrc() {
		return crypt.Entry{}, false
	}
	e := cur
	e.Use, e.Login = use, login
	return e, true
}

// write saves the file; a new store in the flake repo may be the first
// file in its folder, which Save makes. use is the entry's.
func (s *storeSink) write(existed bool, use crypt.Use) (sinkChange, error) {
	c := &storeChange{path: s.file.Path(), format: s.file.Format(), existed: existed, dryRun: s.dryRun, use: use}
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
	// use is where the saved entry's credential goes.
	use crypt.Use
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
		renderPath := c.path
		if c.format == crypt.FormatGitCrypt {
			renderPath = absPath(c.path)
			termsafe.Fprintf(out, "%s the token for %s in %s (in clear, mode 0600: git-crypt encrypts it when you commit it).\n", verb, host, c.path)
			termsafe.Fprintf(out, "Deploy it with `nix-auth render %s` by its path at activation, never through a Nix path.\n", renderPath)
		} else {
			termsafe.Fprintf(out, "%s the token for %s in %s (encrypted to %d recipient%s).\n", verb, host, c.path, c.recipients, plural(c.recipients))
			termsafe.Fprintf(out, "Deploy it with `nix-auth render %s` on each host (or the NixOS module).\n", c.path)
		}
		if c.use.Netrc() {
			termsafe.Fprintf(out, "Its netrc credential reaches Nix through `nix-auth render %s --netrc-output FILE` (the file the system's netrc-file names): "+
				"a netrc credential has no nix.conf form, so an include of the decrypted store does not carry it (the NixOS and nix-darwin modules render it).\n", renderPath)
		}
		if c.format == crypt.FormatGitCrypt {
			f.warnNixPath(c.path)
		}
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
