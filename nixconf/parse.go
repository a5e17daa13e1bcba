package nixconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Setting names nix-auth reads and edits.
const (
	settingTokens      = "access-tokens"
	settingExtraTokens = "extra-access-tokens"
)

// maxIncludeDepth bounds include nesting. Nix has no limit and crashes with
// a stack overflow on a cycle; a cycle is reported before this is reached,
// the bound only stops pathological chains of distinct files.
const maxIncludeDepth = 64

// Entry is one access token as Nix would use it.
type Entry struct {
	Host, Token string
	// File is the config file the winning value came from (EnvSource for
	// NIX_CONFIG); Line its line.
	File string
	Line int
	// Layer is where File is in Nix's reading order.
	Layer Layer
}

// Layer is a part of Nix's configuration, in the order Nix applies them.
type Layer int

// The layers, by what sets them. LayerUser is the zero value: Load reads a
// user config alone.
const (
	// LayerUser is the user's nix.conf and the files it includes.
	LayerUser Layer = iota
	// LayerBefore is what Nix reads before it: the system's nix.conf
	// (where NixOS's nix.settings and a fleet's render go), the
	// XDG_CONFIG_DIRS files, and further NIX_USER_CONF_FILES entries.
	LayerBefore
	// LayerEnv is NIX_CONFIG, applied after every file.
	LayerEnv
)

// ParseError is a config line Nix refuses, named by file and line. It never
// quotes the line: it may hold a token.
type ParseError struct {
	File string
	Line int
	Msg  string
	Hint string
}

// Error names the file and line, then what is wrong.
func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Hints says how to fix the file.
func (e *ParseError) Hints() []string {
	if e.Hint == "" {
		return nil
	}
	return []string{e.Hint}
}

// span is a byte range [start, end) in a file.
type span struct{ start, end int }

// stmt is one non-empty line of a config file.
type stmt struct {
	line       int    // 1-based line number
	start, end int    // the line's bytes, without its '\n'
	toks       []span // tokens before any '#'
	// For a setting: its name and value (the tokens after '=' joined by
	// one space, as Nix joins them).
	name, value string
	// For an include: the path as written, and whether it is "!include".
	include  string
	optional bool
}

// pair is one host=token item of an access-tokens value.
type pair struct {
	host, token string
	tok         span // the item's bytes
	prevEnd     int  // end of the token before it on the line
}

// pairs splits an access-tokens value as Nix's StringMap parser does: at
// the first '=' of each whitespace-separated item; items without '=' are
// ignored.
func (s *stmt) pairs(data []byte) []pair {
	var out []pair
	for i := 2; i < len(s.toks); i++ {
		t := s.toks[i]
		item := string(data[t.start:t.end])
		host, token, ok := strings.Cut(item, "=")
		if !ok {
			continue
		}
		out = append(out, pair{host: host, token: token, tok: t, prevEnd: s.toks[i-1].end})
	}
	return out
}

func (s *stmt) isTokens() bool {
	return s.include == "" && (s.name == settingTokens || s.name == settingExtraTokens)
}

// isSpace is Nix's tokenizeString default separator set.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// parseFile splits data into statements with Nix's rules. path names the
// file in errors.
func parseFile(data []byte, path string) ([]stmt, error) {
	var out []stmt
	num := 0
	for pos := 0; pos < len(data); {
		num++
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += pos
		}
		st := stmt{line: num, start: pos, end: end}
		code := end
		if h := bytes.IndexByte(data[pos:end], '#'); h >= 0 {
			code = pos + h
		}
		for i := pos; i < code; {
			for i < code && isSpace(data[i]) {
				i++
			}
			j := i
			for j < code && !isSpace(data[j]) {
				j++
			}
			if j > i {
				st.toks = append(st.toks, span{i, j})
			}
			i = j
		}
		pos = end + 1
		if len(st.toks) == 0 {
			continue
		}
		if err := st.classify(data, path); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *stmt) classify(data []byte, path string) error {
	tok := func(i int) string { return string(data[s.toks[i].start:s.toks[i].end]) }
	first := tok(0)
	perr := func(msg, hint string) error { return &ParseError{File: path, Line: s.line, Msg: msg, Hint: hint} }
	if first == "include" || first == "!include" {
		if len(s.toks) != 2 {
			return perr(first+" takes exactly one path",
				"Nix has no quoting: a path with spaces cannot be included; move the file")
		}
		s.include, s.optional = tok(1), first == "!include"
		return nil
	}
	if len(s.toks) < 2 || tok(1) != "=" {
		hint := "Nix refuses the whole file; write it as `name = value`, with spaces around '='"
		return perr("not a `name = value` line", hint)
	}
	s.name = first
	vals := make([]string, 0, len(s.toks)-2)
	for i := 2; i < len(s.toks); i++ {
		vals = append(vals, tok(i))
	}
	s.value = strings.Join(vals, " ")
	return nil
}

// Config is a user config as Nix reads it: the top file and every file it
// includes, in the order Nix applies them.
type Config struct {
	// Files lists every file read, in the order Nix reads them
	// (EnvSource for NIX_CONFIG).
	Files []string
	// Skipped lists included files that Nix ignores: missing with
	// "!include", or unreadable (Nix skips those even with "include").
	Skipped []string

	assigns  []assign
	includes []string // every path the user's files include, found or not
}

// assign is one "name = value" line as applied.
type assign struct {
	file  string
	data  []byte
	st    stmt
	layer Layer
}

// Load reads the config at path and every file it includes, with Nix's
// rules. A missing or unreadable top file gives an empty Config, as Nix
// ignores it; a missing "include" target, an include cycle, or a line Nix
// refuses gives an error naming the file and line.
func Load(path string) (*Config, error) {
	return load(path, nil)
}

// load is Load with some files' content replaced by overlay (nil: missing),
// so that an edit can be checked before anything is written.
func load(path string, overlay map[string][]byte) (*Config, error) {
	return loadLayers(nil, path, "", overlay)
}

// loadLayers reads what Nix reads, in its order: the files before the
// user's (each skipped when missing or unreadable, as Nix skips them), the
// user's nix.conf, then the content of NIX_CONFIG.
func loadLayers(before []string, user, nixConfig string, overlay map[string][]byte) (*Config, error) {
	l := &loader{overlay: overlay, cfg: &Config{}, layer: LayerBefore}
	for _, f := range before {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if err := l.file(abs, nil, ""); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(user)
	if err != nil {
		return nil, err
	}
	l.layer = LayerUser
	if err := l.file(abs, nil, ""); err != nil {
		return nil, err
	}
	if nixConfig != "" {
		l.layer = LayerEnv
		if err := l.content(EnvSource, EnvSource, []byte(nixConfig)); err != nil {
			return nil, err
		}
	}
	return l.cfg, nil
}

type loader struct {
	overlay map[string][]byte
	cfg     *Config
	stack   []frame
	layer   Layer
}

// frame is one file being read, for cycle detection and the message.
type frame struct {
	key, path string
	line      int // line of the include being followed
}

type readState int

const (
	readOK readState = iota
	readMissing
	readUnreadable
)

// read returns a file's content as Nix would see it: missing means Nix's
// pathExists (an lstat) fails, so a dangling symlink is unreadable, not
// missing.
func (l *loader) read(path string) ([]byte, readState) {
	if data, ok := l.overlay[path]; ok {
		if data == nil {
			return nil, readMissing
		}
		return data, readOK
	}
	data, err := os.ReadFile(path)
	if err == nil {
		return data, readOK
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(path); lerr != nil {
			return nil, readMissing
		}
	}
	return nil, readUnreadable
}

// identity names a file for cycle detection: the same file reached through
// a symlink or "./" is the same file.
func identity(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

func (l *loader) file(path string, from *frame, incl string) error {
	data, state := l.read(path)
	switch state {
	case readMissing:
		if from != nil && incl == "include" {
			return &ParseError{File: from.path, Line: from.line,
				Msg:  fmt.Sprintf("included file %s not found", path),
				Hint: "create it, or write `!include` so that Nix skips it when it is missing"}
		}
		if from != nil {
			l.cfg.Skipped = append(l.cfg.Skipped, path)
		}
		return nil
	case readUnreadable:
		if from != nil {
			l.cfg.Skipped = append(l.cfg.Skipped, path)
		}
		return nil
	}
	return l.content(path, identity(path), data)
}

// content applies the statements of one file (or of NIX_CONFIG, whose
// includes Nix takes only as absolute paths: it has no directory).
func (l *loader) content(path, key string, data []byte) error {
	from := (*frame)(nil)
	if len(l.stack) > 0 {
		top := l.stack[len(l.stack)-1]
		from = &top
	}
	for i, f := range l.stack {
		if f.key == key {
			return cycleError(append(l.stack[i:], frame{path: path}), from)
		}
	}
	if len(l.stack) >= maxIncludeDepth {
		return &ParseError{File: from.path, Line: from.line,
			Msg: fmt.Sprintf("includes are nested more than %d deep", maxIncludeDepth)}
	}
	stmts, err := parseFile(data, path)
	if err != nil {
		return err
	}
	l.cfg.Files = append(l.cfg.Files, path)
	l.stack = append(l.stack, frame{key: key, path: path})
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	for _, st := range stmts {
		if st.include == "" {
			l.cfg.assigns = append(l.cfg.assigns, assign{file: path, data: data, st: st, layer: l.layer})
			continue
		}
		target := st.include
		if !filepath.IsAbs(target) && path == EnvSource {
			return &ParseError{File: path, Line: st.line, Msg: "includes a relative path",
				Hint: "Nix refuses a relative include in NIX_CONFIG (\"not an absolute path\"): give the full path"}
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		target = filepath.Clean(target)
		if l.layer == LayerUser {
			l.cfg.includes = append(l.cfg.includes, target)
		}
		kw := "include"
		if st.optional {
			kw = "!include"
		}
		l.stack[len(l.stack)-1].line = st.line
		top := l.stack[len(l.stack)-1]
		if err := l.file(target, &top, kw); err != nil {
			return err
		}
	}
	return nil
}

// cycleError names every file of the cycle and the line that closes it.
func cycleError(cycle []frame, from *frame) error {
	var b strings.Builder
	for i, f := range cycle[:len(cycle)-1] {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s:%d includes %s", f.path, f.line, cycle[i+1].path)
	}
	return &ParseError{File: from.path, Line: from.line,
		Msg:  "include cycle: " + b.String(),
		Hint: "Nix crashes on an include cycle; remove one of these include lines"}
}

// Get returns a setting's value after every file: the last "name = value"
// wins and each later "extra-name = value" appends to it, separated by a
// space. ok is false when nothing sets name. Settings with a built-in
// default are reported relative to an empty default.
func (c *Config) Get(name string) (value string, ok bool) {
	for _, a := range c.assigns {
		switch a.st.name {
		case name:
			value, ok = a.st.value, true
		case "extra-" + name:
			if value != "" && a.st.value != "" {
				value += " "
			}
			value += a.st.value
			ok = true
		}
	}
	return value, ok
}

// AccessTokens returns the tokens Nix would use, in the order they were
// first set. Like Nix's map setting: "access-tokens" replaces everything
// set before it, "extra-access-tokens" adds hosts not set yet, and within
// one line the first value for a host wins.
func (c *Config) AccessTokens() []Entry {
	used, _ := c.tokens()
	return used
}

// Unused is a host=token item that a config sets but Nix does not use.
type Unused struct {
	Entry
	// By is what takes its place: the entry Nix uses for the host (an
	// earlier one wins within a line and against extra-access-tokens), or,
	// when By.Host is empty, the access-tokens line at By.File:By.Line,
	// which replaced every token set before it.
	By Entry
}

// Unused lists the items that Nix reads and does not use, in the order it
// reads them.
func (c *Config) Unused() []Unused {
	_, unused := c.tokens()
	return unused
}

// tokens applies the token settings as Nix does, keeping track of the
// items that lose.
func (c *Config) tokens() (used []Entry, unused []Unused) {
	at := map[string]int{} // host -> index in used
	for _, a := range c.assigns {
		if !a.st.isTokens() {
			continue
		}
		line := Entry{File: a.file, Line: a.st.line, Layer: a.layer}
		if a.st.name == settingTokens {
			for _, e := range used {
				unused = append(unused, Unused{Entry: e, By: line})
			}
			used, at = nil, map[string]int{}
		}
		for _, p := range a.st.pairs(a.data) {
			e := line
			e.Host, e.Token = p.host, p.token
			if i, ok := at[p.host]; ok {
				unused = append(unused, Unused{Entry: e, By: used[i]})
				continue
			}
			at[p.host] = len(used)
			used = append(used, e)
		}
	}
	return used, unused
}

// ParseTokens reads data as Nix reads one config file, without following
// its includes. It returns the access tokens the file gives Nix on its own
// (File is name), and the numbers of the lines that set access-tokens or
// extra-access-tokens. A line Nix refuses, which makes Nix refuse the whole
// file, gives a *ParseError naming name and the line. It is the one
// access-tokens parser: the .age store and render --plain use it too.
func ParseTokens(data []byte, name string) (entries []Entry, lines []int, err error) {
	stmts, err := parseFile(data, name)
	if err != nil {
		return nil, nil, err
	}
	cfg := &Config{}
	for _, st := range stmts {
		if st.isTokens() {
			cfg.assigns = append(cfg.assigns, assign{file: name, data: data, st: st})
			lines = append(lines, st.line)
		}
	}
	return cfg.AccessTokens(), lines, nil
}

// references reports whether the config includes path (found or not).
func (c *Config) references(path string) bool {
	path = filepath.Clean(path)
	for _, inc := range c.includes {
		if inc == path || sameFile(inc, path) {
			return true
		}
	}
	return false
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
