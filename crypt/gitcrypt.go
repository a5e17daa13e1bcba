package crypt

// git-crypt stores. In a repository where git-crypt's filter covers a path
// (`secrets/** filter=git-crypt diff=git-crypt` in .gitattributes) and the
// repository is unlocked, the working tree holds the plaintext and git-crypt
// encrypts it when it is committed. nix-auth writes the same tree as its sops
// store there, without the sops metadata and with tokens in clear:
//
//	{"hosts": {"github.com": {"token": "ghp_...", "provider": "github", ...}}}
//
// read with the sops store's reader and checks (ReadDecrypted's), so one
// schema owner validates both. Other top-level keys (a secrets.json holding
// other secrets) are kept.
//
// The rule that matters (SECURITY-relevant): nix-auth writes a token in
// clear only where git itself says, at the moment of the write, that
// git-crypt's filter covers the path and that the filter is configured,
// required and has its key (an unlocked repository). A path git-crypt does
// not cover gets sops or age as its name says; a locked repository (its
// files are git-crypt ciphertext, its filter unconfigured) gets an error,
// because git would commit a new plaintext file there as it is.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age/plugin"

	"github.com/nix-auth/nix-auth/internal/proc"
	"github.com/nix-auth/nix-auth/internal/safefile"
)

// FormatGitCrypt is a plaintext store (.json, .yaml, .yml) in a directory
// that git-crypt encrypts on commit.
const FormatGitCrypt Format = "git-crypt"

// Errors of git-crypt stores, for errors.Is.
var (
	// ErrGitCryptLocked: the file is git-crypt ciphertext, or git-crypt
	// covers the path but the repository is locked (or git-crypt was never
	// set up in it), so a file written there would be committed in clear.
	ErrGitCryptLocked = errors.New("the git-crypt repository is locked")
	// ErrNotGitCrypt: the git-crypt format was asked for a path git-crypt's
	// filter does not cover.
	ErrNotGitCrypt = errors.New("git-crypt does not cover the file")
	// ErrGitCryptKeys: a git-crypt store has no recipients of nix-auth's;
	// git-crypt's own GPG users and keys decide who reads it.
	ErrGitCryptKeys = errors.New("git-crypt decides who can read the file")
	// ErrFormatMismatch: a forced format does not fit the file's name or
	// content.
	ErrFormatMismatch = errors.New("the format does not fit the file")
	// ErrGit: git could not say how the path is committed.
	ErrGit = errors.New("git failed")
	// ErrNoGit: there is no git to ask (it wraps ErrGit).
	ErrNoGit = fmt.Errorf("git is not installed: %w", ErrGit)
)

// gitCryptHeader starts every file git-crypt encrypted: what a locked
// repository's working tree and every committed blob hold.
const gitCryptHeader = "\x00GITCRYPT\x00"

// IsGitCryptCiphertext reports whether data is a file git-crypt encrypted.
func IsGitCryptCiphertext(data []byte) bool {
	return bytes.HasPrefix(data, []byte(gitCryptHeader))
}

func lockedFileErr(path string) *FileError {
	return fileErr(path, ErrGitCryptLocked, "is git-crypt ciphertext: the repository is locked (or this is a copy git-crypt never decrypted), so nothing here can read it")
}

// Git runs git to ask how a path is committed. The zero value runs "git"
// from the process's PATH with the process's environment. Every command
// runs without a shell, in the path's directory, bounded in time and
// output.
type Git struct {
	// Command is git's path; empty: "git" looked up in Env's PATH.
	Command string
	// Env is git's environment; nil: the process's.
	Env []string
	// Timeout bounds each command; zero: 10 seconds.
	Timeout time.Duration
}

// GitCryptState is what git says about a path.
type GitCryptState struct {
	// Repo is false when the path is in no git work tree.
	Repo bool
	// Toplevel is the work tree's root.
	Toplevel string
	// Covered: git check-attr says filter=git-crypt (or git-crypt-KEY).
	Covered bool
	// Key is the git-crypt key that covers it ("default" or KEY).
	Key string
	// Unlocked: the key's filter is configured and required in git's
	// config and the key is in the repository, so git-crypt will encrypt
	// the file when it is committed.
	Unlocked bool
}

// maxGitOutput bounds what is read from git: the answers are a line or
// two, and a hostile or broken git must not fill memory.
const maxGitOutput = 64 << 10

// gitError is a git command that failed; its message holds git's first
// error line, as git printed it (cmd escapes it at output).
type gitError struct {
	args   []string
	stderr string
	err    error
	// notRepo: git said the directory is in no repository.
	notRepo bool
}

func (e *gitError) Error() string {
	msg := "git " + e.args[0] + " failed"
	if e.stderr != "" {
		msg += ": " + e.stderr
	} else if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.err }

// command is the git binary to run: Command, or "git" in Env's PATH.
// Relative PATH entries are skipped, as exec.LookPath refuses them.
func (g *Git) command() (string, error) {
	if g.Command != "" {
		return g.Command, nil
	}
	if g.Env == nil {
		return exec.LookPath("git")
	}
	var path string
	for _, kv := range g.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, "git")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// run runs git with args in dir, bounded by internal/proc; exit status 1
// with no stderr is a "not found" answer (git config --get), reported as
// found=false. git's stderr is repository-driven text, not a secret: its
// first line, escaped and cut, goes into the error.
func (g *Git) run(dir string, args ...string) (out []byte, found bool, err error) {
	bin, err := g.command()
	if err != nil {
		return nil, false, &gitError{args: args, err: err}
	}
	timeout := g.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	res, err := proc.Run(context.Background(), proc.Cmd{Path: bin, Args: args, Dir: dir, Env: g.Env,
		Timeout: timeout, MaxStdout: maxGitOutput, MaxStderr: 4 << 10})
	switch {
	case err == nil:
		return res.Stdout, true, nil
	case errors.Is(err, proc.ErrTimeout):
		return nil, false, &gitError{args: args, err: fmt.Errorf("no answer within %s", timeout)}
	case errors.Is(err, proc.ErrTooLarge):
		return nil, false, &gitError{args: args, err: errors.New("its output is far too long")}
	case proc.IsQuietExit(err, 1):
		return nil, false, nil
	case errors.Is(err, proc.ErrExit):
		line, _, _ := strings.Cut(strings.TrimSpace(string(proc.StderrOf(err))), "\n")
		return nil, false, &gitError{args: args, stderr: safeLabel(line), err: err,
			notRepo: strings.HasPrefix(line, "fatal: not a git repository")}
	}
	return nil, false, &gitError{args: args, err: err}
}

// gitKeyName is git-crypt's rule for a key name (validate_key_name):
// letters, digits, '-' and '_', at most 128, and not "default".
// It is compiled on first use, like secretField.
var gitKeyName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`) })

// filterKey is the git-crypt key a filter attribute value names: "default"
// for git-crypt, KEY for git-crypt-KEY; "" for anything else (another
// filter, unset, or a value no git-crypt would write).
func filterKey(value string) string {
	if value == "git-crypt" {
		return "default"
	}
	if k, ok := strings.CutPrefix(value, "git-crypt-"); ok && k != "default" && gitKeyName().MatchString(k) {
		return k
	}
	return ""
}

// GitCrypt asks git whether git-crypt covers path and whether the
// repository is unlocked. A path in no git work tree is not covered; git
// missing or failing is an error wrapping ErrGit.
func (g *Git) GitCrypt(path string) (*GitCryptState, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// git runs in the nearest directory that exists: a new store's folder
	// may not be there yet, and check-attr needs no file.
	dir, rel := filepath.Dir(abs), filepath.Base(abs)
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			break
		}
		if filepath.Dir(dir) == dir {
			return nil, fileErr(path, ErrGit, "none of its directories exists")
		}
		rel = filepath.Join(filepath.Base(dir), rel)
		dir = filepath.Dir(dir)
	}
	if _, err := g.command(); err != nil {
		return nil, fileErr(path, ErrNoGit, "cannot ask git whether git-crypt covers it: git is not installed (or not on PATH)",
			"install git")
	}
	fail := func(err error) error {
		return &FileError{Path: path, Kind: ErrGit, Detail: "cannot ask git whether git-crypt covers it: " + err.Error(),
			hints: []string{"check that `git check-attr filter -- " + filepath.Base(path) + "` works in " + filepath.Dir(abs)}}
	}
	out, _, err := g.run(dir, "rev-parse", "--path-format=absolute", "--is-inside-work-tree", "--show-toplevel", "--git-dir", "--git-common-dir")
	var ge *gitError
	if errors.As(err, &ge) && ge.notRepo {
		return &GitCryptState{}, nil
	}
	if err != nil {
		return nil, fail(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 4 || lines[0] != "true" {
		if len(lines) > 0 && lines[0] == "false" {
			// Inside .git, or a bare repository: nothing there is committed.
			return &GitCryptState{}, nil
		}
		return nil, fail(errors.New("unexpected answer from git rev-parse"))
	}
	st := &GitCryptState{Repo: true, Toplevel: lines[1]}
	gitDir, commonDir := lines[2], lines[3]

	// -z: NUL-separated "path, attribute, value"; no quoting to undo.
	out, _, err = g.run(dir, "check-attr", "-z", "filter", "--", rel)
	if err != nil {
		return nil, fail(err)
	}
	fields := strings.Split(string(out), "\x00")
	if len(fields) != 4 || fields[1] != "filter" || fields[3] != "" {
		return nil, fail(errors.New("unexpected answer from git check-attr"))
	}
	st.Key = filterKey(fields[2])
	st.Covered = st.Key != ""
	if !st.Covered {
		return st, nil
	}
	filter := "filter." + fields[2]
	clean, found, err := g.run(dir, "config", "--get", filter+".clean")
	if err != nil {
		return nil, fail(err)
	}
	if !found || !isGitCryptClean(string(clean), st.Key) {
		return st, nil
	}
	// Without required=true, git commits the plaintext when the filter
	// fails; git-crypt init sets it.
	req, found, err := g.run(dir, "config", "--type=bool", "--get", filter+".required")
	if err != nil {
		return nil, fail(err)
	}
	if !found || strings.TrimSpace(string(req)) != "true" {
		return st, nil
	}
	// git-crypt 0.7 keeps its keys below --git-dir; newer ones below the
	// common directory of linked work trees.
	for _, d := range []string{gitDir, commonDir} {
		if fi, err := os.Stat(filepath.Join(d, "git-crypt", "keys", st.Key)); err == nil && fi.Mode().IsRegular() {
			st.Unlocked = true
		}
	}
	return st, nil
}

// isGitCryptClean says whether cmd is the clean command git-crypt init
// writes for key: `"PATH/git-crypt" clean`, with --key-name=KEY for a named
// key. Anything else is not git-crypt's, whatever the filter is called:
// `cat # git-crypt clean`, or a wrapper, would commit the plaintext.
func isGitCryptClean(cmd, key string) bool {
	cmd = strings.TrimSpace(cmd)
	var prog, rest string
	if q, ok := strings.CutPrefix(cmd, `"`); ok {
		end := strings.IndexByte(q, '"')
		if end < 0 {
			return false
		}
		prog, rest = q[:end], q[end+1:]
	} else {
		prog, rest, _ = strings.Cut(cmd, " ")
		rest = " " + rest
	}
	// git-crypt quotes its own path for the shell; a path that needed
	// escapes is not taken apart here.
	if prog == "" || filepath.Base(prog) != "git-crypt" || strings.ContainsAny(prog, "\\$`\"';|&<>()*?\n") {
		return false
	}
	want := " clean"
	if key != "default" {
		want += " --key-name=" + key
	}
	return rest == want
}

// writable refuses a plaintext write git-crypt would not encrypt.
func (g *Git) writable(path string) error {
	st, err := g.GitCrypt(path)
	if err != nil {
		return err
	}
	return st.writable(path)
}

func (st *GitCryptState) writable(path string) error {
	switch {
	case !st.Covered:
		return notCoveredErr(path, st)
	case !st.Unlocked:
		return fileErr(path, ErrGitCryptLocked, "git-crypt covers it, but the repository is locked (or git-crypt was never set up in it): a file written now would be committed in clear; nothing was written",
			"in a repository where git-crypt was never set up, run `git-crypt init` first")
	}
	return nil
}

func notCoveredErr(path string, st *GitCryptState) *FileError {
	if !st.Repo {
		return fileErr(path, ErrNotGitCrypt, "is in no git repository, so git-crypt cannot encrypt it; nothing was written",
			"keep git-crypt stores in the repository git-crypt encrypts")
	}
	return fileErr(path, ErrNotGitCrypt, "git-crypt's filter does not cover it (git check-attr filter), so it would be committed in clear; nothing was written",
		"add a line such as `"+gitAttrPattern(path, st)+" filter=git-crypt diff=git-crypt` to .gitattributes (after `git-crypt init`)")
}

// gitAttrPattern is path relative to the work tree, for a .gitattributes
// line, or its base name when that fails.
func gitAttrPattern(path string, st *GitCryptState) string {
	abs, err := filepath.Abs(path)
	if err == nil && st.Toplevel != "" {
		if rel, err := filepath.Rel(st.Toplevel, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.Base(path)
}

// DetectFormat decides the format of a store at path for a write: forced
// when given (it must fit the name), else git-crypt when git says
// git-crypt's filter covers a .json/.yaml/.yml path that holds no sops
// file, else the name's (FormatOf). A git-crypt file still encrypted (a
// locked repository) is an error whatever the format; so is a forced
// git-crypt on a path git-crypt does not cover, or a covered path in a
// locked repository. git nil asks no git: the name decides.
func DetectFormat(path string, forced Format, git *Git) (Format, error) {
	format, err := FormatOf(path)
	if err != nil {
		return "", err
	}
	if forced != "" {
		if err := fitFormat(path, format, forced); err != nil {
			return "", err
		}
	}
	data, err := os.ReadFile(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", readErr(path, err)
	}
	if IsGitCryptCiphertext(data) {
		return "", lockedFileErr(path)
	}
	if forced == FormatSOPS || forced == FormatAge || format == FormatAge || git == nil && forced == "" {
		return format, nil
	}
	// An existing sops file stays one, in a git-crypt folder too.
	if forced == "" && exists && isSopsFile(path, data) {
		return FormatSOPS, nil
	}
	if git == nil {
		git = &Git{}
	}
	st, err := git.GitCrypt(path)
	switch {
	case err != nil && forced == "" && errors.Is(err, ErrNoGit):
		// No git, no git-crypt: the name decides, and sops encrypts.
		return format, nil
	case err != nil:
		return "", err
	case !st.Covered && forced == "":
		return format, nil
	}
	if err := st.writable(path); err != nil {
		return "", err
	}
	return FormatGitCrypt, nil
}

// isSopsFile reports whether data parses as a sops file with metadata.
func isSopsFile(path string, data []byte) bool {
	_, _, err := parseSopsFile(path, data)
	return err == nil
}

// fitFormat checks a forced format against the file's name.
func fitFormat(path string, byName, forced Format) error {
	switch {
	case forced != FormatSOPS && forced != FormatAge && forced != FormatGitCrypt:
		return fileErr(path, ErrFormatMismatch, fmt.Sprintf("unknown store format %s: the formats are sops, age and git-crypt", strconv.QuoteToASCII(string(forced))))
	case forced == FormatGitCrypt && byName != FormatSOPS:
		return fileErr(path, ErrFormatMismatch, "a git-crypt store is JSON or YAML: its name must end in .json, .yaml or .yml",
			"name a .json or .yaml file in the folder git-crypt encrypts")
	case forced != FormatGitCrypt && forced != byName:
		return fileErr(path, ErrFormatMismatch, fmt.Sprintf("the name says %s, not %s", byName, forced),
			"sops stores end in .yaml, .yml or .json, age stores in .age")
	}
	return nil
}

// gitCryptStore is a git-crypt store: the sops store's tree, in clear.
type gitCryptStore struct {
	path string
	json bool
	docs []treeBranch
	git  *Git
}

func newGitCryptStore(path string, git *Git) *gitCryptStore {
	if git == nil {
		git = &Git{}
	}
	return &gitCryptStore{path: path, json: isJSONPath(path), docs: []treeBranch{{{Key: hostsKey, Value: treeBranch{}}}}, git: git}
}

// decodeGitCrypt reads a git-crypt store with the checks of a decrypted
// sops tree. A file without hosts (a secrets.json holding other secrets)
// is a store with no entries yet.
func decodeGitCrypt(path string, data []byte, git *Git, now time.Time) (*gitCryptStore, error) {
	if IsGitCryptCiphertext(data) {
		return nil, lockedFileErr(path)
	}
	var docs []treeBranch
	var err error
	switch {
	case len(bytes.TrimSpace(data)) == 0:
	case isJSONPath(path):
		docs, err = parseSopsJSON(data)
	default:
		docs, err = parseSopsYAML(data)
	}
	if err != nil {
		return nil, fileErr(path, ErrCorrupt, "is not a YAML or JSON tree: "+err.Error(), "fix it in an editor (it is plaintext in the unlocked repository), or restore it with git")
	}
	if len(docs) == 0 {
		docs = []treeBranch{{}}
	}
	if _, ok := lookup(docs[0], sopsMetadataKey); ok {
		return nil, fileErr(path, ErrFormatMismatch, "is a sops file, not a git-crypt store")
	}
	if _, err := decryptedEntries(path, docs, now); err != nil {
		var fe *FileError
		if errors.As(err, &fe) && fe.Kind == ErrSchema {
			fe.hints = []string{"fix it in an editor: it is plaintext in the unlocked repository"}
		}
		return nil, err
	}
	s := newGitCryptStore(path, git)
	s.docs = docs
	return s, nil
}

func (s *gitCryptStore) entries() []Entry {
	es, _, _ := readEntries(s.path, s.docs, nil, false)
	return es
}

func (s *gitCryptStore) put(e Entry) error {
	docs, err := putEntry(s.path, copyTree(s.docs), e)
	if err != nil {
		return err
	}
	s.docs = docs
	return nil
}

// checkSecret asks git, now, whether git-crypt would encrypt the file.
func (s *gitCryptStore) checkSecret(string) error { return s.git.writable(s.path) }

func (s *gitCryptStore) remove(host string) bool { return removeEntry(s.path, s.docs, host) }

func (s *gitCryptStore) recipients() []Recipient { return nil }

func (s *gitCryptStore) setRecipients([]Recipient, *plugin.ClientUI) error {
	return gitCryptKeysErr(s.path)
}

func gitCryptKeysErr(path string) *FileError {
	return fileErr(path, ErrGitCryptKeys, "is a git-crypt store: git-crypt's own GPG users and keys decide who can read it, so it has no recipients of nix-auth's to change",
		"add a reader with `git-crypt add-gpg-user KEYID`, or share the key `git-crypt export-key FILE` writes; to remove one, re-initialize git-crypt with a new key and rotate the tokens")
}

func (s *gitCryptStore) marshal(time.Time, *plugin.ClientUI) ([]byte, error) {
	if s.json {
		return emitSopsJSON(s.docs)
	}
	return emitSopsYAML(s.docs)
}

// NixPathWarning says, for a git-crypt store at path, where a Nix path to
// it would copy its plaintext into the world-readable Nix store: .nix files
// of the work tree that name it in a path literal, or, in a flake's
// repository, the way that could happen. "" when neither applies.
func NixPathWarning(path string, st *GitCryptState) string {
	if st == nil || st.Toplevel == "" {
		return ""
	}
	refs := nixPathRefs(st.Toplevel, filepath.Base(path))
	_, err := os.Stat(filepath.Join(st.Toplevel, "flake.nix"))
	flake := err == nil
	if len(refs) == 0 && !flake {
		return ""
	}
	where := "it is in a flake's repository"
	if len(refs) > 0 {
		where = "a Nix path names it (" + strings.Join(refs, ", ") + ")"
	}
	return fmt.Sprintf("%s: %s: a Nix path to a git-crypt file (./secrets/tokens.json, builtins.readFile) copies its plaintext into the world-readable Nix store; read it by string path at activation instead: `nix-auth render \"%s\"` (README: git-crypt)",
		path, where, absOr(path))
}

func absOr(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// Bounds of the .nix scan: a repository of NixOS configurations has tens
// of files; a huge tree is not scanned whole for a warning.
const (
	maxNixFiles    = 1000
	maxNixFileSize = 256 << 10
)

// nixPathRefs lists "file:line" of .nix files below root whose path
// literals (./x/NAME, ../NAME, /abs/NAME, ~/NAME) end in name. A string
// ("/etc/nixos/secrets/tokens.json") is not a path literal: Nix does not
// copy it.
func nixPathRefs(root, name string) []string {
	re := nixPathRe(name)
	var refs []string
	n := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(refs) >= 5 {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "result") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(p, ".nix") {
			return nil
		}
		if n++; n > maxNixFiles {
			return fs.SkipAll
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		data, _ := io.ReadAll(io.LimitReader(f, maxNixFileSize))
		f.Close()
		for i, line := range strings.Split(string(data), "\n") {
			if re.MatchString(line) {
				rel, _ := filepath.Rel(root, p)
				refs = append(refs, fmt.Sprintf("%s:%d", rel, i+1))
				break
			}
		}
		return nil
	})
	return refs
}

var nixPathRes sync.Map // name -> *regexp.Regexp

func nixPathRe(name string) *regexp.Regexp {
	if re, ok := nixPathRes.Load(name); ok {
		return re.(*regexp.Regexp)
	}
	// A path literal starts after a character that cannot be in one (a
	// quote makes it a string) and has a slash before the name.
	re := regexp.MustCompile(`(^|[^"'A-Za-z0-9._+/~-])([A-Za-z0-9._+-]+|~)?(/[A-Za-z0-9._+-]+)*/` + regexp.QuoteMeta(name) + `($|[^A-Za-z0-9._+-])`)
	nixPathRes.Store(name, re)
	return re
}

// saveGitCrypt is what Save does for a git-crypt store: git is asked
// again, under the lock, right before the plaintext is written, and the
// file is 0600 whatever mode a checkout gave it. Root keeps a user's file
// theirs.
func saveGitCrypt(s *gitCryptStore, path string, out []byte) error {
	if err := s.git.writable(path); err != nil {
		return err
	}
	f := safefile.File{Path: path, Data: out, Mode: 0o600}
	if os.Geteuid() == 0 {
		if owner, ok := fileOwner(path); ok {
			f.Owner = owner
		}
	}
	return safefile.Write(f)
}

// fileOwner is the owner and group of an existing file.
func fileOwner(path string) (*safefile.Owner, bool) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, false
	}
	return &safefile.Owner{UID: int(st.Uid), GID: int(st.Gid)}, true
}
