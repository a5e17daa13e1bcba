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

// Change says what Set or Remove did, or would do with DryRun.
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

// preflightToken stands in for the token in CheckSet: the check is about
// which files give Nix the host's token, so any value does.
const preflightToken = "nix-auth-preflight"

// CheckSet finds out, before a token is read or a browser flow is started,
// whether Set(host, token) would work: everything Set checks except the
// token itself, on the same edit (nix.conf writable or including the
// tokens file, every config file one Nix accepts, the tokens file one that
// login writes, and Nix getting the token: no later access-tokens line or
// NIX_CONFIG overriding it). A forge then never issues a token that
// cannot be saved.
func (s *Store) CheckSet(host string) error {
	tok := preflightToken
	return s.preflight(host, &tok)
}

// CheckRemove finds out, before anything else is done about host's token
// (such as revoking it at the forge), whether Remove(host) would work:
// everything Remove checks, on the same edit.
func (s *Store) CheckRemove(host string) error {
	return s.preflight(host, nil)
}

// preflight plans Set (token != nil) or Remove without writing anything.
func (s *Store) preflight(host string, token *string) error {
	if err := ValidateHost(host); err != nil {
		return err
	}
	readOnly, err := s.check()
	if err != nil {
		return err
	}
	// Under the writers' locks, so that a concurrent write is seen whole
	// (a tokens file written, the include not yet added). Without the
	// directory there is nothing to lock, and it is not created: a check
	// leaves no trace.
	if _, err := os.Stat(filepath.Dir(s.Paths.TokensFile)); err == nil && !s.DryRun {
		unlock, err := s.lockBoth(readOnly == "")
		if err != nil {
			return err
		}
		defer unlock()
	}
	if _, err = s.plan(host, token, readOnly == ""); err != nil {
		return err
	}
	_, _, err = planState(s.Paths.StateFile(), stateEdit{host: host, token: token})
	return err
}

// Set gives host the token in the tokens file, adds the include to
// nix.conf if needed, and moves any access-tokens lines out of nix.conf
// (after a backup). Host and token are validated first; nothing is written
// when anything is wrong.
func (s *Store) Set(host, token string) (*Change, error) {
	if err := ValidateHost(host); err != nil {
		return nil, err
	}
	if err := ValidateToken(token); err != nil {
		return nil, err
	}
	return s.update(stateEdit{host: host, token: &token})
}

// SetState is Set that also records, in the state file, what is known of
// the token (hs): its forge, and for an expiring GitLab OAuth token the
// refresh token that renews it. Both files are written together or not
// at all. A Set without it keeps the host's forge and forgets the rest,
// which was about the token it replaces.
func (s *Store) SetState(host, token string, hs HostState) (*Change, error) {
	if err := ValidateHost(host); err != nil {
		return nil, err
	}
	if err := ValidateToken(token); err != nil {
		return nil, err
	}
	return s.update(stateEdit{host: host, token: &token, hs: &hs})
}

// SetAll gives each host its token in one edit, as SetState does for one
// (states, when not nil, holds what is known of each token, in the order
// of tokens): all written or, when anything is wrong, nothing. The
// Change's Replaced is for the first entry; Migrated, Kept and Shadowed
// cover all.
func (s *Store) SetAll(tokens []Entry, states []HostState) (*Change, error) {
	if len(tokens) == 0 {
		return nil, errors.New("no tokens to set")
	}
	for _, e := range tokens {
		if err := ValidateHost(e.Host); err != nil {
			return nil, err
		}
		if err := ValidateToken(e.Token); err != nil {
			return nil, fmt.Errorf("the token for %s: %w", e.Host, err)
		}
	}
	if states != nil && len(states) != len(tokens) {
		return nil, errors.New("SetAll: one state per token")
	}
	edits := make([]stateEdit, len(tokens))
	for i := range tokens {
		edits[i] = stateEdit{host: tokens[i].Host, token: &tokens[i].Token}
		if states != nil {
			edits[i].hs = &states[i]
		}
	}
	return s.update(edits[0], edits[1:]...)
}

// Remove deletes host's token. It is an error, naming the file, when Nix
// has no token for host, or when the token is in a file nix-auth does not
// manage.
func (s *Store) Remove(host string) (*Change, error) {
	if err := ValidateHost(host); err != nil {
		return nil, err
	}
	return s.update(stateEdit{host: host})
}

// update sets (token != nil) or removes one host's token, and its state
// (see planState), and sets the tokens of more with theirs, the whole
// read-modify-write under the locks of both files. The state file is
// written only under the tokens file's lock.
func (s *Store) update(first stateEdit, more ...stateEdit) (*Change, error) {
	readOnly, err := s.check()
	if err != nil {
		return nil, err
	}
	if !s.DryRun {
		// The lock makes the tokens file's directory if needed.
		unlock, err := s.lockBoth(readOnly == "")
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	var entries []Entry
	for _, e := range more {
		entries = append(entries, Entry{Host: e.host, Token: *e.token})
	}
	p, err := s.plan(first.host, first.token, readOnly == "", entries...)
	if err != nil {
		return nil, err
	}
	if p.stateNew, p.writeState, err = planState(s.Paths.StateFile(), append([]stateEdit{first}, more...)...); err != nil {
		return nil, err
	}
	if s.DryRun {
		return &p.change, nil
	}
	if err := p.apply(s.Paths); err != nil {
		return nil, err
	}
	return &p.change, nil
}

// lockBoth takes the locks of a read-modify-write: the tokens file's, then
// nix.conf's when it is written (always this order: no deadlock).
func (s *Store) lockBoth(nixWritable bool) (unlock func(), err error) {
	// Always tokens file first, then nix.conf: one order, no deadlock.
	unlockTokens, err := safefile.Lock(s.Paths.TokensFile, s.Warn)
	if err != nil {
		return nil, err
	}
	if !nixWritable {
		return unlockTokens, nil
	}
	unlockConf, err := safefile.Lock(s.Paths.NixConf, s.Warn)
	if err != nil {
		unlockTokens()
		return nil, err
	}
	return func() { unlockConf(); unlockTokens() }, nil
}

// plan is an edit of both files, computed and checked before any write.
type plan struct {
	change          Change
	nixOld, nixNew  []byte
	nixBackup       []byte // nixOld with its token lines made comments
	nixPerm         fs.FileMode
	tokNew          []byte
	writeTok        bool
	migrate, setNix bool
	stateNew        []byte
	writeState      bool
}

// plan is the edit that sets (token != nil) or removes host's token and
// sets the tokens of more with it.
func (s *Store) plan(host string, token *string, nixWritable bool, more ...Entry) (*plan, error) {
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
	if p.nixOld, p.nixPerm, err = readConf(nixConf); err != nil {
		return nil, err
	}
	tokOld, tokExists, err := readTokens(tokFile)
	if err != nil {
		return nil, err
	}
	if w := WriterOf(tokOld); w == WriterRender {
		return nil, &WriterError{Path: tokFile, Writer: w, Want: WriterLogin}
	}
	nixStmts, err := parseFile(p.nixOld, nixConf)
	if err != nil {
		return nil, err
	}
	p.migrate = nixWritable && slices.ContainsFunc(nixStmts, func(st stmt) bool { return st.isTokens() })

	// Nix as it is now, with the tokens file present (it will be). In an
	// overlay, nil content is a missing file, as readConf returns it.
	old, err := s.load(map[string][]byte{nixConf: p.nixOld, tokFile: orEmpty(tokOld)})
	if err != nil {
		return nil, err
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
			return nil, err
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
				return nil, err
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
		return nil, err
	}
	p.change.Adds = p.migrate || !addsAlready(tokOld, tokFile)
	if tokNew, err = addOnly(tokNew, tokFile); err != nil {
		return nil, err
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
			return nil, err
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
		return nil, err
	}
	if err := p.compare(after, want, host, token != nil); err != nil {
		return nil, err
	}
	return p, nil
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

// apply writes the backup, the tokens file and nix.conf in one
// all-or-nothing write, in that order: Nix, reading at any moment, finds
// the tokens file in place before the include that pulls it in.
func (p *plan) apply(paths Paths) error {
	var files []safefile.File
	if p.migrate && p.setNix {
		backup, err := backupName(paths.NixConf)
		if err != nil {
			return err
		}
		files = append(files, safefile.File{Path: backup, Data: p.nixBackup, Mode: tokensFileMode, New: true})
		p.change.Backup = backup
	}
	if p.writeTok {
		files = append(files, safefile.File{Path: paths.TokensFile, Data: p.tokNew, Mode: tokensFileMode})
	}
	if p.writeState {
		files = append(files, safefile.File{Path: paths.StateFile(), Data: p.stateNew, Mode: tokensFileMode})
	}
	if p.setNix {
		files = append(files, nixConfFile(paths.NixConf, p.nixNew, p.nixPerm))
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
