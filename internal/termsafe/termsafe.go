// Package termsafe makes text nix-auth did not write itself safe to print
// on a terminal: what a forge sends (login names, scopes, error messages,
// device codes), what a file nobody authenticated says (a store's
// metadata), what another user or the environment put there.
//
// A terminal obeys what it is sent: ESC starts a sequence that can clear the
// screen, move the cursor, retitle the window or (on some terminals) write
// to the clipboard; CR returns to the start of the line and lets text
// overwrite what was there; LF starts a line that looks like nix-auth's own
// ("nix-auth: hint: ..."); bidi overrides reorder what is shown; invalid
// UTF-8 can combine with what follows. Escape replaces every such character
// with a visible escape (\x1b, \r, \n, \u202e, \xff for a byte that is not
// UTF-8) and keeps everything else, and Field, Line and List also cut text
// to a length a terminal line can hold, saying how much was left out.
//
// Two layers use it. Each untrusted value is escaped and cut where it is
// printed (Field, Line, List, Fprintf), so that it stays inside its own
// field and line: LF must survive in nix-auth's own output, so a stream
// filter cannot tell a forged line break from a real one. Writer is the
// second layer: a filter on the whole output stream that lets LF and TAB
// through and neutralises every other control, so a value someone forgot to
// escape can still forge a line but can no longer drive the terminal.
package termsafe

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Lengths, in runes of the escaped text, beyond which text is cut. They are
// far above anything a forge sends for real (a login name is at most 255
// characters, a scope a few dozen) and far below what fills a terminal.
const (
	// MaxField bounds one value: a user name, a host, one scope.
	MaxField = 256
	// MaxLine bounds one message: an error line with a forge's text in it.
	MaxLine = 2048
	// MaxItems bounds how many items of a list are shown.
	MaxItems = 32
)

// Escape returns s with every character a terminal would act on instead of
// showing replaced by a visible escape. Nothing is cut.
func Escape(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		appendEscaped(&b, r, size, s[i])
		i += size
	}
	return b.String()
}

// Field is Escape, cut to MaxField runes.
func Field(s string) string { return Cut(s, MaxField) }

// Line is Escape, cut to MaxLine runes: for a whole message.
func Line(s string) string { return Cut(s, MaxLine) }

// Cut escapes s and cuts the result to at most max runes (max > 0), ending
// it with "… (N more characters)" when anything was left out; N counts the
// characters of s that are not shown.
func Cut(s string, max int) string {
	if len(s) <= max && isSafe(s) {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece strings.Builder
		appendEscaped(&piece, r, size, s[i])
		w := utf8.RuneCountInString(piece.String())
		if n+w > max {
			return b.String() + fmt.Sprintf("… (%d more characters)", utf8.RuneCountInString(s[i:]))
		}
		b.WriteString(piece.String())
		n += w
		i += size
	}
	return b.String()
}

// List joins items with sep, each one a Field, showing at most MaxItems of
// them and at most about MaxLine runes in all; "… (N more)" says how many
// were left out.
func List(items []string, sep string) string {
	shown := Items(items)
	return strings.Join(shown, sep)
}

// Items is List for output that keeps a list a list (JSON): each item a
// Field, at most MaxItems of them and about MaxLine runes in all, and, when
// some were left out, a last item "… (N more)".
func Items(items []string) []string {
	out := make([]string, 0, min(len(items), MaxItems+1))
	total := 0
	for i, it := range items {
		f := Field(it)
		total += utf8.RuneCountInString(f)
		if i == MaxItems || (i > 0 && total > MaxLine) {
			return append(out, fmt.Sprintf("… (%d more)", len(items)-i))
		}
		out = append(out, f)
	}
	return out
}

// Fprintf is fmt.Fprintf with every argument that carries text made safe
// first: strings, errors, fmt.Stringers and []string become Line (and
// List), so a value cannot break out of its place in the format. The
// format itself is nix-auth's own and is printed as it is. Numbers and
// other values are printed by fmt as usual.
func Fprintf(w io.Writer, format string, args ...any) (int, error) {
	return fmt.Fprintf(w, format, safeArgs(args)...)
}

// Fprintln is fmt.Fprintln with the arguments made safe as in Fprintf.
func Fprintln(w io.Writer, args ...any) (int, error) {
	return fmt.Fprintln(w, safeArgs(args)...)
}

func safeArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = Line(v)
		case []string:
			out[i] = List(v, ", ")
		case error:
			out[i] = Line(v.Error())
		case fmt.Stringer:
			out[i] = Line(v.String())
		default:
			out[i] = a
		}
	}
	return out
}

// isSafe reports whether s needs no escape at all; the common case, made
// fast because every line printed goes through it.
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			// Decide rune by rune from here.
			for _, r := range s[i:] {
				if r == utf8.RuneError || MustEscape(r) {
					// RuneError may be a real U+FFFD; Escape keeps that.
					return false
				}
			}
			return true
		}
	}
	return true
}

// MustEscape reports whether a terminal would act on r rather than show
// it: C0 and C1 controls and DEL, and the invisible format characters that
// reorder or hide text (bidi embeddings, overrides and isolates, zero-width
// characters, soft hyphen, tags) and the Unicode line and paragraph
// separators, which some terminals treat as line breaks. Tests use it to
// check output; Escape escapes exactly these.
func MustEscape(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// appendEscaped writes one decoded rune (r of size bytes, first byte c) to
// b, escaped when it must be.
func appendEscaped(b *strings.Builder, r rune, size int, c byte) {
	switch {
	case r == utf8.RuneError && size <= 1:
		// Not UTF-8 (or an empty string, which never reaches here).
		fmt.Fprintf(b, `\x%02x`, c)
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\t':
		b.WriteString(`\t`)
	case r < 0x20 || r == 0x7f:
		fmt.Fprintf(b, `\x%02x`, r)
	case MustEscape(r):
		// \uXXXX is also JSON's escape for the same character, so a JSON
		// document stays valid and means the same after the Writer.
		q := strconv.QuoteRuneToASCII(r) // '\u202e' or '\U000e0001'
		b.WriteString(q[1 : len(q)-1])
	default:
		b.WriteRune(r)
	}
}

// Writer filters a whole output stream: LF and TAB pass, as does every
// printable character; every other control, format character and byte
// that is not UTF-8 is escaped as Escape does. It keeps nix-auth's line
// structure (it cannot tell a forged LF from a real one, which is why
// values are escaped where they are printed) and makes sure nothing else
// reaches the terminal as a command. A character split across two Writes
// is held back until the next one; Flush writes what is held.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	pending []byte // the start of a UTF-8 sequence the last Write ended in
}

// NewWriter returns a Writer that filters into w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write filters p into the underlying writer. It reports len(p) written
// when the underlying write succeeds, whatever the escapes added.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data := p
	if len(w.pending) > 0 {
		data = append(w.pending, p...)
		w.pending = nil
	}
	// Hold back an incomplete sequence at the end: the next Write may
	// complete it.
	if tail := incompleteTail(data); tail > 0 {
		w.pending = append([]byte(nil), data[len(data)-tail:]...)
		data = data[:len(data)-tail]
	}
	if _, err := io.WriteString(w.w, filter(data)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held-back incomplete character, escaped: nothing will
// complete it now.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	s := Escape(string(w.pending))
	w.pending = nil
	_, err := io.WriteString(w.w, s)
	return err
}

// WriteControl writes s, nix-auth's own control text (the CR that redraws
// a progress line), to w unfiltered: through a Writer's underlying stream
// when w is one, else to w.
func WriteControl(w io.Writer, s string) error {
	if tw, ok := w.(*Writer); ok {
		if err := tw.Flush(); err != nil {
			return err
		}
		tw.mu.Lock()
		defer tw.mu.Unlock()
		w = tw.w
	}
	_, err := io.WriteString(w, s)
	return err
}

// filter escapes data as Escape does, except LF and TAB.
func filter(data []byte) string {
	s := string(data)
	if !strings.ContainsAny(s, "\n\t") {
		return Escape(s)
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexAny(s, "\n\t")
		if i < 0 {
			b.WriteString(Escape(s))
			break
		}
		b.WriteString(Escape(s[:i]))
		b.WriteByte(s[i])
		s = s[i+1:]
	}
	return b.String()
}

// incompleteTail is how many bytes at the end of p start a UTF-8 sequence
// that p does not complete (0 when p ends on a whole character or on bytes
// that can never become one).
func incompleteTail(p []byte) int {
	for n := 1; n <= utf8.UTFMax-1 && n <= len(p); n++ {
		c := p[len(p)-n]
		if c < utf8.RuneSelf {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
