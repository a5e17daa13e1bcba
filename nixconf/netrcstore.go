package nixconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

// settingNetrc is the setting that names the netrc file Nix's downloader
// reads. It has one value (the last line wins, and there is no
// extra-netrc-file); unset, Nix reads DefaultNetrc, the system's file.
const settingNetrc = "netrc-file"

// netrcHeader starts a netrc file that login creates. Only whole-line
// comments: every netrc reader, old curl included, skips those.
const netrcHeader = "# Credentials for Nix's downloader (curl), written by nix-auth login, set-token and logout.\n" +
	"# nix.conf names this file with netrc-file. Keep it private (mode 0600): it holds secrets.\n"

// netrcFileMode is the mode of a netrc file login creates.
const netrcFileMode fs.FileMode = 0o600

// netrcSentinel stands for every host no entry names (a "default" entry
// answers for it) in the check that an edit leaves other hosts alone.
const netrcSentinel = "nix-auth-check.invalid"

// NetrcStore edits the netrc file Nix's downloader reads for the user's
// own nix commands: the file Nix's config names with netrc-file, or
// NetrcFile beside nix.conf, which nix.conf then names. The nix-daemon
// reads its own netrc-file (the system's) for the substitutions and
// builtin fetches it does: that one is render's, at activation.
//
// Every edit is checked before it is written, with curl's own reading of
// the file (NetrcLookup): the host gets exactly the credential asked for,
// every other host keeps what it had, and Nix reads the file edited.
type NetrcStore struct {
	Paths Paths
	// DryRun computes every NetrcChange but writes nothing, not even a
	// lock.
	DryRun bool
	// StoreDir is the Nix store; empty means DefaultStoreDir.
	StoreDir string
	// Warn, if set, hears of a lock taken over from a process that died
	// holding it.
	Warn func(msg string)
}

// NetrcChange says what NetrcStore.Set or Remove did, or would do with
// DryRun.
type NetrcChange struct {
	NixConf string
	// File is the netrc file edited (or, when nothing was to be removed,
	// the one Nix reads).
	File string
	// SettingAdded is true when "netrc-file = File" was added to NixConf.
	SettingAdded bool
	// Found is true when File had an entry for the host: Set replaced
	// it, Remove removed it.
	Found bool
	// Dropped is the netrc file this user's nix read before SettingAdded,
	// and DroppedHosts the hosts it has entries for (besides the one
	// set): this user's nix no longer reads them. The nix-daemon still
	// does.
	Dropped      string
	DroppedHosts []string
	// Still is, after Remove, the file from which curl still sends the
	// host a credential (a "default" entry, or a file nix-auth does not
	// manage); empty when it sends none.
	Still string
	// ModeFixed is true when File was readable by every user and the
	// write took that away.
	ModeFixed bool
}

// netrcTarget is the file an edit goes to.
type netrcTarget struct {
	file string
	// addSetting: nix.conf must name file with netrc-file first.
	addSetting bool
	// effective is the file Nix reads now.
	effective string
}

// setLine is the netrc-file line nix-auth adds to nix.conf.
func setLine(file string) (string, error) {
	if strings.ContainsAny(file, " \t\r\n#") {
		return "", fmt.Errorf("cannot name %q in nix.conf: Nix cannot read a path with whitespace or '#' there", file)
	}
	return settingNetrc + " = " + file, nil
}

// EffectiveNetrc returns the netrc file Nix reads for the user's commands,
// and the line that names it (nil: no config sets netrc-file, and Nix
// reads DefaultNetrc).
func (s *NetrcStore) EffectiveNetrc() (string, *Setting, error) {
	cfg, err := s.load(nil)
	if err != nil {
		return "", nil, err
	}
	file, by := s.effective(cfg)
	return file, by, nil
}

func (s *NetrcStore) load(overlay map[string][]byte) (*Config, error) {
	return loadLayers(s.Paths.earlier(), s.Paths.NixConf, s.Paths.NixConfig, overlay)
}

func (s *NetrcStore) effective(cfg *Config) (string, *Setting) {
	set, ok := cfg.last(settingNetrc)
	if !ok {
		return s.Paths.DefaultNetrc(), nil
	}
	return set.Value, &set
}

// target decides which file an edit goes to. A file the user's own config
// names (their nix.conf, what it includes, NIX_CONFIG) is theirs: nix-auth
// edits it or says why it cannot. The system's file (named by the system's
// config, or Nix's default) is edited only when this user may write it
// (root on a single-user install); otherwise the user gets a file of their
// own beside nix.conf, which their nix.conf then names.
func (s *NetrcStore) target(cfg *Config) (netrcTarget, error) {
	own, err := filepath.Abs(s.Paths.NetrcFile)
	if err != nil {
		return netrcTarget{}, err
	}
	eff, by := s.effective(cfg)
	if by != nil && by.Layer != LayerBefore {
		at := where(by.File, by.Line)
		switch {
		case eff == "":
			return netrcTarget{}, &Error{
				msg:   fmt.Sprintf("%s sets netrc-file to nothing, so Nix reads no netrc file; nothing was written", at),
				hints: []string{"remove that line (nix-auth then adds its own), or name a file: netrc-file = " + own},
			}
		case !filepath.IsAbs(eff):
			return netrcTarget{}, &Error{
				msg:   fmt.Sprintf("%s sets netrc-file to the relative path %q, which Nix reads from each command's working directory; nothing was written", at, eff),
				hints: []string{"give the full path: netrc-file = " + filepath.Join(filepath.Dir(s.Paths.NixConf), filepath.Base(eff))},
			}
		}
		file := filepath.Clean(eff)
		if err := s.checkFile(file, at); err != nil {
			return netrcTarget{}, err
		}
		return netrcTarget{file: file, effective: file}, nil
	}
	if by != nil && filepath.IsAbs(eff) && s.checkFile(filepath.Clean(eff), "") == nil {
		file := filepath.Clean(eff)
		return netrcTarget{file: file, effective: file}, nil
	}
	if filepath.Clean(eff) == own {
		return netrcTarget{file: own, effective: own}, nil
	}
	if err := s.checkFile(own, ""); err != nil {
		return netrcTarget{}, err
	}
	return netrcTarget{file: own, addSetting: true, effective: eff}, nil
}

// checkFile refuses a netrc file nix-auth cannot edit: in a directory it
// cannot write, a symlink into the Nix store (home-manager's), a path
// safefile's trust rule refuses (a symlink, a directory others can
// change), or render's output. namedAt is the line that names it, for the
// message; empty for nix-auth's own file.
func (s *NetrcStore) checkFile(file, namedAt string) error {
	storeDir := s.StoreDir
	if storeDir == "" {
		storeDir = DefaultStoreDir
	}
	named := ""
	if namedAt != "" {
		named = " (named by netrc-file at " + namedAt + ")"
	}
	ownHint := "or point netrc-file at a file of your own (home-manager: nix.settings.netrc-file = \"" +
		filepath.Join(filepath.Dir(s.Paths.NixConf), NetrcFileName) + "\";)"
	if real, err := filepath.EvalSymlinks(file); err == nil && inDir(real, storeDir) {
		return &Error{
			msg: fmt.Sprintf("%s%s is a symlink into %s (made by home-manager or NixOS), so nix-auth cannot add to it; nothing was written", file, named, storeDir),
			hints: []string{"keep the credential in an encrypted store and let render write the netrc file (`nix-auth login HOST --encrypt-to STORE`),",
				ownHint},
		}
	}
	if err := dirWritable(filepath.Dir(file)); err != nil {
		return &Error{
			msg:   fmt.Sprintf("cannot write the netrc file %s%s: %v; nothing was written", file, named, err),
			hints: []string{"make its directory writable, " + ownHint},
		}
	}
	if err := safefile.Check(file, false); err != nil {
		return err
	}
	head, err := readHead(file)
	if err != nil {
		return err
	}
	if WriterOf(head) == WriterRender {
		return &Error{
			msg: fmt.Sprintf("%s%s is written by `nix-auth render`, which replaces it whole at every run; login does not write to it; nothing was written", file, named),
			hints: []string{"keep the credential in the store render reads (`nix-auth login HOST --encrypt-to STORE`),",
				ownHint},
		}
	}
	return nil
}

// Lookup returns the netrc file Nix's downloader reads for the user's
// commands and the credential curl sends host from it; ok is false when
// it sends none (no entry, or no file it can read, which curl skips
// without a word).
func (s *NetrcStore) Lookup(host string) (file string, cred NetrcCredential, ok bool, err error) {
	file, _, err = s.EffectiveNetrc()
	if err != nil {
		return "", NetrcCredential{}, false, err
	}
	data, err := readNetrc(file)
	if err != nil || data == nil {
		return file, NetrcCredential{}, false, err
	}
	cred, ok, err = NetrcLookup(data, file, host)
	return file, cred, ok, err
}

// Entries lists the machine entries of the netrc file Nix reads for the
// user's commands (none when there is no file it can read).
func (s *NetrcStore) Entries() (file string, entries []NetrcEntry, err error) {
	file, _, err = s.EffectiveNetrc()
	if err != nil {
		return "", nil, err
	}
	data, err := readNetrc(file)
	if err != nil || data == nil {
		return file, nil, err
	}
	d, err := parseNetrc(data, file)
	if err != nil {
		return file, nil, err
	}
	return file, d.Entries(), nil
}

// readNetrc reads a netrc file as curl would: missing or unreadable gives
// nil (curl then sends nothing, without a word).
func readNetrc(path string) ([]byte, error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, nil
	}
	data, err := readRegular(path, true)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTDIR):
		return nil, nil
	case errors.As(err, &pe):
		return nil, fmt.Errorf("cannot read the netrc file %s: %w", path, pe.Err)
	}
	return data, err
}

// readRegular reads a regular file, at most maxNetrcSize+1 bytes (enough
// for checkNetrcData to refuse a larger one), without blocking: a FIFO
// planted where a netrc file is named cannot hang nix-auth. follow says
// whether a symlink is followed, as curl follows one when it reads.
func readRegular(path string, follow bool) ([]byte, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !follow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{msg: path + " is not a regular file; nothing was written",
			hints: []string{"netrc-file must name a regular file: remove what is at " + path + ", or name another file"}}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxNetrcSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return data, nil
}

// preflightNetrc stands in for the password in CheckSet.
const preflightNetrc = "nix-auth-preflight"

// CheckSet finds out, before a token is read or a browser flow is started,
// whether Set(host, login, password) would work: everything Set checks
// except the password itself.
func (s *NetrcStore) CheckSet(host, login string) error {
	cred := NetrcCredential{Login: login, Password: preflightNetrc}
	if err := validateNetrcCred(host, cred); err != nil {
		return err
	}
	return s.check(host, &cred)
}

// CheckRemove finds out, before anything else is changed, whether Remove
// would work.
func (s *NetrcStore) CheckRemove(host string) error {
	if err := ValidateNetrcHost(host); err != nil {
		return err
	}
	return s.check(host, nil)
}

func (s *NetrcStore) check(host string, cred *NetrcCredential) error {
	cfg, err := s.load(nil)
	if err != nil {
		return err
	}
	t, err := s.target(cfg)
	if err != nil {
		return err
	}
	// Under the writers' locks, as Store.CheckSet, when there is
	// something to lock; a check leaves no trace.
	if _, err := os.Stat(filepath.Dir(t.file)); err == nil && !s.DryRun {
		unlock, err := s.lock(t)
		if err != nil {
			return err
		}
		defer unlock()
	}
	_, err = s.plan(host, cred, t)
	return err
}

func validateNetrcCred(host string, cred NetrcCredential) error {
	if err := ValidateNetrcHost(host); err != nil {
		return err
	}
	if cred.Login != "" {
		if err := ValidateNetrcValue("login", cred.Login); err != nil {
			return err
		}
	}
	return ValidateNetrcValue("password", cred.Password)
}

// Set makes curl send host exactly cred (Login may be empty: an entry with
// a password only), in the netrc file Nix reads for the user's commands,
// and names that file in nix.conf when it does not yet. Nothing is written
// when anything is wrong.
func (s *NetrcStore) Set(host string, cred NetrcCredential) (*NetrcChange, error) {
	if err := validateNetrcCred(host, cred); err != nil {
		return nil, err
	}
	return s.update(host, &cred)
}

// Remove deletes host's entries from the netrc file Nix reads for the
// user's commands. A host without one is no error: Found is false.
func (s *NetrcStore) Remove(host string) (*NetrcChange, error) {
	if err := ValidateNetrcHost(host); err != nil {
		return nil, err
	}
	return s.update(host, nil)
}

func (s *NetrcStore) update(host string, cred *NetrcCredential) (*NetrcChange, error) {
	cfg, err := s.load(nil)
	if err != nil {
		return nil, err
	}
	t, err := s.target(cfg)
	if err != nil {
		return nil, err
	}
	if !s.DryRun {
		unlock, err := s.lock(t)
		if err != nil {
			return nil, err
		}
		defer unlock()
		// Again under the locks: another run may have named a file.
		if cfg, err = s.load(nil); err != nil {
			return nil, err
		}
		again, err := s.target(cfg)
		if err != nil {
			return nil, err
		}
		if again != t {
			return nil, fmt.Errorf("%s changed while nix-auth was running; nothing was written; run it again", s.Paths.NixConf)
		}
	}
	p, err := s.plan(host, cred, t)
	if err != nil {
		return nil, err
	}
	if s.DryRun || len(p.files) == 0 {
		return &p.change, nil
	}
	if err := safefile.Write(p.files...); err != nil {
		return nil, err
	}
	return &p.change, nil
}

// lock takes the netrc file's lock, then nix.conf's when it gets the
// setting (the order every writer keeps: no deadlock).
func (s *NetrcStore) lock(t netrcTarget) (func(), error) {
	unlockNetrc, err := safefile.Lock(t.file, s.Warn)
	if err != nil {
		return nil, err
	}
	if !t.addSetting {
		return unlockNetrc, nil
	}
	unlockConf, err := safefile.Lock(s.Paths.NixConf, s.Warn)
	if err != nil {
		unlockNetrc()
		return nil, err
	}
	return func() { unlockConf(); unlockNetrc() }, nil
}

// netrcPlan is an edit, computed and checked before any write.
type netrcPlan struct {
	change NetrcChange
	files  []safefile.File
}

func (s *NetrcStore) plan(host string, cred *NetrcCredential, t netrcTarget) (*netrcPlan, error) {
	nixConf, err := filepath.Abs(s.Paths.NixConf)
	if err != nil {
		return nil, err
	}
	p := &netrcPlan{change: NetrcChange{NixConf: nixConf, File: t.file}}
	if cred == nil && t.addSetting {
		// Nix reads another file, which nix-auth does not manage: there
		// is nothing of its own to remove.
		if data, _ := readNetrc(t.effective); data != nil {
			if _, ok, _ := NetrcLookup(data, t.effective, host); ok {
				p.change.Still = t.effective
			}
		}
		p.change.File = t.effective
		return p, nil
	}
	old, exists, mode, err := readNetrcFile(t.file)
	if err != nil {
		return nil, err
	}
	doc, err := parseNetrc(old, t.file)
	if err != nil {
		return nil, err
	}
	var data []byte
	if cred != nil {
		base := doc
		if !exists {
			if base, err = parseNetrc([]byte(netrcHeader), t.file); err != nil {
				return nil, err
			}
		}
		data, p.change.Found = base.set(host, *cred)
	} else {
		data, p.change.Found = doc.remove(host)
	}
	if err := checkNetrcEdit(doc, data, host, cred); err != nil {
		return nil, err
	}
	if cred == nil {
		if r := curlLookup(netrcLines(data), host); r.found {
			p.change.Still = t.file
		}
	}

	newMode, keep := netrcFileMode, false
	if exists {
		newMode, keep = mode, true
		if mode&0o007 != 0 {
			newMode, keep, p.change.ModeFixed = mode&^0o007, false, true
		}
	}
	if !exists && cred == nil {
		return p, nil
	}
	if !exists || !bytes.Equal(data, old) || p.change.ModeFixed {
		p.files = append(p.files, safefile.File{Path: t.file, Data: data, Mode: newMode, KeepOwner: keep})
	}
	if !t.addSetting || cred == nil {
		return p, nil
	}

	// nix.conf names the file: checked on the edit, with every layer.
	line, err := setLine(t.file)
	if err != nil {
		return nil, err
	}
	if readOnly, err := inspect(nixConf, s.StoreDir); err != nil {
		return nil, err
	} else if readOnly != "" {
		return nil, &ReadOnlyError{NixConf: nixConf, Reason: readOnly, Line: line}
	}
	nixOld, perm, err := readConf(nixConf)
	if err != nil {
		return nil, err
	}
	nixNew := appendLine(nixOld, line)
	after, err := s.load(map[string][]byte{nixConf: nixNew})
	if err != nil {
		return nil, err
	}
	if got, by := s.effective(after); filepath.Clean(got) != t.file {
		return nil, &Error{
			msg:   fmt.Sprintf("adding %q to %s would not make Nix read %s: %s names %s after it; nothing was written", line, nixConf, t.file, where(by.File, by.Line), got),
			hints: []string{"remove that netrc-file line, then run nix-auth again"},
		}
	}
	p.change.SettingAdded = true
	p.change.Dropped, p.change.DroppedHosts = dropped(t.effective, host)
	// The netrc file first: Nix, reading at any moment, finds it in place
	// before the line that names it.
	p.files = append(p.files, nixConfFile(nixConf, nixNew, perm))
	return p, nil
}

// dropped lists the hosts of the netrc file Nix read before (if this user
// could read it), other than host: their credentials no longer reach this
// user's nix once nix.conf names another file.
func dropped(file, host string) (string, []string) {
	data, err := readNetrc(file)
	if err != nil || data == nil {
		return "", nil
	}
	d, err := parseNetrc(data, file)
	if err != nil {
		return "", nil
	}
	var hosts []string
	for _, h := range d.hosts() {
		if !asciiEqualFold(h, host) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return "", nil
	}
	return file, hosts
}

// readNetrcFile reads the netrc file an edit goes to, which may not exist
// yet, with its mode.
func readNetrcFile(path string) (data []byte, exists bool, mode fs.FileMode, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, 0, nil
	}
	if err != nil {
		return nil, false, 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	data, err = readRegular(path, false)
	var he *Error
	if errors.As(err, &he) {
		return nil, false, 0, err
	}
	if err != nil {
		return nil, false, 0, &Error{msg: fmt.Sprintf("cannot read %s: %v; nothing was written", path, errors.Unwrap(err)),
			hints: []string{"nix-auth edits the netrc file in place, keeping its other entries: it must be readable by you"}}
	}
	return data, true, fi.Mode().Perm(), nil
}

// checkNetrcEdit is the check before write: curl, reading the new
// content, sends host exactly cred, and every other host that got a
// credential before exactly that one.
func checkNetrcEdit(old *netrcDoc, data []byte, host string, cred *NetrcCredential) error {
	nd, err := parseNetrc(data, old.path)
	if err != nil {
		return err
	}
	got := curlLookup(nd.lines, host)
	if cred != nil && (!got.found || got.cred != *cred) {
		msg := fmt.Sprintf("editing %s would not give curl exactly this credential for %s; nothing was written", old.path, host)
		hint := "look at the entries for " + host + " and any \"default\" entry in " + old.path + ", fix them by hand, then run nix-auth again"
		if _, def := nd.machines(host); def >= 0 && cred.Login == "" {
			msg = fmt.Sprintf("in %s, curl would take a login from the \"default\" entry at line %d for %s, which has no login of its own, and drop its password; nothing was written",
				old.path, nd.entries[def].toks[0].line, host)
			hint = "give a login (--user NAME), or remove the \"default\" entry"
		}
		return &Error{msg: msg, hints: []string{hint}}
	}
	hosts := append(old.lookedUp(), nd.lookedUp()...)
	for _, h := range append(hosts, netrcSentinel) {
		if asciiEqualFold(h, host) {
			continue
		}
		// A credential curl did not send before (an entry with a password
		// only, once it comes last) may start to flow; none may change
		// or stop.
		if was := curlLookup(old.lines, h); was.found && was != curlLookup(nd.lines, h) {
			return &Error{
				msg:   fmt.Sprintf("editing %s for %s would change what curl sends to %s: the file is not laid out as netrc readers expect; nothing was written", old.path, host, h),
				hints: []string{"put each entry on its own line (machine HOST login USER password SECRET), then run nix-auth again"},
			}
		}
	}
	return nil
}
