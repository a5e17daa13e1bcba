package nixconf

// netrc files: the credentials Nix's downloader, libcurl, sends as HTTP
// Basic auth to a host (tarball and archive fetches, binary caches). This
// file is the one reader and editor of the format. Lexing and lookup
// follow curl's lib/netrc.c as Debian's libcurl 7.88.1 ships it (the
// CVE-2024-11053 and CVE-2025-0167 fixes backported, the code of curl
// 8.12), which Debian's nix 2.8 links:
//
//   - curl reads the file a line at a time (Curl_get_line, a 4096-byte
//     buffer): a line longer than 4094 bytes is skipped whole, and a last
//     line without '\n' gets one;
//   - tokens are separated by space and tab; a token ends at any of space,
//     tab, CR, LF, VT, FF, and curl skips the one byte after it, so CR
//     before LF makes an empty token; '#' at the start of a token makes
//     the rest of the line a comment; a token starting with '"' is a
//     quoted string (\n, \r, \t and \X escapes) that must end on its
//     line, else curl fails the whole transfer (".netrc parser error");
//   - "machine NAME" (NAME compared without regard to ASCII case),
//     "default", "login V", "password V"; "macdef NAME" outside a matching
//     entry skips the following lines up to one that starts with LF or CR;
//     every other token, "account" included, is ignored where it stands;
//   - the lookup stops at the first matching entry that has both a login
//     and a password. An entry with a password only is used when nothing
//     follows it: the next "machine" token drops its password (even for
//     another host), and a "default" after it lends it a login and drops
//     the password. nix-auth therefore writes a login with every password.
//
// Nix builds download URLs without user information, so curl has no login
// of its own to match. The editor writes entries every netrc reader reads
// the same way (values without whitespace, quotes, backslashes or '#',
// never a keyword), and every edit is checked with the lookup: the host
// gets exactly the credential asked for, every other host what it had.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// NetrcFileName is the netrc file beside nix.conf that login, set-token
// and logout write when Nix's config names none.
const NetrcFileName = "netrc"

// Limits of the netrc format as nix-auth writes it.
const (
	// maxNetrcLine is the longest line (without its '\n') curl reads.
	maxNetrcLine = 4094
	// maxNetrcSize bounds a netrc file nix-auth reads: real ones are a
	// few KiB.
	maxNetrcSize = 1 << 20
	// Bounds on what nix-auth writes, so that an entry's line stays well
	// within maxNetrcLine (and curl 8's 4096-byte token limit).
	maxNetrcLogin    = 256
	maxNetrcPassword = 3072
)

// NetrcCredential is what curl sends for a host: HTTP Basic with Login
// (empty when the entry has none) and Password.
type NetrcCredential struct {
	Login, Password string
}

// ntok is one token of a netrc file as curl splits it.
type ntok struct {
	start, end int    // its bytes in the file, quotes included
	val        string // the value, quotes and escapes undone
	line       int    // 1-based line number
}

// nline is one line of a netrc file as curl reads it.
type nline struct {
	num        int
	start, end int  // the line's bytes, without its '\n'
	first      byte // the first byte curl sees: '\n' for an empty line
	toks       []ntok
	// bad is set when curl fails on the line's last token (a quoted
	// string without its closing quote): tokens before it still count.
	bad bool
	// dropped: longer than curl reads; curl skips it.
	dropped bool
}

// isCurlSpace is curl's ISSPACE: what ends an unquoted token.
func isCurlSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// netrcLines splits data into lines and tokens as curl reads them. data
// must not hold a NUL byte (see checkNetrcData).
func netrcLines(data []byte) []nline {
	var lines []nline
	for pos, num := 0, 1; pos < len(data); num++ {
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += pos
		}
		ln := nline{num: num, start: pos, end: end}
		if end-pos > maxNetrcLine {
			ln.dropped = true
		} else {
			buf := append(bytes.Clone(data[pos:end]), '\n')
			ln.first = buf[0]
			ln.toks, ln.bad = lexNetrcLine(buf, pos, num)
		}
		lines = append(lines, ln)
		pos = end + 1
	}
	return lines
}

// lexNetrcLine splits one line (buf ends in '\n'; off is its offset in the
// file) as curl's parsenetrc does.
func lexNetrcLine(buf []byte, off, num int) (toks []ntok, bad bool) {
	i := 0
	for {
		for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t') {
			i++
		}
		if i >= len(buf) || buf[i] == '#' {
			return toks, false
		}
		if buf[i] != '"' {
			j := i
			for !isCurlSpace(buf[j]) {
				j++
			}
			toks = append(toks, ntok{start: off + i, end: off + j, val: string(buf[i:j]), line: num})
			i = j + 1 // curl steps over the byte that ended the token
			continue
		}
		var v []byte
		j, escape, closed := i+1, false, false
		for ; j < len(buf); j++ {
			c := buf[j]
			if escape {
				escape = false
				switch c {
				case 'n':
					c = '\n'
				case 'r':
					c = '\r'
				case 't':
					c = '\t'
				}
			} else if c == '\\' {
				escape = true
				continue
			} else if c == '"' {
				j++
				closed = true
				break
			}
			v = append(v, c)
		}
		if !closed {
			return toks, true
		}
		toks = append(toks, ntok{start: off + i, end: off + j, val: string(v), line: num})
		i = j + 1 // and over the byte after the closing quote
	}
}

// asciiEqualFold is curl's strcasecompare: ASCII letters only.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// curlResult is the outcome of curl's lookup for one host.
type curlResult struct {
	cred NetrcCredential
	// found: curl sends cred. failLine, when not 0, is the line whose
	// syntax error makes curl fail the transfer.
	found    bool
	failLine int
}

// curlLookup is curl's parsenetrc for host, with no login in the URL
// (Nix's case), followed by what url.c does with its answer.
func curlLookup(lines []nline, host string) curlResult {
	const (
		nothing = iota
		hostFound
		hostValid
		macdef
	)
	const (
		kwNone = iota
		kwLogin
		kwPassword
	)
	const (
		foundLogin    = 1
		foundPassword = 2
	)
	state, keyword, found := nothing, kwNone, 0
	ourLogin, success, done := false, false, false
	var login, password *string
	for _, ln := range lines {
		if done {
			break
		}
		if ln.dropped {
			continue
		}
		if state == macdef {
			if ln.first != '\n' && ln.first != '\r' {
				continue
			}
			state = nothing
		}
		for _, t := range ln.toks {
			if done {
				break
			}
			tok := t.val
			switch state {
			case nothing:
				switch {
				case asciiEqualFold(tok, "macdef"):
					state = macdef
				case asciiEqualFold(tok, "machine"):
					state, keyword, found, ourLogin = hostFound, kwNone, 0, false
					login, password = nil, nil
				case asciiEqualFold(tok, "default"):
					state, success = hostValid, true
				}
			case macdef:
				if tok == "" {
					state = nothing
				}
			case hostFound:
				if asciiEqualFold(host, tok) {
					state, success = hostValid, true
				} else {
					state = nothing
				}
			case hostValid:
				switch {
				case keyword == kwLogin:
					v := tok
					ourLogin, login, keyword = true, &v, kwNone
					found |= foundLogin
				case keyword == kwPassword:
					v := tok
					password, keyword = &v, kwNone
					found |= foundPassword
				case asciiEqualFold(tok, "login"):
					keyword = kwLogin
				case asciiEqualFold(tok, "password"):
					keyword = kwPassword
				case asciiEqualFold(tok, "machine"):
					state, keyword, found = hostFound, kwNone, 0
					login, password = nil, nil
				case asciiEqualFold(tok, "default"):
					state, success = hostValid, true
					login, password = nil, nil
				}
				if found == foundLogin|foundPassword && ourLogin {
					done = true
				}
			}
		}
		if !done && ln.bad {
			return curlResult{failLine: ln.num}
		}
	}
	if !success {
		return curlResult{}
	}
	if password == nil && ourLogin {
		empty := ""
		password = &empty
	} else if login == nil && password == nil {
		return curlResult{}
	}
	var r curlResult
	r.found = true
	if login != nil {
		r.cred.Login = *login
	}
	if password != nil {
		r.cred.Password = *password
	}
	return r
}

// checkNetrcData refuses what nix-auth does not read as a netrc file: too
// large, or with a NUL byte (curl stops reading a line at it and drops the
// next one).
func checkNetrcData(data []byte, path string) error {
	if len(data) > maxNetrcSize {
		return &ParseError{File: path, Msg: fmt.Sprintf("is %d bytes long; a netrc file nix-auth edits is at most %d", len(data), maxNetrcSize),
			Hint: "check that netrc-file names the right file"}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return &ParseError{File: path, Line: bytes.Count(data[:i], []byte("\n")) + 1, Msg: "contains a NUL byte, which makes curl skip lines",
			Hint: "remove it (it is not text), then run nix-auth again"}
	}
	return nil
}

// NetrcLookup returns the credential curl (as Nix uses it) sends to host
// from a netrc file's content; ok is false when it sends none. path names
// the file in errors: a syntax error that makes curl fail every transfer
// that reaches it, or content nix-auth refuses to read.
func NetrcLookup(data []byte, path, host string) (cred NetrcCredential, ok bool, err error) {
	if err := checkNetrcData(data, path); err != nil {
		return NetrcCredential{}, false, err
	}
	r := curlLookup(netrcLines(data), host)
	if r.failLine > 0 {
		return NetrcCredential{}, false, quoteError(path, r.failLine)
	}
	return r.cred, r.found, nil
}

func quoteError(path string, line int) error {
	return &ParseError{File: path, Line: line, Msg: "a quoted string has no closing quote: curl fails every download that reads this far",
		Hint: "close the quote (or remove the quote character), then run nix-auth again"}
}

// NetrcEntry is one "machine" entry of a netrc file, for status.
type NetrcEntry struct {
	// Host is the machine name, as written.
	Host string
	// Login and Password as the entry gives them (empty when absent).
	Login, Password string
	// File and Line name where it starts.
	File string
	Line int
}

// nentry is an entry of the structure the editor sees: "machine NAME ...",
// "default ...", or "macdef NAME" with its body.
type nentry struct {
	kind string // "machine", "default" or "macdef"
	// name is the machine's or macro's name; hasName is false when the
	// file ends first.
	name    ntok
	hasName bool
	// toks are every token of the entry, its keyword first.
	toks []ntok
	// pairs are its login, password and account keywords with values.
	pairs []npair
}

// npair is a keyword of an entry and its value (hasVal false: none).
type npair struct {
	key    string // lower case
	kw     ntok
	val    ntok
	hasVal bool
}

// netrcDoc is a netrc file parsed for editing.
type netrcDoc struct {
	path    string
	data    []byte
	lines   []nline
	entries []nentry
	// openMacro: the file ends inside a macro's body.
	openMacro bool
}

// parseNetrc reads a netrc file for editing, with curl's lexing and its
// rule for macro bodies. Syntax curl fails on, outside a macro's body, is
// an error naming the line.
func parseNetrc(data []byte, path string) (*netrcDoc, error) {
	if err := checkNetrcData(data, path); err != nil {
		return nil, err
	}
	d := &netrcDoc{path: path, data: data, lines: netrcLines(data)}
	var cur *nentry
	var pending *npair // a keyword waiting for its value
	macro := false     // curl's MACDEF state
	closeEntry := func() {
		if cur != nil {
			if pending != nil {
				cur.pairs = append(cur.pairs, *pending)
			}
			d.entries = append(d.entries, *cur)
		}
		cur, pending = nil, nil
	}
	for _, ln := range d.lines {
		if ln.dropped {
			continue
		}
		if macro {
			if ln.first != '\n' && ln.first != '\r' {
				continue // the macro's body
			}
			macro = false
		}
		if ln.bad {
			return nil, quoteError(path, ln.num)
		}
		for _, t := range ln.toks {
			switch {
			case macro:
				// The rest of the macdef line: an empty token (a CR)
				// ends the macro at once, as curl reads it.
				cur.toks = append(cur.toks, t)
				macro = t.val != ""
			case pending != nil:
				// Whatever comes next is the value, empty or a keyword:
				// curl takes it so for the host it looks up.
				pending.val, pending.hasVal = t, true
				cur.toks = append(cur.toks, t)
				cur.pairs = append(cur.pairs, *pending)
				pending = nil
			case cur != nil && (cur.kind == "machine" || cur.kind == "macdef") && !cur.hasName:
				cur.name, cur.hasName = t, true
				cur.toks = append(cur.toks, t)
				macro = cur.kind == "macdef" && t.val != ""
			default:
				kw := ""
				for _, k := range netrcKeywords {
					if asciiEqualFold(t.val, k) {
						kw = k
					}
				}
				switch kw {
				case "machine", "default", "macdef":
					closeEntry()
					cur = &nentry{kind: kw, toks: []ntok{t}}
				case "login", "password", "account":
					if cur != nil {
						cur.toks = append(cur.toks, t)
						pending = &npair{key: kw, kw: t}
					}
				default:
					if cur != nil && t.val != "" {
						cur.toks = append(cur.toks, t)
					}
				}
			}
		}
	}
	d.openMacro = macro
	closeEntry()
	return d, nil
}

// machines lists the entries for host, and the index of the first
// "default" entry (-1: none).
func (d *netrcDoc) machines(host string) (idx []int, firstDefault int) {
	firstDefault = -1
	for i, e := range d.entries {
		switch {
		case e.kind == "default" && firstDefault < 0:
			firstDefault = i
		case e.kind == "machine" && e.hasName && asciiEqualFold(e.name.val, host):
			idx = append(idx, i)
		}
	}
	return idx, firstDefault
}

// insertBefore is the entry a new one goes before (-1: the end). The
// first "default" entry would answer for the host before it; and curl
// uses an entry with a password but no login only when no other
// "machine" entry follows it, so a last entry of that kind stays last.
func (d *netrcDoc) insertBefore() int {
	last := -1
	for i, e := range d.entries {
		switch e.kind {
		case "default":
			return i
		case "machine":
			last = i
		}
	}
	if last >= 0 && !slices.ContainsFunc(d.entries[last].pairs, func(p npair) bool { return p.key == "login" }) {
		return last
	}
	return -1
}

// Entries lists the machine entries, in file order.
func (d *netrcDoc) Entries() []NetrcEntry {
	var out []NetrcEntry
	for _, e := range d.entries {
		if e.kind != "machine" || !e.hasName {
			continue
		}
		ne := NetrcEntry{Host: e.name.val, File: d.path, Line: e.toks[0].line}
		for _, p := range e.pairs {
			switch {
			case !p.hasVal:
			case p.key == "login" && ne.Login == "":
				ne.Login = p.val.val
			case p.key == "password" && ne.Password == "":
				ne.Password = p.val.val
			}
		}
		out = append(out, ne)
	}
	return out
}

// hosts lists the distinct machine names (lower case).
func (d *netrcDoc) hosts() []string {
	var out []string
	for _, e := range d.entries {
		if e.kind == "machine" && e.hasName {
			out = appendHost(out, e.name.val)
		}
	}
	return out
}

// lookedUp lists every name curl could take for a machine's: each token
// after a "machine" token, wherever it stands (a value that reads as a
// keyword makes one), for the check that an edit leaves other hosts'
// credentials alone.
func (d *netrcDoc) lookedUp() []string {
	var out []string
	prev := ""
	for _, ln := range d.lines {
		for _, t := range ln.toks {
			if asciiEqualFold(prev, "machine") {
				out = appendHost(out, t.val)
			}
			prev = t.val
		}
	}
	return out
}

func appendHost(hosts []string, h string) []string {
	h = strings.ToLower(h)
	if slices.Contains(hosts, h) {
		return hosts
	}
	return append(hosts, h)
}

// lineBounds returns the start of pos's line and the end of it (the
// index of its '\n', or len(data)).
func (d *netrcDoc) lineBounds(pos int) (start, end int) {
	start = bytes.LastIndexByte(d.data[:pos], '\n') + 1
	end = bytes.IndexByte(d.data[pos:], '\n')
	if end < 0 {
		return start, len(d.data)
	}
	return start, pos + end
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// cut deletes the bytes [start, end): the whole lines when nothing else
// is on them, else the span with the blanks before it, so that the rest
// of the file keeps its layout.
func (d *netrcDoc) cut(start, end int) textEdit {
	ls, _ := d.lineBounds(start)
	_, le := d.lineBounds(end)
	before := bytes.TrimLeft(d.data[ls:start], " \t")
	after := bytes.TrimRight(d.data[end:le], " \t\r")
	if len(before) == 0 && len(after) == 0 {
		if le < len(d.data) {
			le++
		}
		return textEdit{ls, le, ""}
	}
	s := start
	for s > ls && isBlank(d.data[s-1]) {
		s--
	}
	return textEdit{s, end, ""}
}

// NetrcLine is an entry as nix-auth writes it, on one line.
func NetrcLine(host string, cred NetrcCredential) string {
	line := "machine " + host
	if cred.Login != "" {
		line += " login " + cred.Login
	}
	return line + " password " + cred.Password
}

// set makes the file give host exactly cred: the first entry for host
// keeps its place, layout and comments, with its login and password
// replaced (or added, or a login removed when cred has none); other
// entries for host go, since curl would never use them and they may hold
// an old token. A new entry goes where insertBefore says, or at the end.
func (d *netrcDoc) set(host string, cred NetrcCredential) (out []byte, replaced bool) {
	idx, def := d.machines(host)
	var edits []textEdit
	keep := -1
	if len(idx) > 0 && (def < 0 || idx[0] < def) {
		keep = idx[0]
	}
	for _, i := range idx {
		if i != keep {
			e := d.entries[i]
			edits = append(edits, d.cut(e.toks[0].start, e.toks[len(e.toks)-1].end))
		}
	}
	if keep >= 0 {
		edits = append(edits, d.editEntry(d.entries[keep], cred)...)
		return applyEdits(d.data, edits), true
	}
	line := NetrcLine(host, cred) + "\n"
	if before := d.insertBefore(); before >= 0 {
		at := d.entries[before].toks[0].start
		if ls, _ := d.lineBounds(at); len(bytes.TrimLeft(d.data[ls:at], " \t")) == 0 {
			at = ls
		}
		edits = append(edits, textEdit{at, at, line})
		return applyEdits(d.data, edits), len(idx) > 0
	}
	data := applyEdits(d.data, edits)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	if d.openMacro {
		// The file ends inside a macro's body: an empty line ends it.
		data = append(data, '\n')
	}
	return append(data, line...), len(idx) > 0
}

// editEntry gives entry e exactly cred's login and password.
func (d *netrcDoc) editEntry(e nentry, cred NetrcCredential) []textEdit {
	var edits []textEdit
	var insert string
	hasLogin, hasPassword := false, false
	for _, p := range e.pairs {
		switch {
		case p.key == "login" && cred.Login != "" && !hasLogin && p.hasVal:
			hasLogin = true
			edits = append(edits, textEdit{p.val.start, p.val.end, cred.Login})
		case p.key == "password" && !hasPassword && p.hasVal:
			hasPassword = true
			edits = append(edits, textEdit{p.val.start, p.val.end, cred.Password})
		case p.key == "login" || p.key == "password":
			end := p.kw.end
			if p.hasVal {
				end = p.val.end
			}
			edits = append(edits, d.cut(p.kw.start, end))
		}
	}
	if cred.Login != "" && !hasLogin {
		insert += " login " + cred.Login
	}
	if !hasPassword {
		insert += " password " + cred.Password
	}
	if insert != "" {
		at := e.name.end
		edits = append(edits, textEdit{at, at, insert})
	}
	return edits
}

// remove deletes every entry for host; found says whether there was
// one.
func (d *netrcDoc) remove(host string) (out []byte, found bool) {
	idx, _ := d.machines(host)
	var edits []textEdit
	for _, i := range idx {
		e := d.entries[i]
		edits = append(edits, d.cut(e.toks[0].start, e.toks[len(e.toks)-1].end))
	}
	return applyEdits(d.data, edits), len(idx) > 0
}

// netrcKeywords are the words curl (or the netrc format) gives a meaning:
// as a value, one would be read as a keyword when curl looks up another
// host.
var netrcKeywords = []string{"machine", "default", "login", "password", "account", "macdef"}

// ValidateNetrcHost accepts a machine name curl matches a URL's host
// against: a host name or IPv4 address, without port or path (curl
// ignores both).
func ValidateNetrcHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if err := checkChars(host, true); err != nil {
		return fmt.Errorf("invalid host %q: %w", host, err)
	}
	if strings.ContainsAny(host, ":/[]") {
		return fmt.Errorf("invalid host %q for netrc: a netrc entry names a host alone, without port or path", host)
	}
	if err := checkHostName(host); err != nil {
		return fmt.Errorf("invalid host %q: %w", host, err)
	}
	return nil
}

// NetrcMachine is the machine name curl matches for an access-tokens host
// key (host[:port][/path]): the host alone, lower case. It is "" for an
// IPv6 address, which nix-auth does not write to netrc.
func NetrcMachine(host string) string {
	h, _, _ := strings.Cut(host, "/")
	if strings.HasPrefix(h, "[") {
		return ""
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.ToLower(h)
}

// ValidateNetrcValue accepts a login or password that every netrc reader
// reads back exactly as written: printable ASCII without whitespace,
// quotes, backslash or '#', not a netrc keyword, and short enough for
// curl's line. what names the value in the error, which never quotes it.
func ValidateNetrcValue(what, v string) error {
	limit := maxNetrcPassword
	if what == "login" {
		limit = maxNetrcLogin
	}
	switch {
	case v == "":
		return fmt.Errorf("the %s is empty", what)
	case len(v) > limit:
		return fmt.Errorf("the %s is %d bytes long; netrc takes at most %d", what, len(v), limit)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ' ' || c == '\t':
			return fmt.Errorf("the %s contains whitespace at byte %d: netrc splits on whitespace", what, i+1)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("the %s contains a control character (0x%02x) at byte %d", what, c, i+1)
		case c > 0x7e:
			return fmt.Errorf("the %s contains a non-ASCII character at byte %d", what, i+1)
		case c == '"' || c == '\'' || c == '\\':
			return fmt.Errorf("the %s contains a quote or backslash at byte %d: netrc readers disagree on quoting", what, i+1)
		case c == '#':
			return fmt.Errorf("the %s contains '#' at byte %d: curl reads a token starting with '#' as a comment", what, i+1)
		}
	}
	for _, k := range netrcKeywords {
		if asciiEqualFold(v, k) {
			return fmt.Errorf("the %s is one of the netrc keywords (%s)", what, strings.Join(netrcKeywords, ", "))
		}
	}
	return nil
}
