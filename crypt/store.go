package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/nix-auth/nix-auth/internal/safefile"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// Entry is one host's token in an encrypted store, with the metadata that
// status and render show. Token is the value Nix sends (for GitLab it
// carries the OAuth2: or PAT: prefix).
type Entry struct {
	Host, Token    string
	Provider, User string
	Scopes         []string
	// Created and Expires are zero when unknown / never.
	Created, Expires time.Time
	// RefreshToken is kept for GitLab OAuth tokens, which expire after two
	// hours, so that an explicit command can refresh them later.
	RefreshToken string
	// ClientID is the OAuth application an OAuth token was issued to. A
	// refresh must name the same one, and self-managed GitLab has no
	// default; an application ID is public, so it is not encrypted.
	ClientID string
	// Use says where the credential goes: Nix's access-tokens, the netrc
	// file its downloader reads, or both. "" is UseAccessTokens, what
	// every store written before netrc credentials holds.
	Use Use
	// Login is the netrc entry's login (Use netrc or both): curl sends
	// Login and Token as Basic auth. Required there: curl ignores an entry
	// with a password only once another entry follows it.
	Login string
}

// Use is where an entry's credential goes.
type Use string

// The uses, as the stores spell them.
const (
	// UseAccessTokens: Nix's access-tokens setting (github:, gitlab:,
	// sourcehut: inputs).
	UseAccessTokens Use = "access-tokens"
	// UseNetrc: the netrc file only (binary caches).
	UseNetrc Use = "netrc"
	// UseBoth: both (Gitea, Forgejo, Codeberg: their archives fetch with
	// netrc).
	UseBoth Use = "both"
)

// AccessTokens reports whether the credential goes to access-tokens.
func (u Use) AccessTokens() bool { return u == "" || u == UseAccessTokens || u == UseBoth }

// Netrc reports whether the credential goes to netrc.
func (u Use) Netrc() bool { return u == UseNetrc || u == UseBoth }

// UseOf is where host's credential goes, from the forge table: a forge's
// token to access-tokens (and to netrc too for the forges Nix has no
// fetcher for), a binary cache's to netrc alone. A host netrc cannot name
// (an IPv6 address) keeps a forge's token in access-tokens alone. kind ""
// (a host nobody named) is a token for access-tokens. login, set-token,
// import and render's token files all route by it.
func UseOf(kind providers.Kind, host string) Use {
	fg, _ := providers.ForgeOf(kind)
	switch {
	case fg.Netrc == providers.OnlyNetrc:
		return UseNetrc
	case fg.Netrc == providers.AlsoNetrc && nixconf.NetrcMachine(host) != "":
		return UseBoth
	}
	return UseAccessTokens
}

// ParseUse reads a use as a store spells it; "" is UseAccessTokens.
func ParseUse(s string) (Use, error) {
	switch u := Use(s); u {
	case "", UseAccessTokens, UseNetrc, UseBoth:
		return u, nil
	}
	return "", fmt.Errorf("use must be %s, %s or %s", UseAccessTokens, UseNetrc, UseBoth)
}

// Format is the kind of encrypted store a file holds.
type Format string

// The store formats, chosen by file extension.
const (
	// FormatSOPS is a sops file (.yaml, .yml, .json): keys and metadata stay
	// readable, tokens are encrypted value by value.
	FormatSOPS Format = "sops"
	// FormatAge is an armored age file (.age) whose plaintext is a nix.conf
	// fragment, so that agenix can deploy it as it is.
	FormatAge Format = "age"
	// FormatGitCrypt (gitcrypt.go) is chosen by git, not by the name.
)

// Errors that store functions wrap, for errors.Is.
var (
	ErrUnknownFormat = errors.New("unknown store format")
	ErrWrongKey      = errors.New("no identity can decrypt the file")
	ErrTampered      = errors.New("the file was changed without its key")
	ErrTruncated     = errors.New("the file is truncated")
	ErrCorrupt       = errors.New("the file is damaged or not an encrypted store")
	ErrNoMetadata    = errors.New("the file has no sops metadata")
	ErrNoHost        = errors.New("no token for this host")
	ErrExists        = errors.New("the file already exists")
	ErrConflict      = errors.New("the file changed on disk")
	ErrLockout       = errors.New("no given identity could decrypt the file afterwards")
	ErrRecipient     = errors.New("unusable recipient")
	ErrInvalid       = errors.New("invalid entry")
	// ErrCleartext: a token (or another secret-looking field) is, or would
	// be, stored unencrypted under the file's sops rules.
	ErrCleartext = errors.New("a secret is stored unencrypted")
	// ErrSchema: the decrypted store does not have nix-auth's shape (a
	// field of the wrong type, created after expires, an unknown provider,
	// an invalid host). sops's MAC does not cover key names, so these are
	// checked on every load.
	ErrSchema = errors.New("the store does not follow nix-auth's schema")
	// ErrStillEncrypted: ReadDecrypted was given a file that sops has not
	// decrypted.
	ErrStillEncrypted = errors.New("the file is still sops-encrypted")
)

// FileError is a problem with one store file. Its message names the file;
// Hints say what to do about it.
type FileError struct {
	Path string
	// Kind is one of the Err* values above.
	Kind error
	// Host and Field name the entry and field a schema or cleartext error
	// is about, when there is one.
	Host, Field string
	Detail      string
	hints       []string
}

// Error names the file first, as every nix-auth error does.
func (e *FileError) Error() string { return e.Path + ": " + e.Detail }

// Unwrap lets errors.Is match Kind.
func (e *FileError) Unwrap() error { return e.Kind }

// Hints says what the user can do.
func (e *FileError) Hints() []string { return e.hints }

func fileErr(path string, kind error, detail string, hints ...string) *FileError {
	return &FileError{Path: path, Kind: kind, Detail: detail, hints: hints}
}

// DecryptError says that none of the identities could decrypt a file, and
// lists what the file is encrypted to and what was tried, because the usual
// fix is to find the right key or to have someone add yours.
type DecryptError struct {
	Path string
	// Recipients are the age recipients a sops file names, as it names
	// them (unauthenticated text, like OtherKeys).
	Recipients []string
	// OtherKeys are a sops file's non-age master keys (pgp, kms, ...).
	OtherKeys []string
	// Stanzas are the recipient stanza types of an age file's header
	// (X25519 stanzas do not say which key they are for).
	Stanzas []string
	// Tried describes the identities that were tried.
	Tried []string
}

// Error names the file and what was tried, never a key.
func (e *DecryptError) Error() string {
	if len(e.Tried) == 0 {
		return e.Path + ": no identity to decrypt it with"
	}
	return fmt.Sprintf("%s: none of the identities tried can decrypt it (%d tried)", e.Path, len(e.Tried))
}

// Is makes errors.Is(err, ErrWrongKey) true.
func (e *DecryptError) Is(target error) bool { return target == ErrWrongKey }

// Hints lists the file's recipients and the identities tried.
func (e *DecryptError) Hints() []string {
	var h []string
	switch {
	case len(e.Recipients) > 0 || len(e.OtherKeys) > 0:
		h = append(h, "the file is encrypted to: "+strings.Join(append(slices.Clone(e.Recipients), e.OtherKeys...), ", "))
	case len(e.Stanzas) > 0:
		h = append(h, fmt.Sprintf("the file has %d recipient stanzas (%s); age does not record which keys they are for",
			len(e.Stanzas), countTypes(e.Stanzas)))
	}
	if len(e.Recipients) == 0 && len(e.OtherKeys) > 0 {
		h = append(h, "nix-auth decrypts with age keys only: use sops itself for this file, or add an age recipient with `sops updatekeys`")
	}
	if len(e.Tried) > 0 {
		h = append(h, "identities tried: "+strings.Join(e.Tried, ", "))
	} else {
		h = append(h, "no identity was found: set SOPS_AGE_KEY_FILE")
	}
	return h
}

// countTypes summarises stanza types: "X25519 x3, ssh-ed25519".
func countTypes(types []string) string {
	var order []string
	n := map[string]int{}
	for _, t := range types {
		if n[t] == 0 {
			order = append(order, t)
		}
		n[t]++
	}
	parts := make([]string, len(order))
	for i, t := range order {
		parts[i] = t
		if n[t] > 1 {
			parts[i] = fmt.Sprintf("%s x%d", t, n[t])
		}
	}
	return strings.Join(parts, ", ")
}

// FormatOf picks the store format from the file name, as sops picks its
// format, so that both tools agree on what a file is.
func FormatOf(path string) (Format, error) {
	switch {
	case strings.HasSuffix(path, ".yaml"), strings.HasSuffix(path, ".yml"), strings.HasSuffix(path, ".json"):
		return FormatSOPS, nil
	case strings.HasSuffix(path, ".age"):
		return FormatAge, nil
	}
	return "", fileErr(path, ErrUnknownFormat,
		"unknown encrypted store format: the name must end in .yaml, .yml or .json (sops) or .age (age)",
		"rename the file, e.g. secrets/tokens.yaml for sops or secrets/tokens.age for agenix")
}

// store is what a format implements; File does the rest (locking, atomic
// writes, replaying changes onto a file that changed meanwhile).
type store interface {
	entries() []Entry
	put(e Entry) error
	// checkSecret says whether host's token would be stored encrypted.
	checkSecret(host string) error
	remove(host string) bool
	// recipients are those the next write encrypts to: a sops file's own,
	// an .age file's declared ones (nil until declared).
	recipients() []Recipient
	// setRecipients and marshal wrap the data key for plugin recipients
	// (a sops store when recipients change, an .age store when it is
	// written), their plugins talking to the user through ui.
	setRecipients(r []Recipient, ui *plugin.ClientUI) error
	// marshal encodes the store; now is the time of a change.
	marshal(now time.Time, ui *plugin.ClientUI) ([]byte, error)
}

// File is a decrypted token store in memory. Changes are written by Save.
type File struct {
	// Warn, when set, is told when Save takes over the lock of a process
	// that died while writing the file.
	Warn func(msg string)
	// PluginUI is how the age plugins of plugin recipients reach the user
	// while the data key is wrapped for them (SetRecipients and Declare
	// for a sops store, Save for an .age store); nil: they cannot ask
	// anything.
	PluginUI *plugin.ClientUI

	path   string
	format Format
	st     store
	ids    []age.Identity
	tried  []string
	git    *Git
	now    func() time.Time
	// loaded is what the state was decoded from (or last written); nil for
	// a file made by Create. Save compares it with the disk to notice a
	// concurrent writer.
	loaded []byte
	// ops are the changes since loaded, replayed onto a newer file.
	ops []func(store) error
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Format is the file's format.
func (f *File) Format() Format { return f.format }

// Entries returns a copy of the entries, in file order.
func (f *File) Entries() []Entry {
	es := f.st.entries()
	for i := range es {
		es[i].Scopes = slices.Clone(es[i].Scopes)
	}
	return es
}

// Entry returns the entry for host.
func (f *File) Entry(host string) (Entry, bool) {
	for _, e := range f.st.entries() {
		if e.Host == host {
			e.Scopes = slices.Clone(e.Scopes)
			return e, true
		}
	}
	return Entry{}, false
}

// Recipients returns the recipients the next Save encrypts to. For a sops
// file they are those in its metadata (their Source is the file) until
// SetRecipients changes them. For an .age file they are nil until Declare
// or SetRecipients: an age header does not say who it is encrypted to.
func (f *File) Recipients() []Recipient { return slices.Clone(f.st.recipients()) }

// Put adds the entry or replaces the entry for the same host. Host and
// token are checked so that they cannot inject a setting into the
// access-tokens line or a line of the netrc file rendered from the store.
func (f *File) Put(e Entry) error {
	if err := checkEntry(e); err != nil {
		return fileErr(f.path, ErrInvalid, err.Error())
	}
	e.Scopes = slices.Clone(e.Scopes)
	if err := f.st.put(e); err != nil {
		return err
	}
	f.ops = append(f.ops, func(s store) error { return s.put(e) })
	return nil
}

// CheckEncrypts returns an error wrapping ErrCleartext when the file's sops
// rules would store a token for host unencrypted, so that a caller can
// refuse before asking a forge for one. Put makes the same check.
func (f *File) CheckEncrypts(host string) error { return f.st.checkSecret(host) }

// Remove deletes the entry for host.
func (f *File) Remove(host string) error {
	if err := f.CheckRemove(host); err != nil {
		return err
	}
	f.st.remove(host)
	f.ops = append(f.ops, func(s store) error { s.remove(host); return nil })
	return nil
}

// CheckRemove returns the error Remove(host) would, without removing: a
// caller checks before it does anything else about the token.
func (f *File) CheckRemove(host string) error {
	if _, ok := f.Entry(host); !ok {
		return fileErr(f.path, ErrNoHost, "no token for "+host+" in this file",
			"hosts in the file: "+strings.Join(hostList(f.st.entries()), ", "))
	}
	return nil
}

// SetRecipients sets the recipients the next Save encrypts to, as a rekey
// does. A sops file keeps its data key, values and MAC: only the data key
// is wrapped again, as `sops updatekeys` does. An .age file is encrypted
// anew.
func (f *File) SetRecipients(recips []Recipient) error {
	recips, err := checkRecipients(f.path, recips)
	if err != nil {
		return err
	}
	if err := f.st.setRecipients(recips, f.PluginUI); err != nil {
		return err
	}
	f.ops = append(f.ops, func(s store) error { return s.setRecipients(recips, f.PluginUI) })
	return nil
}

// Declare gives the recipients that the file's configuration (secrets.nix,
// .sops.yaml) or the command line declares for it, before a write that is
// not a rekey. This is the rule for whom a write encrypts to
// (SECURITY-relevant):
//
//   - An .age file is encrypted to exactly the declared recipients, and
//     Save refuses to write one that has none. Nothing in an age file says
//     who it is encrypted to: its X25519 stanzas name no key, and its
//     plaintext, where nix-auth used to cache the list, is authenticated by
//     nobody (anyone can encrypt any plaintext to public keys), so a cached
//     list goes stale when someone re-encrypts with `age` or `agenix -r`.
//   - A sops file keeps the recipients in its metadata, as `sops set` does;
//     only Rekey (SetRecipients) changes them.
//
// Where the file can be checked against the declaration it is, and a
// mismatch is reported through Warn: an .age header's ssh-ed25519 stanzas
// carry a tag of their key and its X25519 stanzas can be counted; a sops
// file lists its age keys.
func (f *File) Declare(recips []Recipient) error {
	if f.format == FormatGitCrypt {
		return gitCryptKeysErr(f.path)
	}
	recips, err := checkRecipients(f.path, recips)
	if err != nil {
		return err
	}
	var mismatch []string
	if f.format == FormatAge {
		if a, ok := f.st.(*ageStore); ok {
			mismatch = a.header.compare(recips).mismatch()
		}
		if err := f.st.setRecipients(recips, f.PluginUI); err != nil {
			return err
		}
		f.ops = append(f.ops, func(s store) error { return s.setRecipients(recips, f.PluginUI) })
	} else {
		mismatch = sopsMismatch(f.st.recipients(), recips)
	}
	if len(mismatch) > 0 && f.Warn != nil {
		verb := "this write encrypts to the declared recipients only"
		if f.format == FormatSOPS {
			verb = "it keeps its own recipients, as `sops set` does, until `nix-auth rekey " + f.path + "`"
		}
		f.Warn(fmt.Sprintf("%s: the file's recipients differ from those declared (%s): %s; %s",
			f.path, recipientSources(recips), strings.Join(mismatch, "; "), verb))
	}
	return nil
}

// sopsMismatch lists the differences between a sops file's age keys and
// the declared ones.
func sopsMismatch(have, declared []Recipient) []string {
	var out []string
	for _, r := range declared {
		if !slices.ContainsFunc(have, func(h Recipient) bool { return h.Age == r.Age }) {
			out = append(out, "not yet encrypted to "+r.Age+" ("+r.Source+")")
		}
	}
	for _, h := range have {
		if !slices.ContainsFunc(declared, func(r Recipient) bool { return h.Age == r.Age }) {
			out = append(out, "encrypted to "+h.Age+", which is not declared")
		}
	}
	return out
}

// recipientSources names where a list of recipients was declared: "--recipient",
// "secrets.nix:3 (web1), secrets.nix:4 (web2)" shortened to the files.
func recipientSources(rs []Recipient) string {
	var files []string
	for _, r := range rs {
		src := r.Source
		if i := strings.IndexAny(src, ": "); i > 0 {
			src = src[:i]
		}
		if src != "" && !slices.Contains(files, src) {
			files = append(files, src)
		}
	}
	return joinOr(files, "declared")
}

func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ", ")
}

func hostList(es []Entry) []string {
	hs := make([]string, len(es))
	for i, e := range es {
		hs[i] = e.Host
	}
	return hs
}

// Load reads and decrypts a store. ids decrypt it; tried describes them
// (file names, variable names) for the error when none fits; now is the
// clock that judges the store's times and stamps later saves. Nothing is
// ever written by Load. Load asks no git: a git-crypt store needs Open.
func Load(path string, ids []age.Identity, tried []string, now func() time.Time) (*File, error) {
	return Open(path, OpenOptions{Identities: ids, Tried: tried, Now: now})
}

// OpenOptions say how Open reads a store.
type OpenOptions struct {
	// Identities decrypt it; Tried describes them, as for Load.
	Identities []age.Identity
	Tried      []string
	// Now is the clock (required), as for Load.
	Now func() time.Time
	// Format, when set, is the store's format, which must fit its name.
	Format Format
	// Git, when set, is asked whether git-crypt covers a .json/.yaml/.yml
	// file that holds no sops metadata, and then the file is read as a
	// git-crypt store; it is asked again before a git-crypt store is
	// written. Nil asks no git: only Format names a git-crypt store.
	Git *Git
}

// Open is Load with options: the format forced, or told apart with git.
// A file git-crypt still encrypts (a locked repository) is an error
// wrapping ErrGitCryptLocked, in any format.
func Open(path string, o OpenOptions) (*File, error) {
	if o.Now == nil {
		return nil, errors.New("crypt.Open: no clock")
	}
	format, data, err := readStore(path, o)
	if err != nil {
		return nil, err
	}
	st, err := decode(path, format, data, o.Identities, o.Tried, o.Git, o.Now())
	if format == FormatSOPS && o.Format == "" && o.Git != nil && errors.Is(err, ErrNoMetadata) && gitCrypted(path, o.Git) {
		format = FormatGitCrypt
		st, err = decode(path, format, data, o.Identities, o.Tried, o.Git, o.Now())
	}
	if err != nil {
		return nil, err
	}
	return &File{path: path, format: format, st: st, ids: o.Identities, tried: o.Tried, git: o.Git, now: o.Now, loaded: data}, nil
}

// readStore reads a store's bytes and the format its name (or o.Format)
// gives it.
func readStore(path string, o OpenOptions) (Format, []byte, error) {
	format, err := FormatOf(path)
	if err != nil {
		return "", nil, err
	}
	if o.Format != "" {
		if err := fitFormat(path, format, o.Format); err != nil {
			return "", nil, err
		}
		format = o.Format
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, readErr(path, err)
	}
	if IsGitCryptCiphertext(data) {
		return "", nil, lockedFileErr(path)
	}
	return format, data, nil
}

// gitCrypted reports whether git says git-crypt covers path; a git that
// cannot say leaves the file what its name says.
func gitCrypted(path string, git *Git) bool {
	st, err := git.GitCrypt(path)
	return err == nil && st.Covered
}

func readErr(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fileErr(path, fs.ErrNotExist, "no such file", "check the path")
	}
	return fmt.Errorf("reading %s: %w", path, err)
}

// decode parses and decrypts data. A panic in a parser (yaml's code is not
// ours) becomes an error: a damaged file must not crash activation.
func decode(path string, format Format, data []byte, ids []age.Identity, tried []string, git *Git, now time.Time) (st store, err error) {
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fileErr(path, ErrCorrupt, "the file could not be parsed", "restore it from version control")
		}
	}()
	switch format {
	case FormatAge:
		return decodeAge(path, data, ids, tried)
	case FormatGitCrypt:
		return decodeGitCrypt(path, data, git, now)
	}
	return decodeSops(path, data, ids, tried, now)
}

// CreateOptions complete Create's arguments.
type CreateOptions struct {
	// Now is the clock that stamps saves (required).
	Now func() time.Time
	// SopsRule is the .sops.yaml creation rule a new sops file falls under,
	// nil when its recipients came from elsewhere. Its encryption rule
	// (encrypted_regex, unencrypted_suffix, ...) and mac_only_encrypted
	// are honoured, as `sops encrypt` would; without one, only tokens are
	// encrypted (encrypted_regex ^(token|refresh_token)$).
	SopsRule *SopsRule
	// PluginUI is the File's PluginUI, given here because a new sops
	// store wraps its data key at once.
	PluginUI *plugin.ClientUI
	// Format, when set, is the new store's format (it must fit the name):
	// FormatGitCrypt makes a plaintext store that Save writes only where
	// Git says git-crypt encrypts it. Empty: the name's.
	Format Format
	// Git is asked before a git-crypt store is written; nil: git from
	// PATH with the process's environment.
	Git *Git
}

// Create starts a new store at path, encrypted to recips. Nothing is
// written until Save; Save refuses to replace a file that appeared
// meanwhile.
func Create(path string, recips []Recipient, o CreateOptions) (*File, error) {
	if o.Now == nil {
		return nil, errors.New("crypt.Create: no clock")
	}
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	if o.Format != "" {
		if err := fitFormat(path, format, o.Format); err != nil {
			return nil, err
		}
		format = o.Format
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fileErr(path, ErrExists, "already exists", "add the token to it instead of creating it (it is loaded when it exists)")
	}
	if format == FormatGitCrypt {
		if len(recips) > 0 {
			return nil, gitCryptKeysErr(path)
		}
		return &File{path: path, format: format, st: newGitCryptStore(path, o.Git), git: o.Git, now: o.Now}, nil
	}
	recips, err = checkRecipients(path, recips)
	if err != nil {
		return nil, err
	}
	var st store
	if format == FormatAge {
		st, err = newAgeStore(path, recips)
	} else {
		st, err = newSopsStore(path, recips, o.SopsRule, o.PluginUI)
	}
	if err != nil {
		return nil, err
	}
	return &File{path: path, format: format, st: st, now: o.Now, PluginUI: o.PluginUI}, nil
}

// Save writes the file atomically under an exclusive lock, keeping the
// mode of an existing file (0600 for a new one) and making its missing
// directories. Only ciphertext reaches the disk, the temporary file
// included, except for a git-crypt store: git is asked again, under the
// lock, that git-crypt encrypts it, and it is written 0600 whatever its
// mode was (gitcrypt.go). A path safefile's trust rule refuses (a symlink at the file
// or its lock, a directory others can change) is an error and nothing is
// written. When another process changed the
// file since it was loaded, its version is decrypted again and this File's
// changes are applied on top, so concurrent logins never lose a token.
func (f *File) Save() error {
	// The lock is the one the Nix config editor takes, removed on release
	// so no stray file shows up in the user's git repository.
	unlock, err := safefile.Lock(f.path, f.Warn)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := os.ReadFile(f.path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return readErr(f.path, err)
	}
	switch {
	case f.loaded == nil && exists:
		return fileErr(f.path, ErrConflict, "was created by another process while this one was running",
			"run the command again: it will add to the new file")
	case f.loaded != nil && !exists:
		return fileErr(f.path, ErrConflict, "was removed while this process was running",
			"run the command again to create it anew")
	case f.loaded != nil && !bytes.Equal(cur, f.loaded):
		st, err := decode(f.path, f.format, cur, f.ids, f.tried, f.git, f.now())
		if err != nil {
			return err
		}
		for _, op := range f.ops {
			if err := op(st); err != nil {
				return err
			}
		}
		f.st = st
		f.loaded = cur
	case len(f.ops) == 0 && exists:
		return nil
	}
	out, err := f.st.marshal(f.now(), f.PluginUI)
	if err != nil {
		return err
	}
	if exists && bytes.Equal(out, cur) {
		f.ops = nil
		return nil
	}
	if g, ok := f.st.(*gitCryptStore); ok {
		if err := saveGitCrypt(g, f.path, out); err != nil {
			return err
		}
		f.loaded, f.ops = out, nil
		return nil
	}
	// An existing store keeps its mode, and its owner and group where this
	// process may keep them; a new one is 0600 whatever the umask.
	if err := safefile.Write(safefile.File{Path: f.path, Data: out, Mode: 0o600, KeepOwner: true}); err != nil {
		return err
	}
	if a, ok := f.st.(*ageStore); ok {
		// What the file is encrypted to now, for a later Declare.
		a.header, _ = ageStanzas(out)
	}
	f.loaded = out
	f.ops = nil
	return nil
}

// Meta is what can be known about a store without a key. None of it is
// authenticated (only the key can check the MAC): it is returned as the
// file has it, and a caller that prints it makes it safe first, as cmd
// does through termsafe.
type Meta struct {
	Path   string
	Format Format
	// Entries have no Token or RefreshToken. For a sops file whose rules
	// encrypt the metadata too, only Host is set and Hidden is true; for an
	// .age file, Entries is nil and Hidden is true; a git-crypt store's
	// entries (OpenMeta) have every other field.
	Entries []Entry
	Hidden  bool
	// Recipients are the age recipients (sops files only).
	Recipients []string
	// OtherKeys are non-age master keys of a sops file (pgp, kms, ...).
	OtherKeys []string
	// Cleartext are the hosts whose token or refresh token the sops file's
	// rules leave unencrypted (Load refuses such a file).
	Cleartext []string
	// Stanzas are the recipient stanza types of an .age file.
	Stanzas []string
	// LastModified is the sops lastmodified time.
	LastModified time.Time
}

// LoadMeta reads what a store shows without decrypting it: for sops files
// the hosts, users and expiry (unverified: only the key can check the MAC),
// for .age files the recipient stanzas.
func LoadMeta(path string) (m *Meta, err error) {
	return OpenMeta(path, OpenOptions{})
}

// OpenMeta is LoadMeta with Open's options (Identities are not used). A
// git-crypt store is plaintext: its metadata is its entries, checked as
// Open checks them (Now is required then), without the tokens.
func OpenMeta(path string, o OpenOptions) (m *Meta, err error) {
	format, data, err := readStore(path, o)
	if err != nil {
		return nil, err
	}
	if format == FormatSOPS && o.Format == "" && o.Git != nil && !isSopsFile(path, data) && gitCrypted(path, o.Git) {
		format = FormatGitCrypt
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fileErr(path, ErrCorrupt, "the file could not be parsed", "restore it from version control")
		}
	}()
	switch format {
	case FormatAge:
		return ageMeta(path, data)
	case FormatGitCrypt:
		if o.Now == nil {
			return nil, errors.New("crypt.OpenMeta: no clock")
		}
		st, err := decodeGitCrypt(path, data, o.Git, o.Now())
		if err != nil {
			return nil, err
		}
		m := &Meta{Path: path, Format: FormatGitCrypt}
		for _, e := range st.entries() {
			e.Token, e.RefreshToken = "", ""
			m.Entries = append(m.Entries, e)
		}
		return m, nil
	}
	return sopsMeta(path, data)
}

// checkEntry refuses what would break or inject into the rendered
// `access-tokens = host=token ...` line or netrc entry, with nixconf's
// validators: the ones render applies, so a store never holds an entry
// render refuses. It is also the check a loaded sops store's entries get
// (checkEntries). The error is an *entryError naming the field at fault.
func checkEntry(e Entry) error {
	if err := nixconf.ValidateHost(e.Host); err != nil {
		return &entryError{err: err}
	}
	// ValidateToken's errors never quote the token.
	if err := nixconf.ValidateToken(e.Token); err != nil {
		return &entryError{field: "token", err: fmt.Errorf("the token for %s: %w", e.Host, err)}
	}
	if err := CheckNetrc(e); err != nil {
		return err
	}
	if e.RefreshToken != "" {
		if err := nixconf.ValidateToken(e.RefreshToken); err != nil {
			return &entryError{field: "refresh_token", err: fmt.Errorf("the refresh token for %s: %w", e.Host, err)}
		}
	}
	for _, s := range append([]string{e.Provider, e.User, e.ClientID, e.Login}, e.Scopes...) {
		if strings.ContainsFunc(s, unicode.IsControl) {
			return &entryError{err: fmt.Errorf("metadata for %s contains a control character", e.Host)}
		}
	}
	return nil
}

// CheckNetrc is the rule for an entry's use and login, the one render
// applies too: a known use; for a netrc credential a host curl can match
// (no IPv6 address), a login, and login and token as every netrc reader
// reads them back; no login on an access token alone. The error is an
// *entryError naming the field at fault.
func CheckNetrc(e Entry) error {
	bad := func(field, format string, a ...any) error {
		return &entryError{field: field, err: fmt.Errorf(format, a...)}
	}
	if _, err := ParseUse(string(e.Use)); err != nil {
		return bad("use", "the entry for %s: %w", e.Host, err)
	}
	if !e.Use.Netrc() {
		if e.Login != "" {
			return bad("login", "the entry for %s has a login but goes to access-tokens only: a login is for netrc (use: %s or %s)", e.Host, UseNetrc, UseBoth)
		}
		return nil
	}
	machine := nixconf.NetrcMachine(e.Host)
	if machine == "" {
		return bad("use", "the entry for %s cannot go to netrc: a netrc entry names a host name or IPv4 address", e.Host)
	}
	if err := nixconf.ValidateNetrcHost(machine); err != nil {
		return bad("", "%w", err)
	}
	if e.Login == "" {
		return bad("login", "the netrc credential for %s has no login: curl ignores a password-only entry once another entry follows it", e.Host)
	}
	if err := nixconf.ValidateNetrcValue("login", e.Login); err != nil {
		return bad("login", "%s: %w", e.Host, err)
	}
	if err := nixconf.ValidateNetrcValue("password", e.Token); err != nil {
		return bad("token", "the token for %s, as a netrc password: %w", e.Host, err)
	}
	return nil
}

// entryError is checkEntry's error: what is wrong, and the field (empty
// for the host or several fields).
type entryError struct {
	field string
	err   error
}

func (e *entryError) Error() string { return e.err.Error() }
func (e *entryError) Unwrap() error { return e.err }

// TokenValue is the one rule for a token (or refresh token) read from a
// YAML or JSON tree, the sops store's or what sops-nix deploys: it must be
// a string (or absent). YAML reads an unquoted 0123... as a number, whose
// leading zeros are gone, and a token rebuilt from it would be wrong
// without a word.
func TokenValue(v any) (string, error) {
	if s, ok := v.(string); ok || v == nil {
		return s, nil
	}
	return "", errors.New("is not a string: quote it (YAML reads unquoted digits as a number)")
}
