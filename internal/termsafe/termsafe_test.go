package termsafe

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"octocat", "octocat"},
		{"", ""},
		{"Jürgen 李", "Jürgen 李"},
		{"\x1b[2Jx", `\x1b[2Jx`},
		{"a\rb\nc\td", `a\rb\nc\td`},
		{"\x00\x07\x7f", `\x00\x07\x7f`},
		{"\u009b31m", `\u009b31m`},           // C1 CSI
		{"abc\u202edef", `abc\u202edef`},     // right-to-left override
		{"a\u2066b\u2069", `a\u2066b\u2069`}, // isolates
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"line\u2028sep", `line\u2028sep`},
		{"tag\U000e0041", `tag\U000e0041`},
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},
		{"cut\xe2\x82", `cut\xe2\x82`},
		{"real \ufffd stays", "real \ufffd stays"},
	} {
		if got := Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// safe reports whether s could go to a terminal as it is.
func safe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if MustEscape(r) {
			return false
		}
	}
	return true
}

func TestCut(t *testing.T) {
	if got := Cut("short", 10); got != "short" {
		t.Errorf("short: %q", got)
	}
	long := strings.Repeat("a", 1000)
	got := Cut(long, 10)
	if got != "aaaaaaaaaa… (990 more characters)" {
		t.Errorf("long: %q", got)
	}
	// An escape is never split: \x1b is four runes, kept whole or dropped.
	got = Cut("abcdefgh\x1bxyz", 10)
	if got != "abcdefgh… (4 more characters)" {
		t.Errorf("escape at the cut: %q", got)
	}
	if !safe(Field(strings.Repeat("\x1b\n\xff", 100000))) || len(Field(strings.Repeat("x", 1<<20))) > 4*MaxField {
		t.Error("Field of a hostile megabyte is unsafe or unbounded")
	}
}

func TestList(t *testing.T) {
	if got := List([]string{"repo", "gist"}, ", "); got != "repo, gist" {
		t.Errorf("got %q", got)
	}
	many := make([]string, 100000)
	for i := range many {
		many[i] = "scope"
	}
	got := List(many, ",")
	if !strings.HasSuffix(got, "… (99968 more)") || len(got) > 2*MaxLine {
		t.Errorf("100k scopes: %d bytes, ends %q", len(got), got[len(got)-20:])
	}
	// Long items: the total bounds the list before the count does.
	long := []string{strings.Repeat("x", 5000), strings.Repeat("y", 5000), strings.Repeat("z", 5000),
		strings.Repeat("w", 5000), strings.Repeat("v", 5000), strings.Repeat("u", 5000), strings.Repeat("t", 5000),
		strings.Repeat("s", 5000), strings.Repeat("r", 5000)}
	if got := Items(long); len(got) != 8 || got[7] != "… (2 more)" {
		t.Errorf("long items: %d items, last %q", len(got), got[len(got)-1])
	}
	if got := Items(nil); got == nil || len(got) != 0 {
		t.Errorf("Items(nil) = %#v, want an empty list", got)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestFprintf(t *testing.T) {
	var b bytes.Buffer
	Fprintf(&b, "user %s, err %v, s %s, n %d, list %s\n", "evil\n\x1b[2J", errors.New("x\ry"), stringer("\u202e"), 7, []string{"a\nb", "c"})
	want := `user evil\n\x1b[2J, err x\ry, s \u202e, n 7, list a\nb, c` + "\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	Fprintln(&b, "a\nb", 1)
	if b.String() != `a\nb 1`+"\n" {
		t.Errorf("Fprintln: %q", b.String())
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	in := "line one\n\tcol\x1b[2J\rnix-auth: hint: x\u202e\xff\n"
	if n, err := w.Write([]byte(in)); err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	want := "line one\n\tcol\\x1b[2J\\rnix-auth: hint: x\\u202e\\xff\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}

	// A character split across writes passes whole.
	b.Reset()
	euro := []byte("€")
	w.Write([]byte{'a', euro[0]})
	w.Write(euro[1:2])
	w.Write(append(euro[2:], 'b'))
	if err := w.Flush(); err != nil || b.String() != "a€b" {
		t.Errorf("split rune: %q %v", b.String(), err)
	}
	// One that nothing completes is escaped at Flush.
	b.Reset()
	w.Write([]byte{'c', euro[0], euro[1]})
	w.Flush()
	if b.String() != `c\xe2\x82` {
		t.Errorf("dangling start: %q", b.String())
	}

	// JSON stays valid, and means the same, through the filter.
	b.Reset()
	doc, _ := json.Marshal(map[string]string{"user": "a\u202eb\u0085c\x1b"})
	w.Write(doc)
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["user"] != "a\u202eb\u0085c\x1b" {
		t.Errorf("JSON through the filter: %s (%v)", b.String(), err)
	}

	// WriteControl bypasses the filter for nix-auth's own CR.
	b.Reset()
	WriteControl(w, "\r")
	WriteControl(&b, "\r")
	if b.String() != "\r\r" {
		t.Errorf("WriteControl: %q", b.String())
	}
}

// FuzzEscape: whatever goes in, what comes out is printable UTF-8 with no
// control or format character, bounded when cut, and unchanged when it was
// already safe.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"octocat", "\x1b[2J", "a\r\nb", "\u202e", "\xff\xfe", "€", "\U000e0041", strings.Repeat("ab", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if !safe(e) {
			t.Fatalf("Escape(%q) = %q is not safe", s, e)
		}
		if safe(s) && e != s {
			t.Fatalf("Escape changed safe %q to %q", s, e)
		}
		c := Cut(s, 20)
		if !safe(c) || utf8.RuneCountInString(c) > 20+len("… (99999999 more characters)") {
			t.Fatalf("Cut(%q) = %q", s, c)
		}
		var b bytes.Buffer
		w := NewWriter(&b)
		// Write in two parts, split anywhere, to exercise the carry.
		half := len(s) / 2
		w.Write([]byte(s[:half]))
		w.Write([]byte(s[half:]))
		w.Flush()
		for _, r := range b.String() {
			if r != '\n' && r != '\t' && MustEscape(r) {
				t.Fatalf("Writer passed %U from %q", r, s)
			}
		}
		if !utf8.Valid(b.Bytes()) {
			t.Fatalf("Writer output of %q is not UTF-8", s)
		}
	})
}
