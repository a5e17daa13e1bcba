package nixconf

import (
	"testing"
)

func TestSetTokenKeepsFormatting(t *testing.T) {
	cases := []struct {
		name, in, host, token, want string
	}{
		{"replace in place keeps spacing and comment",
			"# my tokens\naccess-tokens  =   a.com=1\t\tb.com=2   # work\nfoo = bar\n", "a.com", "NEW",
			"# my tokens\naccess-tokens  =   a.com=NEW\t\tb.com=2   # work\nfoo = bar\n"},
		{"new host goes after the last item, before the comment",
			"access-tokens = a.com=1 # c\n", "b.com", "2",
			"access-tokens = a.com=1 b.com=2 # c\n"},
		{"new host on an empty line",
			"access-tokens =\n", "b.com", "2",
			"access-tokens = b.com=2\n"},
		{"new line when there is none, newline added",
			"# only a comment", "b.com", "2",
			"# only a comment\nextra-access-tokens = b.com=2\n"},
		{"empty file",
			"", "b.com", "2",
			"extra-access-tokens = b.com=2\n"},
		{"shadowed duplicates are dropped, the used one replaced",
			"access-tokens = a.com=1 b.com=x a.com=2\n", "a.com", "3",
			"access-tokens = a.com=3 b.com=x\n"},
		{"items in a replaced line are dead and dropped",
			"access-tokens = a.com=1\naccess-tokens = b.com=2\n", "a.com", "3",
			"access-tokens =\naccess-tokens = b.com=2 a.com=3\n"},
		{"the extra- line that wins is edited",
			"access-tokens = b.com=2\nextra-access-tokens = a.com=1\n", "a.com", "3",
			"access-tokens = b.com=2\nextra-access-tokens = a.com=3\n"},
		{"new host after a dead last item",
			"access-tokens = a.com=1\naccess-tokens = b.com=2 a.com=9\n", "c.com", "3",
			"access-tokens = a.com=1\naccess-tokens = b.com=2 a.com=9 c.com=3\n"},
		{"other hosts with a path are different keys",
			"access-tokens = github.com/org=1\n", "github.com", "2",
			"access-tokens = github.com/org=1 github.com=2\n"},
		{"CRLF lines keep their CR",
			"keep-outputs = true\r\naccess-tokens = a.com=1\r\n", "a.com", "2",
			"keep-outputs = true\r\naccess-tokens = a.com=2\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setToken([]byte(tc.in), "f", tc.host, tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestRemoveTokenKeepsFormatting(t *testing.T) {
	cases := []struct {
		name, in, host, want string
		found                bool
	}{
		{"middle item", "access-tokens = a=1  b=2\tc=3 # x\n", "b", "access-tokens = a=1\tc=3 # x\n", true},
		{"first item", "access-tokens = a=1 b=2\n", "a", "access-tokens = b=2\n", true},
		{"only item keeps the line", "x = 1\naccess-tokens = a=1 # mine\n", "a", "x = 1\naccess-tokens = # mine\n", true},
		{"every copy goes", "access-tokens = a=1 a=2\nextra-access-tokens = a=3\n", "a", "access-tokens =\nextra-access-tokens =\n", true},
		{"dead copy goes but was not used", "access-tokens = a=1\naccess-tokens = b=2\n", "a", "access-tokens =\naccess-tokens = b=2\n", false},
		{"absent", "access-tokens = b=2\n", "a", "access-tokens = b=2\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := removeToken([]byte(tc.in), "f", tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || found != tc.found {
				t.Errorf("got %q, %v; want %q, %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestRemoveTokenLines(t *testing.T) {
	in := "a = 1\naccess-tokens = x=1 # c\n  # keep\nextra-access-tokens = y=2\nb = 2\naccess-tokens = z=3"
	stmts, err := parseFile([]byte(in), "f")
	if err != nil {
		t.Fatal(err)
	}
	want := "a = 1\n  # keep\nb = 2\n"
	if got := string(removeTokenLines([]byte(in), stmts)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
