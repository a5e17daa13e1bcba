package nixconf

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

// Child modes: the test binary re-executed as a separate process, for
// tests that need real concurrent processes or a process-wide umask.
const childEnv = "NIXCONF_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "set":
		s := &Store{Paths: Paths{NixConf: os.Getenv("NIXCONF_CONF"), TokensFile: os.Getenv("NIXCONF_TOKENS")}}
		if _, err := s.Set(os.Getenv("NIXCONF_HOST"), os.Getenv("NIXCONF_TOKEN")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "umask":
		// Modes must not depend on the umask: write with one that would
		// strip everything, and one that would add group/other bits if
		// chmod were missing... (umask only removes bits, so 0 shows that
		// a requested 0600 is not widened by anything either).
		dir := os.Getenv("NIXCONF_DIR")
		for _, u := range []int{0o777, 0o077, 0} {
			syscall.Umask(u)
			for _, mode := range []fs.FileMode{0o600, 0o644} {
				p := filepath.Join(dir, fmt.Sprintf("f-%o-%o", u, mode))
				if err := safefile.Write(safefile.File{Path: p, Data: []byte("x"), Mode: mode}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
			}
			s := &Store{Paths: Paths{NixConf: filepath.Join(dir, fmt.Sprintf("u%o", u), "nix.conf"),
				TokensFile: filepath.Join(dir, fmt.Sprintf("u%o", u), TokensFileName)}}
			if _, err := s.Set("a.com", "tok"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		os.Exit(2)
	}
}

func newStore(t *testing.T, files map[string]string) *Store {
	t.Helper()
	dir := writeTree(t, t.TempDir(), files)
	return &Store{Paths: Paths{NixConf: filepath.Join(dir, "nix.conf"), TokensFile: filepath.Join(dir, TokensFileName)}}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func perm(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// snapshot is every file under dir with its bytes, mode and mtime.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		content := ""
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			content = string(b)
		} else if fi.Mode()&fs.ModeSymlink != 0 {
			content, _ = os.Readlink(p)
		}
		out[p] = fmt.Sprintf("%v %d %q", fi.Mode(), fi.ModTime().UnixNano(), content)
		return nil
	})
	return out
}

func TestSetFresh(t *testing.T) {
	s := newStore(t, nil)
	ch, err := s.Set("github.com", "ghp_abcdefghijklmnop1234")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.IncludeAdded || ch.Replaced || ch.Backup != "" || len(ch.Migrated) != 0 {
		t.Errorf("change = %+v", ch)
	}
	if got := read(t, s.Paths.NixConf); got != "!include access-tokens.conf\n" {
		t.Errorf("nix.conf = %q", got)
	}
	if got := read(t, s.Paths.TokensFile); got != tokensHeader+"extra-access-tokens = github.com=ghp_abcdefghijklmnop1234\n" {
		t.Errorf("tokens file = %q", got)
	}
	if p := perm(t, s.Paths.TokensFile); p != 0o600 {
		t.Errorf("tokens file mode %o", p)
	}
	if p := perm(t, s.Paths.NixConf); p != 0o644 {
		t.Errorf("nix.conf mode %o", p)
	}

	ch, err = s.Set("gitlab.com", "PAT:glpat-xyz")
	if err != nil || ch.IncludeAdded || ch.Replaced {
		t.Fatalf("second Set: %+v, %v", ch, err)
	}
	ch, err = s.Set("github.com", "ghp_new")
	if err != nil || !ch.Replaced {
		t.Fatalf("replace: %+v, %v", ch, err)
	}
	entries, err := s.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"github.com": "ghp_new", "gitlab.com": "PAT:glpat-xyz"}
	if got := tokenMap(entries); !maps.Equal(got, want) {
		t.Errorf("tokens = %v", got)
	}
	if got := read(t, s.Paths.TokensFile); got != tokensHeader+"extra-access-tokens = github.com=ghp_new gitlab.com=PAT:glpat-xyz\n" {
		t.Errorf("tokens file = %q", got)
	}
	assertNoStrays(t, filepath.Dir(s.Paths.NixConf), "nix.conf", TokensFileName)

	if _, err := s.Remove("github.com"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s.Paths.TokensFile); got != tokensHeader+"extra-access-tokens = gitlab.com=PAT:glpat-xyz\n" {
		t.Errorf("after Remove: %q", got)
	}
}

// assertNoStrays fails if dir holds anything but names: no temporary file,
// no lock file left behind.
func assertNoStrays(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !slices.Contains(names, e.Name()) {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

func TestSetKeepsNixConfByteIdentical(t *testing.T) {
	conf := "# my config\r\nkeep-outputs   = true  # yes\n\n\tsubstituters = https://a https://b\n!include  other.conf\nexperimental-features = nix-command flakes"
	s := newStore(t, map[string]string{"nix.conf": conf, "other.conf": "keep-derivations = true\n"})
	if _, err := s.Set("a.com", "tok"); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, s.Paths.NixConf), conf+"\n!include access-tokens.conf\n"; got != want {
		t.Errorf("nix.conf = %q, want %q", got, want)
	}
}

func TestMigration(t *testing.T) {
	conf := "# header\nkeep-outputs = true\naccess-tokens = github.com=ghp_OLD1 a.com=1 github.com=ghp_DEAD   # old\n" +
		"substituters = x\nextra-access-tokens = b.com=2 a.com=dead\n# trailer"
	s := newStore(t, map[string]string{"nix.conf": conf})
	if err := os.Chmod(s.Paths.NixConf, 0o640); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Set("c.com", "3")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Migrated, []string{"github.com", "a.com", "b.com"}) || !ch.IncludeAdded {
		t.Errorf("change = %+v", ch)
	}
	if ch.Backup != s.Paths.NixConf+".before-nix-auth" {
		t.Errorf("backup at %q", ch.Backup)
	}
	wantBackup := "# header\nkeep-outputs = true\n# access-tokens for github.com a.com github.com: moved to " + s.Paths.TokensFile + " by nix-auth\n" +
		"substituters = x\n# extra-access-tokens for b.com a.com: moved to " + s.Paths.TokensFile + " by nix-auth\n# trailer"
	if got := read(t, ch.Backup); got != wantBackup {
		t.Errorf("backup = %q, want %q (no token in a backup)", got, wantBackup)
	}
	if p := perm(t, ch.Backup); p != 0o600 {
		t.Errorf("backup mode %o, want 0600", p)
	}
	wantConf := "# header\nkeep-outputs = true\nsubstituters = x\n# trailer\n!include access-tokens.conf\n"
	if got := read(t, s.Paths.NixConf); got != wantConf {
		t.Errorf("nix.conf = %q, want %q", got, wantConf)
	}
	if p := perm(t, s.Paths.NixConf); p != 0o640 {
		t.Errorf("nix.conf mode changed to %o", p)
	}
	wantTokens := tokensHeader + "extra-access-tokens = github.com=ghp_OLD1 a.com=1 b.com=2 c.com=3\n"
	if got := read(t, s.Paths.TokensFile); got != wantTokens {
		t.Errorf("tokens = %q, want %q", got, wantTokens)
	}

	// A second migration never overwrites the first backup.
	second := "!include access-tokens.conf\nextra-access-tokens = d.com=4\n"
	if err := os.WriteFile(s.Paths.NixConf, []byte(second), 0o644); err != nil {
		t.Fatal(err)
	}
	ch, err = s.Remove("d.com")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Backup != s.Paths.NixConf+".before-nix-auth.1" || read(t, ch.Backup) != "!include access-tokens.conf\n# extra-access-tokens for d.com: moved to "+s.Paths.TokensFile+" by nix-auth\n" {
		t.Errorf("second backup %q", ch.Backup)
	}
	entries, _ := s.Tokens()
	if got := tokenMap(entries); !maps.Equal(got, map[string]string{"github.com": "ghp_OLD1", "a.com": "1", "b.com": "2", "c.com": "3"}) {
		t.Errorf("tokens after = %v", got)
	}
}

func TestMigrationWithIncludeAlreadyThere(t *testing.T) {
	// The nix.conf line comes after the include: it is what Nix uses now.
	s := newStore(t, map[string]string{
		"nix.conf":           "!include access-tokens.conf\naccess-tokens = a.com=1\n",
		"access-tokens.conf": "access-tokens = a.com=0\n",
	})
	ch, err := s.Set("b.com", "2")
	if err != nil {
		t.Fatal(err)
	}
	if ch.IncludeAdded || !slices.Equal(ch.Migrated, []string{"a.com"}) {
		t.Errorf("change = %+v", ch)
	}
	if got := read(t, s.Paths.TokensFile); got != "extra-access-tokens = a.com=1 b.com=2\n" {
		t.Errorf("tokens = %q", got)
	}
	if got := read(t, s.Paths.NixConf); got != "!include access-tokens.conf\n" {
		t.Errorf("nix.conf = %q", got)
	}
}

func TestIncludingWouldBringBackUnusedTokens(t *testing.T) {
	// The tokens file is not included, so Nix does not use what it holds:
	// adding the include for one token must not revive the others.
	s := newStore(t, map[string]string{"nix.conf": "keep-outputs = true\n", TokensFileName: "access-tokens = old.com=1\n"})
	before := snapshot(t, filepath.Dir(s.Paths.NixConf))
	_, err := s.Set("a.com", "2")
	if err == nil || !strings.Contains(err.Error(), "holds tokens that Nix does not use now (for old.com)") {
		t.Fatalf("Set = %v", err)
	}
	if !maps.Equal(before, snapshot(t, filepath.Dir(s.Paths.NixConf))) {
		t.Error("something was written")
	}
}

func TestExistingIncludeFormsAreRecognised(t *testing.T) {
	for _, line := range []string{
		"include access-tokens.conf",
		"!include ./access-tokens.conf",
		"!include {{dir}}/access-tokens.conf",
		"include sub/more.conf",
	} {
		t.Run(line, func(t *testing.T) {
			s := newStore(t, map[string]string{"sub/more.conf": "!include ../access-tokens.conf\n"})
			dir := filepath.Dir(s.Paths.NixConf)
			conf := strings.ReplaceAll(line, "{{dir}}", dir) + "\n"
			writeTree(t, dir, map[string]string{"nix.conf": conf})
			ch, err := s.Set("a.com", "1")
			if err != nil {
				t.Fatal(err)
			}
			if ch.IncludeAdded || read(t, s.Paths.NixConf) != conf {
				t.Errorf("include added again: %q", read(t, s.Paths.NixConf))
			}
		})
	}
}

// storeSymlink makes nix.conf a symlink into a fake Nix store, as
// home-manager does.
func storeSymlink(t *testing.T, s *Store, content string) {
	t.Helper()
	s.StoreDir = filepath.Join(t.TempDir(), "nix", "store")
	target := filepath.Join(s.StoreDir, "abc123-home-manager-files", "nix.conf")
	writeTree(t, filepath.Dir(target), map[string]string{"nix.conf": content})
	if err := os.Symlink(target, s.Paths.NixConf); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSymlinkWithoutInclude(t *testing.T) {
	s := newStore(t, nil)
	storeSymlink(t, s, "keep-outputs = true\n")
	dir := filepath.Dir(s.Paths.NixConf)
	before := snapshot(t, dir)

	err := s.CheckWritable()
	var ro *ReadOnlyError
	if !errors.As(err, &ro) {
		t.Fatalf("CheckWritable = %v, want *ReadOnlyError", err)
	}
	hints := strings.Join(ro.Hints(), "\n")
	for _, want := range []string{"  nix.extraOptions = ''", "    !include " + s.Paths.TokensFile, "  '';", "NixOS", "home-manager switch"} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
	if !strings.Contains(err.Error(), "symlink into") {
		t.Errorf("error = %v", err)
	}
	if _, err := s.Set("a.com", "1"); !errors.As(err, &ro) {
		t.Errorf("Set = %v, want *ReadOnlyError", err)
	}
	if _, err := EnsureInclude(s.Paths.NixConf, s.Paths.TokensFile, false, s.StoreDir, nil); !errors.As(err, &ro) {
		t.Errorf("EnsureInclude = %v, want *ReadOnlyError", err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("something was written")
	}
}

func TestStoreSymlinkWithInclude(t *testing.T) {
	s := newStore(t, nil)
	storeSymlink(t, s, "!include "+s.Paths.TokensFile+"\n")
	if err := s.CheckWritable(); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Set("a.com", "1")
	if err != nil {
		t.Fatal(err)
	}
	if ch.IncludeAdded {
		t.Error("include added to a store file")
	}
	if fi, err := os.Lstat(s.Paths.NixConf); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("nix.conf is no longer the store symlink")
	}
	entries, err := s.Tokens()
	if err != nil || !maps.Equal(tokenMap(entries), map[string]string{"a.com": "1"}) {
		t.Errorf("tokens = %v, %v", entries, err)
	}
	assertNoStrays(t, filepath.Dir(s.Paths.NixConf), "nix.conf", TokensFileName)
}

func TestStoreSymlinkWithTokensInside(t *testing.T) {
	// home-manager's nix.conf sets access-tokens after the include: what
	// nix-auth writes would have no effect, so it refuses.
	s := newStore(t, nil)
	storeSymlink(t, s, "!include access-tokens.conf\naccess-tokens = a.com=1\n")
	dir := filepath.Dir(s.Paths.NixConf)
	before := snapshot(t, dir)
	_, err := s.Set("b.com", "2")
	if err == nil || !strings.Contains(err.Error(), "nix.conf:2") {
		t.Fatalf("Set = %v, want an error naming nix.conf:2", err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("something was written")
	}
}

func TestSymlinkedNixConfStaysLinked(t *testing.T) {
	s := newStore(t, nil)
	dotfiles := writeTree(t, t.TempDir(), map[string]string{"nix.conf": "keep-outputs = true\n"})
	if err := os.Symlink(filepath.Join(dotfiles, "nix.conf"), s.Paths.NixConf); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set("a.com", "1"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(s.Paths.NixConf); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatal("nix.conf was replaced by a regular file")
	}
	if got := read(t, filepath.Join(dotfiles, "nix.conf")); got != "keep-outputs = true\n!include access-tokens.conf\n" {
		t.Errorf("dotfiles nix.conf = %q", got)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	const good = "keep-outputs = true\n!include access-tokens.conf\n"
	cases := []struct {
		name        string
		files       map[string]string
		op          func(s *Store) error
		errContains string
	}{
		{"host with space", map[string]string{"nix.conf": good},
			func(s *Store) error { _, err := s.Set("a.com b", "t"); return err }, "whitespace"},
		{"host with =", map[string]string{"nix.conf": good},
			func(s *Store) error { _, err := s.Set("a.com=x", "t"); return err }, "'='"},
		{"token with newline", map[string]string{"nix.conf": good},
			func(s *Store) error { _, err := s.Set("a.com", "t\nextra-substituters = evil"); return err }, "control character"},
		{"token with #", map[string]string{"nix.conf": good},
			func(s *Store) error { _, err := s.Set("a.com", "t#x"); return err }, "'#'"},
		{"empty token", map[string]string{"nix.conf": good},
			func(s *Store) error { _, err := s.Set("a.com", ""); return err }, "empty"},
		{"malformed nix.conf", map[string]string{"nix.conf": "keep-outputs=true\n"},
			func(s *Store) error { _, err := s.Set("a.com", "t"); return err }, "nix.conf:1:"},
		{"malformed tokens file", map[string]string{"nix.conf": good, TokensFileName: "access-tokens a.com=1\n"},
			func(s *Store) error { _, err := s.Set("a.com", "t"); return err }, TokensFileName + ":1:"},
		{"include cycle", map[string]string{"nix.conf": good + "include nix.conf\n"},
			func(s *Store) error { _, err := s.Set("a.com", "t"); return err }, "include cycle"},
		{"missing include", map[string]string{"nix.conf": good + "include gone.conf\n"},
			func(s *Store) error { _, err := s.Set("a.com", "t"); return err }, "not found"},
		{"remove unknown host", map[string]string{"nix.conf": good, TokensFileName: "access-tokens = b.com=1\n"},
			func(s *Store) error { _, err := s.Remove("a.com"); return err }, "no token for a.com in"},
		{"remove from an unmanaged file", map[string]string{"nix.conf": good + "include secrets.conf\n", "secrets.conf": "extra-access-tokens = a.com=1\n"},
			func(s *Store) error { _, err := s.Remove("a.com"); return err }, "secrets.conf:1, which nix-auth does not manage"},
		{"later file overrides the tokens file", map[string]string{"nix.conf": good + "include secrets.conf\n", "secrets.conf": "access-tokens = z.com=1\n"},
			func(s *Store) error { _, err := s.Set("a.com", "t"); return err }, "secrets.conf:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, tc.files)
			dir := filepath.Dir(s.Paths.NixConf)
			// mtimes must be able to differ if anything is rewritten
			old := time.Now().Add(-time.Hour)
			for name := range tc.files {
				os.Chtimes(filepath.Join(dir, name), old, old)
			}
			before := snapshot(t, dir)
			err := tc.op(s)
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Fatalf("error = %v, want one containing %q", err, tc.errContains)
			}
			if strings.Contains(err.Error(), "evil") {
				t.Error("the error quotes the token")
			}
			if !maps.Equal(before, snapshot(t, dir)) {
				t.Errorf("files changed:\n%v\n%v", before, snapshot(t, dir))
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	s := newStore(t, map[string]string{"nix.conf": "access-tokens = a.com=1\n"})
	s.DryRun = true
	dir := filepath.Dir(s.Paths.NixConf)
	before := snapshot(t, dir)
	ch, err := s.Set("b.com", "2")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.IncludeAdded || !slices.Equal(ch.Migrated, []string{"a.com"}) || ch.Backup != "" {
		t.Errorf("change = %+v", ch)
	}
	if _, err := s.Remove("a.com"); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("dry run wrote something")
	}
	if added, err := EnsureInclude(s.Paths.NixConf, s.Paths.TokensFile, true, "", nil); err != nil || !added {
		t.Errorf("EnsureInclude dry run = %v, %v", added, err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("dry run wrote something")
	}
}

func TestSetSameTokenRewritesNothing(t *testing.T) {
	s := newStore(t, nil)
	if _, err := s.Set("a.com", "1"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(s.Paths.NixConf)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(s.Paths.TokensFile, old, old)
	os.Chtimes(s.Paths.NixConf, old, old)
	before := snapshot(t, dir)
	ch, err := s.Set("a.com", "1")
	if err != nil || !ch.Replaced {
		t.Fatal(ch, err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("an unchanged token was rewritten")
	}
}

func TestEnsureInclude(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nix.conf")
	other := filepath.Join(t.TempDir(), "run", "tokens.conf")

	added, err := EnsureInclude(conf, other, false, "", nil)
	if err != nil || !added {
		t.Fatal(added, err)
	}
	added, err = EnsureInclude(conf, filepath.Join(dir, TokensFileName), false, "", nil)
	if err != nil || !added {
		t.Fatal(added, err)
	}
	want := "!include " + other + "\n!include " + TokensFileName + "\n"
	if got := read(t, conf); got != want {
		t.Errorf("nix.conf = %q, want %q", got, want)
	}
	for _, inc := range []string{other, filepath.Join(dir, TokensFileName)} {
		if added, err := EnsureInclude(conf, inc, false, "", nil); err != nil || added {
			t.Errorf("second EnsureInclude(%s) = %v, %v", inc, added, err)
		}
	}
	if got := read(t, conf); got != want {
		t.Errorf("nix.conf changed: %q", got)
	}
	if _, err := EnsureInclude(conf, "/tmp/with space/x.conf", false, "", nil); err == nil {
		t.Error("a path Nix cannot read was included")
	}
	assertNoStrays(t, dir, "nix.conf")
}

func TestCheckWritableDirectoryNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	s := newStore(t, map[string]string{"nix.conf": "keep-outputs = true\n"})
	dir := filepath.Dir(s.Paths.NixConf)
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if err := s.CheckWritable(); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("CheckWritable = %v", err)
	}
}

func TestModesIgnoreUmask(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=umask", "NIXCONF_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, u := range []int{0o777, 0o077, 0} {
		for _, mode := range []fs.FileMode{0o600, 0o644} {
			if p := perm(t, filepath.Join(dir, fmt.Sprintf("f-%o-%o", u, mode))); p != mode {
				t.Errorf("umask %03o: WriteFile(%o) made %o", u, mode, p)
			}
		}
		sub := filepath.Join(dir, fmt.Sprintf("u%o", u))
		if p := perm(t, filepath.Join(sub, TokensFileName)); p != 0o600 {
			t.Errorf("umask %03o: tokens file %o", u, p)
		}
		if p := perm(t, filepath.Join(sub, "nix.conf")); p != 0o644 {
			t.Errorf("umask %03o: nix.conf %o", u, p)
		}
	}
}

func TestConcurrentProcesses(t *testing.T) {
	const n = 50
	s := newStore(t, map[string]string{"nix.conf": "# shared\n"})
	errs := make(chan error, n)
	for i := range n {
		go func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=set",
				"NIXCONF_CONF="+s.Paths.NixConf, "NIXCONF_TOKENS="+s.Paths.TokensFile,
				"NIXCONF_HOST=host"+strconv.Itoa(i)+".example", "NIXCONF_TOKEN=tok"+strconv.Itoa(i))
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("child %d: %v: %s", i, err, out)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	entries, err := s.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	got := tokenMap(entries)
	for i := range n {
		if got["host"+strconv.Itoa(i)+".example"] != "tok"+strconv.Itoa(i) {
			t.Errorf("host%d lost", i)
		}
	}
	if len(got) != n {
		t.Errorf("%d tokens, want %d", len(got), n)
	}
	if c := strings.Count(read(t, s.Paths.NixConf), "!include"); c != 1 {
		t.Errorf("%d include lines", c)
	}
	assertNoStrays(t, filepath.Dir(s.Paths.NixConf), "nix.conf", TokensFileName)
}

func TestStaleLockIsRecovered(t *testing.T) {
	s := newStore(t, nil)
	// A lock file left by a process that died holding it: its pid is
	// written, no process holds the flock.
	if err := os.WriteFile(s.Paths.TokensFile+".lock", []byte("999999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	s.Warn = func(m string) { msgs = append(msgs, m) }
	if _, err := s.Set("a.com", "1"); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0], "process 999999") {
		t.Errorf("warnings = %q", msgs)
	}
	assertNoStrays(t, filepath.Dir(s.Paths.NixConf), "nix.conf", TokensFileName)
}

func TestLocate(t *testing.T) {
	cases := []struct {
		config string
		env    map[string]string
		want   string
	}{
		{"/etc/x/nix.conf", map[string]string{"NIX_USER_CONF_FILES": "/a/nix.conf", "HOME": "/h"}, "/etc/x/nix.conf"},
		{"", map[string]string{"NIX_USER_CONF_FILES": "::/a/first.conf:/b/second.conf", "XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/a/first.conf"},
		{"", map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/nix/nix.conf"},
		{"", map[string]string{"HOME": "/h"}, "/h/.config/nix/nix.conf"},
		// Nix takes an empty XDG_CONFIG_HOME as it is.
		{"", map[string]string{"XDG_CONFIG_HOME": "", "HOME": "/h"}, "/nix/nix.conf"},
	}
	for _, tc := range cases {
		p, err := Locate(tc.config, mapEnv(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if p.NixConf != tc.want || p.TokensFile != filepath.Join(filepath.Dir(tc.want), TokensFileName) {
			t.Errorf("Locate(%q, %v) = %+v, want %s", tc.config, tc.env, p, tc.want)
		}
	}
	p, err := Locate("rel/nix.conf", mapEnv(nil))
	if err != nil || !filepath.IsAbs(p.NixConf) {
		t.Errorf("relative --config: %+v, %v", p, err)
	}
	// The commands say to name it with --config (cmd's TestFlagHints).
	if _, err := Locate("", mapEnv(nil)); !errors.Is(err, ErrNoUserConfig) {
		t.Errorf("no HOME: %v, want ErrNoUserConfig", err)
	}
}

func TestReadOnlyNixConf(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes read-only files")
	}
	s := newStore(t, map[string]string{"nix.conf": "keep-outputs = true\n"})
	os.Chmod(s.Paths.NixConf, 0o444)
	before := snapshot(t, filepath.Dir(s.Paths.NixConf))
	var ro *ReadOnlyError
	if _, err := s.Set("a.com", "1"); !errors.As(err, &ro) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Set = %v, want *ReadOnlyError", err)
	}
	if !maps.Equal(before, snapshot(t, filepath.Dir(s.Paths.NixConf))) {
		t.Error("something was written")
	}
}

func mapEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
