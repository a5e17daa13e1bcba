package nixconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// NetrcChange says what a Save or RemoveFrom did to the netrc file, or
// would do with DryRun.
type NetrcChange struct {
	// File is the netrc file edited (or, when nothing was to be removed,
	// the one Nix reads).
	File string
	// SettingAdded is true when "netrc-file = File" was added to nix.conf.
	SettingAdded bool
	// Found is true when File had an entry for the host: Save replaced
	// it, RemoveFrom removed it.
	Found bool
	// Dropped is the netrc file this user's nix read before SettingAdded,
	// and DroppedHosts the hosts it has entries for (besides the one
	// set): this user's nix no longer reads them. The nix-daemon still
	// does.
	Dropped      string
	DroppedHosts []string
	// Still is, after RemoveFrom, the file from which curl still sends the
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
func (s *Store) EffectiveNetrc() (string, *Setting, error) {
	cfg, err := s.load(nil)
	if err != nil {
		return "", nil, err
	}
	file, by := s.effectiveNetrc(cfg)
	return file, by, nil
}

func (s *Store) effectiveNetrc(cfg *Config) (string, *Setting) {
	set, ok := cfg.last(settingNetrc)
	if !ok {
		return s.Paths.DefaultNetrc(), nil
	}
	return set.Value, &set
}

// netrcTarget decides which file an edit goes to. A file the user's own
// config names (their nix.conf, what it includes, NIX_CONFIG) is theirs:
// nix-auth edits it or says why it cannot. The system's file (named by the
// system's config, or Nix's default) is edited only when this user may
// write it (root on a single-user install); otherwise the user gets a file
// of their own beside nix.conf, which their nix.conf then names.
func (s *Store) netrcTarget(cfg *Config) (netrcTarget, error) {
	own, err := filepath.Abs(s.Paths.NetrcFile)
	if err != nil {
		return netrcTarget{}, err
	}
	eff, by := s.effectiveNetrc(cfg)
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
		if err := s.checkNetrcFile(file, at); err != nil {
			return netrcTarget{}, err
		}
		return netrcTarget{file: file, effective: file}, nil
	}
	if by != nil && filepath.IsAbs(eff) && s.checkNetrcFile(filepath.Clean(eff), "") == nil {
		file := filepath.Clean(eff)
		return netrcTarget{file: file, effective: file}, nil
	}
	if filepath.Clean(eff) == own {
		return netrcTarget{file: own, effective: own}, nil
	}
	if err := s.checkNetrcFile(own, ""); err != nil {
		return netrcTarget{}, err
	}
	return netrcTarget{file: own, addSetting: true, effective: eff}, nil
}

// checkNetrcFile refuses a netrc file nix-auth cannot edit: nix.conf or
// the tokens file, in a directory it cannot write, a symlink into the Nix
// store (home-manager's), a path safefile's trust rule refuses (a symlink,
// a directory others can change), or render's output. namedAt is the line
// that names it, for the message; empty for nix-auth's own file.
func (s *Store) checkNetrcFile(file, namedAt string) error {
	storeDir := s.StoreDir
	if storeDir == "" {
		storeDir = DefaultStoreDir
	}
	named := ""
	if namedAt != "" {
		named = " (named by netrc-file at " + namedAt + ")"
	}
	ownHint := "point netrc-file at a file of your own (home-manager: nix.settings.netrc-file = \"" +
		filepath.Join(filepath.Dir(s.Paths.NixConf), NetrcFileName) + "\";)"
	for _, conf := range []string{s.Paths.NixConf, s.Paths.TokensFile} {
		if abs, err := filepath.Abs(conf); err == nil && abs == file {
			return &Error{
				msg:   fmt.Sprintf("%s%s is a Nix config file, not a netrc file; nothing was written", file, named),
				hints: []string{ownHint},
			}
		}
	}
	if real, err := filepath.EvalSymlinks(file); err == nil && inDir(real, storeDir) {
		return &Error{Kind: ErrManaged,
			msg:   fmt.Sprintf("%s%s is a symlink into %s (made by home-manager or NixOS), so nix-auth cannot add to it; nothing was written", file, named, storeDir),
			hints: []string{ownHint},
		}
	}
	if err := dirWritable(filepath.Dir(file)); err != nil {
		return &Error{
			msg:   fmt.Sprintf("cannot write the netrc file %s%s: %v; nothing was written", file, named, err),
			hints: []string{"make its directory writable, or " + ownHint},
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
		return &Error{Kind: ErrRendered,
			msg:   fmt.Sprintf("%s%s is written by `nix-auth render`, which replaces it whole at every run; login does not write to it; nothing was written", file, named),
			hints: []string{ownHint},
		}
	}
	return nil
}

// NetrcFor returns the netrc file Nix's downloader reads for the user's
// commands and the credential curl sends host from it; ok is false when
// it sends none (no entry, or no file it can read, which curl skips
// without a word).
func (s *Store) NetrcFor(host string) (file string, cred NetrcCredential, ok bool, err error) {
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

// NetrcEntries lists the machine entries of the netrc file Nix reads for
// the user's commands (none when there is no file it can read).
func (s *Store) NetrcEntries() (file string, entries []NetrcEntry, err error) {
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
	// At most one byte more than checkNetrcData takes, for it to refuse.
	data, err := readRegular(path, true, maxNetrcSize+1)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTDIR):
		return nil, nil
	case errors.As(err, &pe):
		return nil, fmt.Errorf("cannot read the netrc file %s: %w", path, pe.Err)
	}
	return data, err
}

// validateNetrcCred accepts a credential for machine that every netrc
// reader reads back as written.
func validateNetrcCred(machine string, cred NetrcCredential) error {
	if err := ValidateNetrcHost(machine); err != nil {
		return err
	}
	if cred.Login != "" {
		if err := ValidateNetrcValue("login", cred.Login); err != nil {
			return err
		}
	}
	return ValidateNetrcValue("password", cred.Password)
}

// netrcPlan is the netrc side of an edit, computed and checked before any
// write.
type netrcPlan struct {
	change NetrcChange
	// file is the netrc file to write; nil when it stays as it is.
	file *safefile.File
	// nixNew is nix.conf with the netrc-file line added (on top of the
	// tokens' edit, if any), and nixPerm its mode; nil when nix.conf
	// already names the file.
	nixNew  []byte
	nixPerm fs.FileMode
}

// netrcSet is one machine's part of a netrc edit: its credential set
// (cred), or its entries removed (nil).
type netrcSet struct {
	machine string
	cred    *NetrcCredential
}

// planNetrc plans the sets in t, in order; only a plan of one removes.
// base is the content the tokens' edit gives nix.conf and the tokens file
// (nil: none), on which the netrc-file line goes. Change.Found is the
// first set's.
func (s *Store) planNetrc(sets []netrcSet, t netrcTarget, base map[string][]byte) (*netrcPlan, error) {
	nixConf, err := filepath.Abs(s.Paths.NixConf)
	if err != nil {
		return nil, err
	}
	machine, cred := sets[0].machine, sets[0].cred
	p := &netrcPlan{change: NetrcChange{File: t.file}}
	if cred == nil && t.addSetting {
		// Nix reads another file, which nix-auth does not manage: there
		// is nothing of its own to remove.
		if data, _ := readNetrc(t.effective); data != nil {
			if _, ok, _ := NetrcLookup(data, t.effective, machine); ok {
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
	cur := doc
	if cred != nil && !exists {
		if cur, err = parseNetrc([]byte(netrcHeader), t.file); err != nil {
			return nil, err
		}
	}
	for i, ns := range sets {
		if i > 0 {
			// Each set is checked on the content the one before made.
			if cur, err = parseNetrc(data, t.file); err != nil {
				return nil, err
			}
		}
		var found bool
		if ns.cred != nil {
			data, found = cur.set(ns.machine, *ns.cred)
		} else {
			data, found = cur.remove(ns.machine)
		}
		if i == 0 {
			p.change.Found = found
		}
		if err := checkNetrcEdit(cur, data, ns.machine, ns.cred); err != nil {
			return nil, err
		}
	}
	if cred == nil {
		if r := curlLookup(netrcLines(data), machine); r.found {
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
		p.file = &safefile.File{Path: t.file, Data: data, Mode: newMode, KeepOwner: keep}
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
	if b, ok := base[nixConf]; ok {
		nixOld = b
	}
	nixNew := appendLine(nixOld, line)
	overlay := maps.Clone(base)
	if overlay == nil {
		overlay = map[string][]byte{}
	}
	overlay[nixConf] = nixNew
	after, err := s.load(overlay)
	if err != nil {
		return nil, err
	}
	if got, by := s.effectiveNetrc(after); filepath.Clean(got) != t.file {
		return nil, &Error{
			msg:   fmt.Sprintf("adding %q to %s would not make Nix read %s: %s names %s after it; nothing was written", line, nixConf, t.file, where(by.File, by.Line), got),
			hints: []string{"remove that netrc-file line, then run nix-auth again"},
		}
	}
	p.change.SettingAdded = true
	machines := make([]string, len(sets))
	for i, ns := range sets {
		machines[i] = ns.machine
	}
	p.change.Dropped, p.change.DroppedHosts = dropped(t.effective, machines)
	p.nixNew, p.nixPerm = nixNew, perm
	return p, nil
}

// dropped lists the hosts of the netrc file Nix read before (if this user
// could read it), other than set: their credentials no longer reach this
// user's nix once nix.conf names another file.
func dropped(file string, set []string) (string, []string) {
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
		if !slices.ContainsFunc(set, func(m string) bool { return asciiEqualFold(h, m) }) {
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
	data, err = readRegular(path, false, maxNetrcSize+1)
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
			hint = "give a login, or remove the \"default\" entry"
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
