// Package render turns an encrypted token store (or a file that sops-nix or
// agenix already decrypted) into the access-tokens file Nix reads, and the
// store's netrc credentials into the netrc file its downloader reads (the
// one the nix-daemon reads for substitution when the system's netrc-file
// names it). It runs at activation on every host of a fleet, so it never
// touches the network, and it rewrites nothing when the result is
// unchanged: units watching the files are not restarted for nothing.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/account"
	"github.com/nix-auth/nix-auth/internal/safefile"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// Settings that render may write: access-tokens replaces the tokens set by
// files read earlier, extra-access-tokens adds to them (an earlier entry for
// the same host wins).
const (
	SettingReplace = "access-tokens"
	SettingMerge   = "extra-access-tokens"
)

// DefaultMode is the output's mode when Options.Mode is zero: the tokens
// are secrets of the file's owner.
const DefaultMode fs.FileMode = 0o600

// Options says what to render and where.
type Options struct {
	// Store is a token store: sops .yaml/.json, .age, or git-crypt's.
	Store string
	// Plain is a file already decrypted by sops-nix or agenix: the sops
	// tree or the access-tokens line. At most one of Store and Plain is
	// set, and at least one of them or TokenFiles.
	Plain string
	// TokenFiles are tokens kept one per file (sops-nix's per-key
	// secrets, agenix's per-file secrets), rendered after the entries of
	// Store or Plain. A host that two inputs name is an error
	// (ErrDuplicateHost).
	TokenFiles []TokenFile
	// Identities decrypt Store; Tried describes them for error messages.
	Identities []age.Identity
	Tried      []string
	// Format, when set, is Store's format (crypt.OpenOptions.Format); Git,
	// when set, tells a git-crypt store from a sops file. A git-crypt
	// store is read in clear: activation reads it by its path in the
	// unlocked checkout, never through the Nix store.
	Format crypt.Format
	Git    *crypt.Git

	// Output is the access-tokens file to write.
	Output string
	// NetrcOutput, when set, is the netrc file to write from the entries
	// whose use is netrc or both; it follows every rule Output does (a
	// file of render's own, mode, owner, unchanged content kept). Nix
	// reads it where netrc-file names it (the system's, on NixOS
	// nix.settings.netrc-file, is the one the nix-daemon reads).
	NetrcOutput string
	// Mode of Output and NetrcOutput (zero: DefaultMode). Owner and Group
	// are names or numbers; empty means the process's (the owner's primary
	// group when only Owner is given).
	Mode         fs.FileMode
	Owner, Group string
	// Home is the home directory of the user running render. An Output
	// below it is that user's own file, and the readability check is for
	// the home's owner. Any other Output is a system file (included from
	// /etc/nix/nix.conf) that every user's nix reads.
	Home string
	// RuntimeDir is the user's XDG_RUNTIME_DIR, where the home-manager
	// unit renders: an Output below it is its owner's own file, as below
	// Home.
	RuntimeDir string
	// Setting is SettingReplace, SettingMerge, or empty for
	// DefaultSetting.
	Setting string
	// Own is render's default output, named in the hint when Output is a
	// file another writer made; may be empty.
	Own string
	// NixConf, when set, gets an "!include Output" line.
	NixConf string
	// StoreDir is the Nix store (NIX_STORE_DIR), where a read-only
	// nix.conf made by NixOS or home-manager points; empty means /nix/store.
	StoreDir string
	// Check writes nothing and reports whether Output (and the include in
	// NixConf) is up to date.
	Check bool
	// Now decides which tokens have expired; it must be set.
	Now time.Time
	// Log gets one line per host rendered; nil discards them.
	Log io.Writer
	// Warn gets warnings (expired tokens, unreadable output); nil
	// discards them.
	Warn func(msg string)
}

// Result says what Render did.
type Result struct {
	// Hosts rendered, in file order.
	Hosts []string
	// Expired hosts left out.
	Expired []string
	// Setting is the setting written.
	Setting string
	// Changed is true when Output was (or, with Check, would be) rewritten.
	Changed bool
	// IncludeAdded is true when the include line was (or, with Check,
	// would be) added to NixConf.
	IncludeAdded bool
	// NetrcHosts are the machines written to NetrcOutput, in file order;
	// NetrcChanged is true when it was (or would be) rewritten.
	NetrcHosts   []string
	NetrcChanged bool
}

// ErrStale is returned by a Check run when Output is missing or differs
// from what would be rendered, or NixConf lacks the include.
var ErrStale = errors.New("the access-tokens file is missing or out of date")

// ErrInvalidEntry is an entry of the input that would break or inject into
// the access-tokens line: the store must be fixed (or the entry replaced)
// and deployed again.
var ErrInvalidEntry = errors.New("invalid entry")

// ErrNotPlain is a plain input (Options.Plain, ReadPlain) that is not a
// decrypted token file: neither an access-tokens fragment nor the sops
// tree of a token store, or far too large to be one. A file that sops has
// not decrypted is crypt.ErrStillEncrypted instead.
var ErrNotPlain = errors.New("not a decrypted token file")

// Error is a problem with render's input or options. Hints say what to do.
type Error struct {
	msg   string
	kind  error // ErrInvalidEntry, ErrNotPlain or nil, for errors.Is
	hints []string
}

// Error is the message, which names the file it is about.
func (e *Error) Error() string { return e.msg }

// Hints says what the user can do.
func (e *Error) Hints() []string { return e.hints }

// Is reports whether target is e's kind.
func (e *Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// DefaultSetting is the setting render writes unless told otherwise:
// extra-access-tokens, which adds to the tokens set before the file is
// read. An access-tokens line would replace them: in a system file, those
// of the NixOS configuration (nix.settings.access-tokens) and of other
// includes; in a user's file, the system's and those of the user's other
// token file (login's access-tokens.conf, which also adds). Where two
// files name the same host, the one Nix reads first wins.
const DefaultSetting = SettingMerge

// within reports whether path is below dir (dir empty or /: never).
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	// A service may run with HOME=/ (systemd without User=): that is no
	// user's home, and /run would otherwise count as below it.
	if err1 != nil || err2 != nil || d == string(filepath.Separator) {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Render decrypts the store (or reads the plain file), leaves out expired
// tokens, and writes the access-tokens file atomically with the requested
// mode and owner, unless it already has exactly that content, mode and
// owner. Every host and token is validated before anything is written.
func Render(o Options) (*Result, error) {
	if o.Store != "" && o.Plain != "" || o.Store == "" && o.Plain == "" && len(o.TokenFiles) == 0 {
		return nil, &Error{msg: "render needs an encrypted store or a decrypted (plain) file, not both, and/or token files"}
	}
	if o.Setting == "" {
		o.Setting = DefaultSetting
	}
	if o.Setting != SettingReplace && o.Setting != SettingMerge {
		return nil, &Error{msg: fmt.Sprintf("unknown setting %q: render writes %s or %s", o.Setting, SettingReplace, SettingMerge)}
	}
	if o.Mode == 0 {
		o.Mode = DefaultMode
	}
	if o.Mode&^fs.ModePerm != 0 {
		return nil, &Error{msg: fmt.Sprintf("mode %o has bits other than permissions", o.Mode), hints: []string{"use a mode such as 0600 or 0640"}}
	}
	if o.Now.IsZero() {
		return nil, errors.New("render: no time given to judge expiry by")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	uid, gid, err := lookupOwner(o.Owner, o.Group)
	if err != nil {
		return nil, err
	}
	// A path that safefile's trust rule refuses (a symlink at the output
	// or its lock, a directory others can change) is an error before
	// anything else, with --check too: not even the output's first line is
	// read through a link someone else planted.
	if err := safefile.Check(o.Output, false); err != nil {
		return nil, err
	}
	// render replaces its output whole: never a file it did not write,
	// such as the access-tokens.conf that login edits.
	if err := nixconf.CheckWriter(o.Output, nixconf.WriterRender, o.Own); err != nil {
		return nil, err
	}
	if o.NetrcOutput != "" {
		if err := checkNetrcOutput(o); err != nil {
			return nil, err
		}
	}
	entries, source, err := load(o)
	if err != nil {
		return nil, err
	}
	// Checked before anything is written, expired entries included: a
	// store edited by hand (sops edit) or a tampered plain file could
	// carry a value that injects a setting into nix.conf.
	if err := validate(entries, source); err != nil {
		return nil, err
	}
	res := &Result{Setting: o.Setting}
	var kept, netrc []crypt.Entry
	for _, e := range entries {
		if !e.Expires.IsZero() && !o.Now.Before(e.Expires) {
			res.Expired = append(res.Expired, e.Host)
			o.Warn(fmt.Sprintf("%s: the token for %s expired at %s; left out (replace it with `nix-auth login %s --encrypt-to STORE` and deploy the store again)",
				source, e.Host, e.Expires.UTC().Format(time.RFC3339), e.Host))
			continue
		}
		if e.Use.AccessTokens() {
			kept = append(kept, e)
			res.Hosts = append(res.Hosts, e.Host)
		}
		if e.Use.Netrc() {
			netrc = append(netrc, e)
		}
	}
	if len(kept) == 0 && len(netrc) == 0 {
		o.Warn(fmt.Sprintf("%s: no usable token; %s gets no %s line", source, o.Output, o.Setting))
	}
	content := format(kept, o.Setting, source)
	var netrcContent []byte
	if o.NetrcOutput != "" {
		if netrcContent, res.NetrcHosts, err = formatNetrc(netrc, source); err != nil {
			return nil, err
		}
		res.NetrcChanged = !sameFile(o.NetrcOutput, netrcContent, o.Mode, uid, gid)
	} else if len(netrc) > 0 {
		o.Warn(fmt.Sprintf("%s: the netrc credentials for %s are left out: render them with --netrc-output FILE, and name FILE with netrc-file (on NixOS: nix.settings.netrc-file)",
			source, strings.Join(hostList(netrc), ", ")))
	}

	res.Changed = !sameFile(o.Output, content, o.Mode, uid, gid)
	// nix.conf is checked before the lock is taken: one that cannot take
	// the include (malformed, read-only) is refused with nothing written.
	if o.NixConf != "" {
		if res.IncludeAdded, err = nixconf.EnsureInclude(o.NixConf, o.Output, true, o.StoreDir, nil); err != nil {
			return res, err
		}
	}
	if o.Check {
		switch {
		case res.Changed || res.IncludeAdded:
			return res, fmt.Errorf("%s: %w", o.Output, ErrStale)
		case res.NetrcChanged:
			return res, fmt.Errorf("%s: %w", o.NetrcOutput, ErrStale)
		}
		return res, nil
	}
	if res.Changed || res.IncludeAdded || res.NetrcChanged {
		if res.Changed, res.NetrcChanged, res.IncludeAdded, err = write(o, content, netrcContent, uid, gid); err != nil {
			return nil, err
		}
	} else {
		// A render killed after its rename may have left its lock file.
		safefile.ReclaimLock(o.Output, o.Warn)
		if o.NetrcOutput != "" {
			safefile.ReclaimLock(o.NetrcOutput, o.Warn)
		}
		if o.NixConf != "" {
			safefile.ReclaimLock(o.NixConf, o.Warn)
		}
	}
	for _, e := range kept {
		fmt.Fprintf(o.Log, "%s %s expires %s\n", e.Host, providers.MaskToken(e.Token), expiry(e))
	}
	if o.NetrcOutput != "" {
		for _, e := range netrc {
			fmt.Fprintf(o.Log, "%s (netrc, login %s) %s expires %s\n", nixconf.NetrcMachine(e.Host), e.Login, providers.MaskToken(e.Token), expiry(e))
		}
	}
	if w := readabilityWarning(o.Output, o.Mode, uid, gid, homeOwner(o.Output, o.Home, o.RuntimeDir)); w != "" {
		o.Warn(w)
	}
	if o.NetrcOutput != "" {
		if w := netrcReadability(o.NetrcOutput, o.Mode, uid, gid, homeOwner(o.NetrcOutput, o.Home, o.RuntimeDir)); w != "" {
			o.Warn(w)
		}
		if o.NixConf != "" {
			netrcNamed(o)
		}
	}
	return res, nil
}

func expiry(e crypt.Entry) string {
	if e.Expires.IsZero() {
		return "never"
	}
	return e.Expires.UTC().Format(time.RFC3339)
}

func hostList(es []crypt.Entry) []string {
	hs := make([]string, len(es))
	for i, e := range es {
		hs[i] = e.Host
	}
	return hs
}

// checkNetrcOutput refuses a netrc output render may not write: the
// access-tokens output itself, a path safefile's trust rule refuses, or a
// file render did not make (the user's own netrc, which login edits).
func checkNetrcOutput(o Options) error {
	a, err1 := filepath.Abs(o.Output)
	b, err2 := filepath.Abs(o.NetrcOutput)
	if err1 == nil && err2 == nil && a == b {
		return &Error{msg: "the netrc output and the access-tokens output name the same file, " + b,
			hints: []string{"give the netrc file a name of its own, e.g. /run/nix-auth/netrc"}}
	}
	if err := safefile.Check(o.NetrcOutput, false); err != nil {
		return err
	}
	return nixconf.CheckWriter(o.NetrcOutput, nixconf.WriterRender, "")
}

// netrcNamed warns when NixConf does not make Nix read NetrcOutput: netrc
// has no include, one file is named by netrc-file, and render leaves that
// setting to the configuration that owns it (the NixOS and home-manager
// modules set nix.settings.netrc-file; login may manage a file of its own).
func netrcNamed(o Options) {
	set, ok, err := nixconf.NetrcSetting(o.NixConf)
	if err != nil {
		return // EnsureInclude has said what is wrong with it
	}
	if out, _ := filepath.Abs(o.NetrcOutput); ok && filepath.Clean(set.Value) == out {
		return
	}
	now := "sets no netrc-file (Nix reads $NIX_CONF_DIR/netrc, /etc/nix/netrc by default)"
	if ok {
		now = fmt.Sprintf("names %s with netrc-file (%s:%d)", set.Value, set.File, set.Line)
	}
	o.Warn(fmt.Sprintf("%s %s, so Nix does not read %s: add `netrc-file = %s` to it (NixOS, home-manager: nix.settings.netrc-file); the nix-daemon reads it after a restart",
		o.NixConf, now, o.NetrcOutput, o.NetrcOutput))
}

// load reads the entries of the inputs and names them for messages.
func load(o Options) ([]crypt.Entry, string, error) {
	var es []crypt.Entry
	var sources []string
	switch {
	case o.Plain != "":
		var err error
		if es, err = loadPlain(o.Plain, o.Now, o.Warn); err != nil {
			return nil, "", err
		}
		sources = append(sources, o.Plain)
	case o.Store != "":
		f, err := crypt.Open(o.Store, crypt.OpenOptions{Identities: o.Identities, Tried: o.Tried, Now: func() time.Time { return o.Now },
			Format: o.Format, Git: o.Git})
		if err != nil {
			return nil, "", err
		}
		es = f.Entries()
		sources = append(sources, o.Store)
	}
	from := map[string]string{}
	for _, e := range es {
		from[e.Host] = sources[0]
	}
	for _, tf := range o.TokenFiles {
		if prev, ok := from[tf.Host]; ok {
			return nil, "", &Error{msg: fmt.Sprintf("%s: a token for %s is in %s too; render takes each host's token from one input", tf.Path, tf.Host, prev),
				kind: ErrDuplicateHost, hints: []string{"give " + tf.Host + " one token: remove it from one of the inputs; nothing was written"}}
		}
		e, err := ReadTokenFile(tf)
		if err != nil {
			return nil, "", err
		}
		from[tf.Host] = tf.Path
		es = append(es, e)
		sources = append(sources, tf.Path)
	}
	return es, strings.Join(sources, ", "), nil
}

func validate(entries []crypt.Entry, source string) error {
	fix := []string{"fix the store (`sops edit FILE`) and deploy it again; nothing was written"}
	for _, e := range entries {
		if err := nixconf.ValidateHost(e.Host); err != nil {
			return &Error{msg: fmt.Sprintf("%s: %v", source, err), kind: ErrInvalidEntry, hints: fix}
		}
		// ValidateToken's error never quotes the token.
		if err := nixconf.ValidateToken(e.Token); err != nil {
			return &Error{msg: fmt.Sprintf("%s: the token for %s: %v", source, e.Host, err), kind: ErrInvalidEntry, hints: fix}
		}
		if err := crypt.CheckNetrc(e); err != nil {
			return &Error{msg: fmt.Sprintf("%s: %v", source, err), kind: ErrInvalidEntry, hints: fix}
		}
	}
	return nil
}

// formatNetrc makes the netrc output: render's header (a comment line,
// which every netrc reader skips), then one entry per machine. Two
// entries for one machine (a cache on two ports) must agree: curl would
// send the first's credential for both. The result is checked as curl
// reads it before anything is written.
func formatNetrc(entries []crypt.Entry, source string) ([]byte, []string, error) {
	var b bytes.Buffer
	b.WriteString(nixconf.RenderHeader(source))
	var machines []string
	creds := map[string]nixconf.NetrcCredential{}
	from := map[string]string{}
	for _, e := range entries {
		m := nixconf.NetrcMachine(e.Host)
		cred := nixconf.NetrcCredential{Login: e.Login, Password: e.Token}
		if old, ok := creds[m]; ok {
			if old != cred {
				return nil, nil, &Error{msg: fmt.Sprintf("%s: %s and %s are the same netrc machine, %s, with different credentials: curl would send the first one to both", source, from[m], e.Host, m),
					hints: []string{"netrc tells hosts apart by name only (not port or path): keep one credential for " + m}}
			}
			continue
		}
		creds[m], from[m] = cred, e.Host
		machines = append(machines, m)
		b.WriteString(nixconf.NetrcLine(m, cred) + "\n")
	}
	for _, m := range machines {
		got, ok, err := nixconf.NetrcLookup(b.Bytes(), source, m)
		if err != nil || !ok || got != creds[m] {
			return nil, nil, &Error{msg: fmt.Sprintf("%s: the netrc entry for %s would not read back as written; nothing was written", source, m)}
		}
	}
	return b.Bytes(), machines, nil
}

// format makes the file content: a comment Nix ignores, then one setting
// line. Without tokens there is no setting line at all: an empty
// "access-tokens =" would wipe the tokens set before the include.
func format(entries []crypt.Entry, setting, source string) []byte {
	var b bytes.Buffer
	b.WriteString(nixconf.RenderHeader(source))
	if len(entries) == 0 {
		return b.Bytes()
	}
	b.WriteString(setting + " =")
	for _, e := range entries {
		b.WriteString(" " + e.Host + "=" + e.Token)
	}
	b.WriteString("\n")
	return b.Bytes()
}

// sameFile reports whether path already holds content with the wanted mode
// and owner, in which case nothing is rewritten and its mtime is kept.
func sameFile(path string, content []byte, mode fs.FileMode, uid, gid int) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != mode.Perm() {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != uid || int(st.Gid) != gid) {
		return false
	}
	if fi.Size() != int64(len(content)) {
		return false
	}
	old, err := os.ReadFile(path)
	return err == nil && bytes.Equal(old, content)
}

// write replaces the outputs and adds the include to NixConf (when set
// and missing) in one all-or-nothing write under the outputs' locks (then
// nix.conf's: the order every writer takes them in), looking again under
// the locks: a concurrent render may have written the same content
// meanwhile. The unchanged case is decided before taking the locks so
// that an idempotent run creates no lock file either.
func write(o Options, content, netrc []byte, uid, gid int) (changed, netrcChanged, added bool, err error) {
	unlock, err := safefile.Lock(o.Output, o.Warn)
	if err != nil {
		return false, false, false, err
	}
	defer unlock()
	// Again under the lock: a login may have made the file meanwhile.
	if err := nixconf.CheckWriter(o.Output, nixconf.WriterRender, o.Own); err != nil {
		return false, false, false, err
	}
	var files []safefile.File
	if !sameFile(o.Output, content, o.Mode, uid, gid) {
		files = append(files, safefile.File{Path: o.Output, Data: content, Mode: o.Mode, Owner: &safefile.Owner{UID: uid, GID: gid}})
		changed = true
	}
	if o.NetrcOutput != "" {
		unlockNetrc, err := safefile.Lock(o.NetrcOutput, o.Warn)
		if err != nil {
			return false, false, false, err
		}
		defer unlockNetrc()
		if err := nixconf.CheckWriter(o.NetrcOutput, nixconf.WriterRender, ""); err != nil {
			return false, false, false, err
		}
		if !sameFile(o.NetrcOutput, netrc, o.Mode, uid, gid) {
			files = append(files, safefile.File{Path: o.NetrcOutput, Data: netrc, Mode: o.Mode, Owner: &safefile.Owner{UID: uid, GID: gid}})
			netrcChanged = true
		}
	}
	if o.NixConf != "" {
		added, err = nixconf.EnsureInclude(o.NixConf, o.Output, false, o.StoreDir, o.Warn, files...)
	} else {
		err = safefile.Write(files...)
	}
	if err != nil {
		return false, false, false, err
	}
	return changed, netrcChanged, added, nil
}

// lookupOwner resolves user and group names (or numbers); empty means the
// current process's.
func lookupOwner(owner, group string) (uid, gid int, err error) {
	uid, gid = os.Getuid(), os.Getgid()
	if owner != "" {
		if uid, err = strconv.Atoi(owner); err != nil {
			u, lerr := account.LookupUser(owner)
			if lerr != nil {
				return 0, 0, &Error{msg: fmt.Sprintf("unknown owner %q", owner), hints: []string{"give a user name or a numeric uid"}}
			}
			uid = u.UID
			if group == "" {
				gid = u.GID
			}
		}
	}
	if group != "" {
		if gid, err = strconv.Atoi(group); err != nil {
			var lerr error
			if gid, lerr = account.LookupGroup(group); lerr != nil {
				return 0, 0, &Error{msg: fmt.Sprintf("unknown group %q", group), hints: []string{"give a group name or a numeric gid"}}
			}
		}
	}
	if uid < 0 || gid < 0 {
		return 0, 0, &Error{msg: "owner and group must not be negative"}
	}
	return uid, gid, nil
}

// homeOwner is the uid of the user whose nix reads output when it is a
// user's file (below home, or below the user's runtime directory, where
// the home-manager unit renders), or -1 for a system file that every
// user's nix reads.
func homeOwner(output, home, runtimeDir string) int {
	switch {
	case within(output, home):
	case within(output, runtimeDir):
		home = runtimeDir
	default:
		return -1
	}
	fi, err := os.Stat(home)
	if err != nil {
		return os.Getuid()
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return os.Getuid()
}

// readabilityWarning says who will not see the tokens, or who sees too
// much. Nix silently skips an included file it cannot read, so a file its
// users cannot read means fetches without a token and no error anywhere.
// reader is the uid whose nix reads the file, or -1 for every user.
func readabilityWarning(path string, mode fs.FileMode, uid, gid, reader int) string {
	perm := mode.Perm()
	if perm&0o004 != 0 {
		return fmt.Sprintf("%s is readable by every local user (mode %04o): any of them can read the tokens; use --mode 0600, or 0640 with --group", path, perm)
	}
	if reader < 0 {
		if perm&0o040 != 0 {
			return ""
		}
		who := "root"
		if uid != 0 {
			who = "uid " + strconv.Itoa(uid) + " and root"
		}
		return fmt.Sprintf("%s is readable by %s only (mode %04o): nix run by any other user silently ignores it and fetches without tokens; if they need them, give them a group: --group G --mode 0640",
			path, who, perm)
	}
	if canRead(reader, perm, uid, gid) {
		return ""
	}
	return fmt.Sprintf("%s is in the home of uid %d, who cannot read it (owner uid %d, group %d, mode %04o): their nix silently ignores it; pass --owner %d",
		path, reader, uid, gid, perm, reader)
}

// netrcReadability is readabilityWarning for the netrc output. A system
// netrc that root alone reads is what the nix-daemon needs to substitute;
// it is worth a warning only because users' own nix (which fetches
// tarballs and flake inputs itself) reads the same netrc-file and then
// goes without the credentials, silently.
func netrcReadability(path string, mode fs.FileMode, uid, gid, reader int) string {
	perm := mode.Perm()
	if reader < 0 && perm&0o044 == 0 {
		return fmt.Sprintf("%s is readable by %s only (mode %04o): the nix-daemon, as root, substitutes with it, but downloads users' own nix makes (builtins.fetchTarball, tarball inputs, nix store ping) go without its credentials; if they need them, give them a group: --group G --mode 0640",
			path, map[bool]string{true: "root", false: "uid " + strconv.Itoa(uid) + " and root"}[uid == 0], perm)
	}
	return readabilityWarning(path, mode, uid, gid, reader)
}

// canRead reports whether user reader may read a file with perm, uid and
// gid, by the owner, group (primary and supplementary) and other bits.
func canRead(reader int, perm fs.FileMode, uid, gid int) bool {
	switch {
	case reader == 0:
		return true
	case reader == uid:
		return perm&0o400 != 0
	case perm&0o040 != 0 && account.InGroup(reader, gid):
		return true
	}
	return perm&0o004 != 0
}
