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

// tokensFileMode is the mode of the tokens file and of nix.conf backups:
// both hold secrets.
const tokensFileMode fs.FileMode = 0o600

// tokensHeader starts a tokens file that nix-auth creates.
const tokensHeader = "# Access tokens for Nix, written by nix-auth and included from nix.conf.\n" +
	"# Keep this file private (mode 0600): it holds secrets.\n"

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
	// Backup is the copy of NixConf made before the migration (mode 0600,
	// it holds tokens); empty when there was none.
	Backup string
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

// Tokens returns the access tokens Nix would use from NixConf and the files
// it includes, one per host (the value Nix uses), in the order they were
// set.
func (s *Store) Tokens() ([]Entry, error) {
	cfg, err := Load(s.Paths.NixConf)
	if err != nil {
		return nil, err
	}
	return cfg.AccessTokens(), nil
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
	return s.update(host, &token)
}

// Remove deletes host's token. It is an error, naming the file, when Nix
// has no token for host, or when the token is in a file nix-auth does not
// manage.
func (s *Store) Remove(host string) (*Change, error) {
	if err := ValidateHost(host); err != nil {
		return nil, err
	}
	return s.update(host, nil)
}

// update sets (token != nil) or removes host's token, the whole
// read-modify-write under the locks of both files.
func (s *Store) update(host string, token *string) (*Change, error) {
	readOnly, err := s.check()
	if err != nil {
		return nil, err
	}
	if !s.DryRun {
		// Always tokens file first, then nix.conf: one order, no deadlock.
		// The lock makes the tokens file's directory if needed.
		unlockTokens, err := safefile.Lock(s.Paths.TokensFile, s.Warn)
		if err != nil {
			return nil, err
		}
		defer unlockTokens()
		if readOnly == "" {
			unlockConf, err := safefile.Lock(s.Paths.NixConf, s.Warn)
			if err != nil {
				return nil, err
			}
			defer unlockConf()
		}
	}
	p, err := s.plan(host, token, readOnly == "")
	if err != nil {
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

// plan is an edit of both files, computed and checked before any write.
type plan struct {
	change          Change
	nixOld, nixNew  []byte
	nixPerm         fs.FileMode
	tokNew          []byte
	writeTok        bool
	migrate, setNix bool
}

func (s *Store) plan(host string, token *string, nixWritable bool) (*plan, error) {
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
	// Nix as it is now, with the tokens file present (it will be). In an
	// overlay, nil content is a missing file, as readConf returns it.
	old, err := load(nixConf, map[string][]byte{nixConf: p.nixOld, tokFile: orEmpty(tokOld)})
	if err != nil {
		return nil, err
	}
	before := old.AccessTokens()
	want := tokenMap(before)
	if token != nil {
		if _, ok := want[host]; ok {
			p.change.Replaced = true
		}
		want[host] = *token
	} else if err := checkRemovable(before, host, nixConf, tokFile); err != nil {
		return nil, err
	}
	if token == nil {
		delete(want, host)
	}

	nixStmts, err := parseFile(p.nixOld, nixConf)
	if err != nil {
		return nil, err
	}
	p.migrate = nixWritable && slices.ContainsFunc(nixStmts, func(st stmt) bool { return st.isTokens() })

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
	} else {
		tokNew, _, err = removeToken(tokNew, tokFile, host)
	}
	if err != nil {
		return nil, err
	}
	p.tokNew = tokNew
	p.writeTok = !tokExists || !bytes.Equal(tokNew, tokOld) || !modeIs(tokFile, tokensFileMode)

	p.nixNew = p.nixOld
	if p.migrate {
		p.nixNew = removeTokenLines(p.nixOld, nixStmts)
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
	// access-tokens line elsewhere could override the tokens file.
	after, err := load(nixConf, map[string][]byte{nixConf: p.nixNew, tokFile: p.tokNew})
	if err != nil {
		return nil, err
	}
	if err := compare(after, want, host, tokFile); err != nil {
		return nil, err
	}
	return p, nil
}

// checkRemovable says why host's token cannot be removed, if it cannot.
func checkRemovable(entries []Entry, host, nixConf, tokFile string) error {
	i := slices.IndexFunc(entries, func(e Entry) bool { return e.Host == host })
	if i < 0 {
		return &hintError{
			msg:   fmt.Sprintf("no token for %s in %s or the files it includes; nothing was changed", host, nixConf),
			hints: []string{"run `nix-auth status` to see the hosts that have tokens"},
		}
	}
	if f := entries[i].File; f != nixConf && f != tokFile {
		return &hintError{
			msg:   fmt.Sprintf("the token for %s is set in %s:%d, which nix-auth does not manage; nothing was changed", host, f, entries[i].Line),
			hints: []string{"remove it from that file by hand"},
		}
	}
	return nil
}

// compare checks that cfg gives exactly the tokens in want, and otherwise
// names the lines that get in the way.
func compare(cfg *Config, want map[string]string, host, tokFile string) error {
	got := cfg.AccessTokens()
	var wrong []string
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Host] = true
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
	var others []string
	for _, a := range cfg.assigns {
		if a.st.isTokens() && a.file != tokFile {
			others = append(others, a.file+":"+strconv.Itoa(a.st.line))
		}
	}
	if len(others) == 0 {
		// Nothing else sets tokens: the tokens file itself holds tokens
		// that Nix does not use now, and including it would bring them in.
		return &hintError{
			msg: fmt.Sprintf("%s holds tokens that Nix does not use now (for %s); editing it for %s would bring them back; nothing was written",
				tokFile, strings.Join(wrong, ", "), host),
			hints: []string{"delete the tokens you do not want from " + tokFile + ", then run nix-auth again"},
		}
	}
	return &hintError{
		msg: fmt.Sprintf("editing %s for %s would not give Nix the expected tokens (for %s) because of other access-tokens lines: %s; nothing was written",
			tokFile, host, strings.Join(wrong, ", "), strings.Join(others, ", ")),
		hints: []string{"move those access-tokens lines into " + tokFile + " (or delete them), then run nix-auth again"},
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
		files = append(files, safefile.File{Path: backup, Data: p.nixOld, Mode: tokensFileMode, New: true})
		p.change.Backup = backup
	}
	if p.writeTok {
		files = append(files, safefile.File{Path: paths.TokensFile, Data: p.tokNew, Mode: tokensFileMode})
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
