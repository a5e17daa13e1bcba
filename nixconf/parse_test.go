package nixconf

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTree writes files (name -> content, names relative to dir) and
// returns dir.
func writeTree(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tokensOf(c *Config) map[string]string { return tokenMap(c.AccessTokens()) }

// Each case is one of Nix's config rules (src/libutil/config.cc,
// applyConfig, and the StringMap setting), checked on nix.conf plus the
// files it includes. The same cases run against the real nix in
// TestParserAgreesWithNix.
var ruleCases = []struct {
	name  string
	files map[string]string
	want  map[string]string
	err   string // substring of our error; "" means no error
}{
	{name: "comment line and blank lines",
		files: map[string]string{"nix.conf": "# access-tokens = a.com=x\n\n   \naccess-tokens = b.com=1\n"},
		want:  map[string]string{"b.com": "1"}},
	{name: "hash starts a comment inside a token",
		files: map[string]string{"nix.conf": "access-tokens = a.com=12#34 b.com=5\n"},
		want:  map[string]string{"a.com": "12"}},
	{name: "tabs and CR are whitespace",
		files: map[string]string{"nix.conf": "access-tokens\t=\ta.com=1\t b.com=2\r\n"},
		want:  map[string]string{"a.com": "1", "b.com": "2"}},
	{name: "no final newline",
		files: map[string]string{"nix.conf": "access-tokens = a.com=1"},
		want:  map[string]string{"a.com": "1"}},
	{name: "equals must be its own token",
		files: map[string]string{"nix.conf": "access-tokens=a.com=1\n"},
		err:   "nix.conf:1: not a `name = value` line"},
	{name: "name without value",
		files: map[string]string{"nix.conf": "keep-outputs = true\nsubstitute\n"},
		err:   "nix.conf:2: not a `name = value` line"},
	{name: "empty value clears",
		files: map[string]string{"nix.conf": "access-tokens = a.com=1\naccess-tokens =\n"},
		want:  map[string]string{}},
	{name: "first value for a host wins within one line",
		files: map[string]string{"nix.conf": "access-tokens = a.com=1 a.com=2 b.com=3\n"},
		want:  map[string]string{"a.com": "1", "b.com": "3"}},
	{name: "a later access-tokens replaces everything",
		files: map[string]string{"nix.conf": "access-tokens = a.com=1 b.com=2\naccess-tokens = c.com=3\n"},
		want:  map[string]string{"c.com": "3"}},
	{name: "extra-access-tokens merges and keeps existing hosts",
		files: map[string]string{"nix.conf": "access-tokens = a.com=1\nextra-access-tokens = a.com=9 c.com=4 c.com=5\n"},
		want:  map[string]string{"a.com": "1", "c.com": "4"}},
	{name: "extra-access-tokens alone",
		files: map[string]string{"nix.conf": "extra-access-tokens = a.com=1\n"},
		want:  map[string]string{"a.com": "1"}},
	{name: "host keys carry a path",
		files: map[string]string{"nix.conf": "access-tokens = github.com/org=1 github.com=2\n"},
		want:  map[string]string{"github.com/org": "1", "github.com": "2"}},
	{name: "items without = are ignored and the token splits at the first =",
		files: map[string]string{"nix.conf": "access-tokens = junk a.com=x=y =z\n"},
		want:  map[string]string{"a.com": "x=y", "": "z"}},
	{name: "include relative to the including file",
		files: map[string]string{
			"nix.conf":       "include sub/a.conf\n",
			"sub/a.conf":     "include b.conf\n",
			"sub/b.conf":     "access-tokens = b.com=1\n",
			"b.conf":         "access-tokens = wrong=1\n",
			"sub/unrelated":  "",
			"other/nix.conf": ""},
		want: map[string]string{"b.com": "1"}},
	{name: "include applies at its line",
		files: map[string]string{
			"nix.conf": "access-tokens = a.com=1\ninclude t.conf\n",
			"t.conf":   "access-tokens = a.com=2 b.com=2\n"},
		want: map[string]string{"a.com": "2", "b.com": "2"}},
	{name: "settings after an include override it",
		files: map[string]string{
			"nix.conf": "!include t.conf\naccess-tokens = a.com=1\n",
			"t.conf":   "access-tokens = a.com=2 b.com=2\n"},
		want: map[string]string{"a.com": "1"}},
	{name: "missing include is an error",
		files: map[string]string{"nix.conf": "access-tokens = a.com=1\ninclude missing.conf\n"},
		err:   "nix.conf:2: included file"},
	{name: "missing !include is skipped",
		files: map[string]string{"nix.conf": "!include missing.conf\naccess-tokens = a.com=1\n"},
		want:  map[string]string{"a.com": "1"}},
	{name: "unreadable include is skipped, even with include",
		files: map[string]string{"nix.conf": "include adir\naccess-tokens = a.com=1\n", "adir/x": ""},
		want:  map[string]string{"a.com": "1"}},
	{name: "include takes exactly one path",
		files: map[string]string{"nix.conf": "include a.conf b.conf\n"},
		err:   "nix.conf:1: include takes exactly one path"},
	{name: "the same file included twice is not a cycle",
		files: map[string]string{
			"nix.conf": "include t.conf\nextra-access-tokens = b.com=2\ninclude t.conf\n",
			"t.conf":   "extra-access-tokens = a.com=1\n"},
		want: map[string]string{"a.com": "1", "b.com": "2"}},
}

func TestRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, t.TempDir(), tc.files)
			cfg, err := Load(filepath.Join(dir, "nix.conf"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tokensOf(cfg); !maps.Equal(got, tc.want) {
				t.Errorf("tokens = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIncludeCycle(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"nix.conf": "# top\ninclude a.conf\n",
		"a.conf":   "include sub/b.conf\n",
		"sub/b.conf": "\n\n" +
			"include ../a.conf\n",
	})
	_, err := Load(filepath.Join(dir, "nix.conf"))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want a *ParseError", err)
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "sub/b.conf") + ":3: include cycle",
		filepath.Join(dir, "a.conf") + ":1 includes " + filepath.Join(dir, "sub/b.conf"),
		filepath.Join(dir, "sub/b.conf") + ":3 includes " + filepath.Join(dir, "a.conf"),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if len(pe.Hints()) == 0 {
		t.Error("no hint")
	}
}

func TestSelfIncludeAndSymlinkCycle(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"nix.conf": "!include ./nix.conf\n",
		"a.conf":   "include link.conf\n",
	})
	if err := os.Symlink("a.conf", filepath.Join(dir, "link.conf")); err != nil {
		t.Fatal(err)
	}
	for _, top := range []string{"nix.conf", "a.conf"} {
		if _, err := Load(filepath.Join(dir, top)); err == nil || !strings.Contains(err.Error(), "include cycle") {
			t.Errorf("%s: error = %v, want an include cycle", top, err)
		}
	}
}

func TestDanglingSymlinkIncludeIsSkipped(t *testing.T) {
	// Nix tests existence with lstat: a dangling link exists, cannot be
	// read, and is skipped even by a plain include.
	dir := writeTree(t, t.TempDir(), map[string]string{"nix.conf": "include gone.conf\naccess-tokens = a.com=1\n"})
	if err := os.Symlink("nowhere", filepath.Join(dir, "gone.conf")); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(filepath.Join(dir, "nix.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Skipped, []string{filepath.Join(dir, "gone.conf")}) {
		t.Errorf("Skipped = %v", cfg.Skipped)
	}
}

func TestMissingTopFileIsEmpty(t *testing.T) {
	cfg, err := Load(filepath.Join(t.TempDir(), "nix.conf"))
	if err != nil || len(cfg.AccessTokens()) != 0 || len(cfg.Files) != 0 {
		t.Fatalf("cfg = %+v, err = %v", cfg, err)
	}
}

func TestLoadListsItsFiles(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"nix.conf":  "substituters = a\n!include more.conf\n",
		"more.conf": "keep-outputs = true\n",
	})
	cfg, err := Load(filepath.Join(dir, "nix.conf"))
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(dir, "nix.conf"), filepath.Join(dir, "more.conf")}
	if !slices.Equal(cfg.Files, wantFiles) {
		t.Errorf("Files = %v, want %v", cfg.Files, wantFiles)
	}
}

func TestEntriesNameTheirFileAndLine(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"nix.conf": "access-tokens = a.com=1\n!include access-tokens.conf\n",
		"access-tokens.conf": "# header\n" +
			"extra-access-tokens = a.com=2 b.com=3\n",
	})
	cfg, err := Load(filepath.Join(dir, "nix.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Host: "a.com", Token: "1", File: filepath.Join(dir, "nix.conf"), Line: 1},
		{Host: "b.com", Token: "3", File: filepath.Join(dir, "access-tokens.conf"), Line: 2},
	}
	if got := cfg.AccessTokens(); !slices.Equal(got, want) {
		t.Errorf("AccessTokens = %+v, want %+v", got, want)
	}
}

func TestParseErrorNeverQuotesTheLine(t *testing.T) {
	secret := "ghp_SECRETSECRETSECRET1234"
	dir := writeTree(t, t.TempDir(), map[string]string{"nix.conf": "access-tokens=github.com=" + secret + "\n"})
	_, err := Load(filepath.Join(dir, "nix.conf"))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(strings.Join(err.(*ParseError).Hints(), " "), "SECRET") {
		t.Fatal("the error shows the token")
	}
}
