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

func TestLocateLayers(t *testing.T) {
	p, err := Locate("", mapEnv(map[string]string{"HOME": "/h"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.System != "/etc/nix/nix.conf" || !slices.Equal(p.Before, []string{"/etc/xdg/nix/nix.conf"}) || p.NixConfig != "" ||
		p.RenderFile != "/h/.config/nix/"+RenderFileName {
		t.Errorf("defaults: %+v", p)
	}
	p, err = Locate("", mapEnv(map[string]string{
		"HOME": "/h", "NIX_CONF_DIR": "/sys", "XDG_CONFIG_DIRS": "/d1::/d2", "NIX_CONFIG": "extra-access-tokens = a=b",
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Nix reads the list backwards: the first entry last.
	if p.System != "/sys/nix.conf" || !slices.Equal(p.Before, []string{"/d2/nix/nix.conf", "/d1/nix/nix.conf"}) ||
		p.NixConfig != "extra-access-tokens = a=b" {
		t.Errorf("XDG_CONFIG_DIRS: %+v", p)
	}
	p, err = Locate("", mapEnv(map[string]string{"HOME": "/h", "XDG_CONFIG_DIRS": "", "NIX_USER_CONF_FILES": "/a.conf:/b.conf:/c.conf"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.NixConf != "/a.conf" || !slices.Equal(p.Before, []string{"/c.conf", "/b.conf"}) {
		t.Errorf("NIX_USER_CONF_FILES: %+v", p)
	}
	// Set but empty: Nix reads no user file at all.
	if _, err := Locate("", mapEnv(map[string]string{"HOME": "/h", "NIX_USER_CONF_FILES": ":"})); err == nil ||
		!strings.Contains(err.Error(), "names no file") {
		t.Errorf("empty NIX_USER_CONF_FILES: %v", err)
	}
}

// layered writes a system config directory and a user config directory
// and returns a Store over them, as Locate would make it.
func layered(t *testing.T, system, user map[string]string, nixConfig string) *Store {
	t.Helper()
	root := t.TempDir()
	writeTree(t, filepath.Join(root, "etc"), system)
	dir := writeTree(t, filepath.Join(root, "home"), user)
	return &Store{Paths: Paths{
		NixConf: filepath.Join(dir, "nix.conf"), TokensFile: filepath.Join(dir, TokensFileName),
		RenderFile: filepath.Join(dir, RenderFileName),
		System:     filepath.Join(root, "etc", "nix.conf"), NixConfig: nixConfig,
	}}
}

func TestLayersAsNixAppliesThem(t *testing.T) {
	s := layered(t,
		map[string]string{"nix.conf": "access-tokens = sys.com=S both.com=SYS\n"},
		map[string]string{"nix.conf": "!include access-tokens.conf\n", "access-tokens.conf": "extra-access-tokens = both.com=MINE me.com=M\n"},
		"extra-access-tokens = me.com=ENV env.com=E\n")
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sys.com": "S", "both.com": "SYS", "me.com": "M", "env.com": "E"}
	if got := tokensOf(cfg); !maps.Equal(got, want) {
		t.Errorf("tokens = %v, want %v", got, want)
	}
	for _, e := range cfg.AccessTokens() {
		wantLayer := map[string]Layer{"sys.com": LayerBefore, "both.com": LayerBefore, "me.com": LayerUser, "env.com": LayerEnv}[e.Host]
		if e.Layer != wantLayer || e.Host == "env.com" && e.File != EnvSource {
			t.Errorf("%+v: want layer %d", e, wantLayer)
		}
	}
	var lost []string
	for _, u := range cfg.Unused() {
		lost = append(lost, u.Host+"="+u.Token+" by "+u.By.Token)
	}
	if want := []string{"both.com=MINE by SYS", "me.com=ENV by M"}; !slices.Equal(lost, want) {
		t.Errorf("unused = %q, want %q", lost, want)
	}

	// NIX_CONFIG's access-tokens replaces every file's.
	s.Paths.NixConfig = "access-tokens = env.com=E"
	cfg, err = s.Config()
	if err != nil {
		t.Fatal(err)
	}
	if got := tokensOf(cfg); !maps.Equal(got, map[string]string{"env.com": "E"}) {
		t.Errorf("tokens = %v", got)
	}
	var wiped []string
	for _, u := range cfg.Unused() {
		if u.By.File == EnvSource && u.By.Host == "" {
			wiped = append(wiped, u.Host+"="+u.Token)
		}
	}
	if want := []string{"sys.com=S", "both.com=SYS", "me.com=M"}; !slices.Equal(wiped, want) {
		t.Errorf("NIX_CONFIG replaced %q, want %q", wiped, want)
	}

	// Nix refuses a relative include in NIX_CONFIG, and a bad line there.
	for _, bad := range []string{"!include rel.conf", "access-tokens=a=b"} {
		s.Paths.NixConfig = bad
		var pe *ParseError
		if _, err := s.Config(); !errors.As(err, &pe) || pe.File != EnvSource || pe.Line != 1 {
			t.Errorf("NIX_CONFIG %q: %v", bad, err)
		}
	}
}

func TestSetKeepsSystemTokens(t *testing.T) {
	s := layered(t, map[string]string{"nix.conf": "access-tokens = sys.com=S both.com=SYS\n"}, nil, "")
	ch, err := s.Set("me.com", "M")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, s.Paths.TokensFile); got != tokensHeader+"extra-access-tokens = me.com=M\n" {
		t.Errorf("tokens file = %q", got)
	}
	if hosts := entryHosts(ch.Kept); !slices.Equal(hosts, []string{"sys.com", "both.com"}) || len(ch.Shadowed) != 0 || !ch.Adds {
		t.Errorf("change = %+v", ch)
	}
	// A host both name: saved, and the system's is the one Nix uses.
	ch, err = s.Set("both.com", "MINE")
	if err != nil {
		t.Fatal(err)
	}
	if hosts := entryHosts(ch.Shadowed); !slices.Equal(hosts, []string{"both.com"}) || ch.Shadowed[0].Token != "SYS" || ch.Adds {
		t.Errorf("change = %+v", ch)
	}
	entries, _ := s.Tokens()
	if got := tokenMap(entries); !maps.Equal(got, map[string]string{"sys.com": "S", "both.com": "SYS", "me.com": "M"}) {
		t.Errorf("tokens = %v", got)
	}
	// Logging out of it removes ours; Nix keeps the system's.
	ch, err = s.Remove("both.com")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Still == nil || ch.Still.Token != "SYS" || ch.Still.Layer != LayerBefore {
		t.Errorf("change = %+v", ch)
	}
	if got := read(t, s.Paths.TokensFile); got != tokensHeader+"extra-access-tokens = me.com=M\n" {
		t.Errorf("tokens file = %q", got)
	}
	// The system's own token is not ours to remove.
	if _, err := s.Remove("sys.com"); err == nil || !strings.Contains(err.Error(), "does not manage") {
		t.Errorf("Remove(sys.com) = %v", err)
	}
}

func entryHosts(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Host)
	}
	return out
}

func TestSetConvertsReplacingLines(t *testing.T) {
	// A tokens file from an older nix-auth (or by hand) that replaces the
	// system's tokens: it becomes extra-access-tokens, keeping its own
	// tokens exactly, dead lines dropped.
	s := layered(t, map[string]string{"nix.conf": "access-tokens = sys.com=S\n"}, map[string]string{
		"nix.conf":           "!include access-tokens.conf\n",
		"access-tokens.conf": "# mine\naccess-tokens = old.com=DEAD\naccess-tokens = a.com=1 # keep\nextra-access-tokens = b.com=2\n",
	}, "")
	ch, err := s.Set("c.com", "3")
	if err != nil {
		t.Fatal(err)
	}
	want := "# mine\nextra-access-tokens = a.com=1 # keep\nextra-access-tokens = b.com=2 c.com=3\n"
	if got := read(t, s.Paths.TokensFile); got != want {
		t.Errorf("tokens file = %q, want %q", got, want)
	}
	if !slices.Equal(entryHosts(ch.Kept), []string{"sys.com"}) || !ch.Adds {
		t.Errorf("change = %+v", ch)
	}
}

func TestNixConfigOverrideRefused(t *testing.T) {
	for _, tc := range []struct{ env, host, want string }{
		{"access-tokens = other.com=E", "me.com", "NIX_CONFIG"},
		// NIX_CONFIG's extra- item for the host comes after the file's:
		// the file's wins, nothing to refuse.
		{"extra-access-tokens = me.com=E", "me.com", ""},
		{"extra-access-tokens = other.com=E", "me.com", ""},
	} {
		s := layered(t, nil, map[string]string{"nix.conf": "keep-outputs = true\n"}, tc.env)
		before := snapshot(t, filepath.Dir(s.Paths.NixConf))
		err := s.CheckSet(tc.host)
		if tc.want == "" {
			if err != nil {
				t.Errorf("NIX_CONFIG %q: CheckSet = %v", tc.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), s.Paths.TokensFile) {
			t.Fatalf("NIX_CONFIG %q: CheckSet = %v", tc.env, err)
		}
		if h, ok := err.(interface{ Hints() []string }); !ok || !strings.Contains(strings.Join(h.Hints(), "\n"), "unset NIX_CONFIG") {
			t.Errorf("no NIX_CONFIG hint: %v", err)
		}
		if _, err := s.Set(tc.host, "tok"); err == nil {
			t.Errorf("NIX_CONFIG %q: Set succeeded", tc.env)
		}
		if !maps.Equal(before, snapshot(t, filepath.Dir(s.Paths.NixConf))) {
			t.Errorf("NIX_CONFIG %q: files changed", tc.env)
		}
	}
}

func TestCheckSetWritesNothing(t *testing.T) {
	s := layered(t, map[string]string{"nix.conf": "access-tokens = sys.com=S\n"},
		map[string]string{"nix.conf": "access-tokens = a.com=1\n"}, "")
	before := snapshot(t, filepath.Dir(s.Paths.NixConf))
	if err := s.CheckSet("b.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSet("b.com/../x"); err == nil {
		t.Error("CheckSet took a host with a '..' part")
	}
	if !maps.Equal(before, snapshot(t, filepath.Dir(s.Paths.NixConf))) {
		t.Error("CheckSet wrote something")
	}
}

func TestRenderFileIsNotLogins(t *testing.T) {
	// An older render wrote access-tokens.conf: login must not edit a
	// file render replaces at every activation.
	s := layered(t, nil, map[string]string{
		"nix.conf":           "!include access-tokens.conf\n",
		"access-tokens.conf": RenderHeader("/etc/tokens.yaml") + "access-tokens = a.com=1\n",
	}, "")
	before := snapshot(t, filepath.Dir(s.Paths.NixConf))
	var we *WriterError
	if err := s.CheckSet("b.com"); !errors.As(err, &we) || we.Writer != WriterRender || !strings.Contains(err.Error(), s.Paths.TokensFile) {
		t.Errorf("CheckSet = %v", err)
	}
	if _, err := s.Remove("a.com"); !errors.As(err, &we) {
		t.Errorf("Remove = %v", err)
	}
	if !maps.Equal(before, snapshot(t, filepath.Dir(s.Paths.NixConf))) {
		t.Error("files changed")
	}
}

func TestRenderedFileOverridingHost(t *testing.T) {
	// The rendered file, included first, names the host: login's token
	// would never be used.
	s := layered(t, nil, map[string]string{
		"nix.conf":     "!include " + RenderFileName + "\n!include access-tokens.conf\n",
		RenderFileName: RenderHeader("tokens.yaml") + "extra-access-tokens = a.com=R\n",
	}, "")
	err := s.CheckSet("a.com")
	if err == nil || !strings.Contains(err.Error(), RenderFileName+":2") {
		t.Fatalf("CheckSet = %v", err)
	}
	// The commands say how to change the store (cmd's TestFlagHints).
	var ne *Error
	if !errors.Is(err, ErrRendered) || !errors.As(err, &ne) || ne.Host != "a.com" || !strings.Contains(strings.Join(ne.Hints(), "\n"), "change the token in the store it renders") {
		t.Errorf("CheckSet = %#v, want ErrRendered for a.com", err)
	}
	if err := s.CheckSet("b.com"); err != nil {
		t.Errorf("CheckSet(b.com) = %v", err)
	}
}

func TestWriterOf(t *testing.T) {
	for data, want := range map[string]Writer{
		"":                      WriterNone,
		"access-tokens = a=b\n": WriterNone,
		tokensHeader:            WriterLogin,
		"# Access tokens for Nix, written by nix-auth and included from nix.conf.\n": WriterLogin,
		RenderHeader("x\nfoo = bar"): WriterRender,
	} {
		if got := WriterOf([]byte(data)); got != want {
			t.Errorf("WriterOf(%q) = %q, want %q", data, got, want)
		}
	}
	if h := RenderHeader("a\nb\rc"); strings.Count(h, "\n") != 1 || strings.Contains(h, "\r") {
		t.Errorf("RenderHeader lets a line break through: %q", h)
	}
	dir := t.TempDir()
	files := map[string]string{"render": RenderHeader("s") + "extra-access-tokens = a=b\n", "login": tokensHeader, "hand": "keep-outputs = true\n", "empty": ""}
	writeTree(t, dir, files)
	for name, wantErr := range map[string]bool{"render": false, "login": true, "hand": true, "empty": false, "missing": false} {
		err := CheckWriter(filepath.Join(dir, name), WriterRender, "")
		if (err != nil) != wantErr {
			t.Errorf("CheckWriter(%s) = %v", name, err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckWriter(filepath.Join(dir, "d"), WriterRender, ""); err == nil {
		t.Error("CheckWriter took a directory")
	}
}

func TestParseTokens(t *testing.T) {
	es, lines, err := ParseTokens([]byte("# c\naccess-tokens = a=1 b=2 a=3\nfoo = bar\nextra-access-tokens = b=9 c=3\n"), "frag")
	if err != nil {
		t.Fatal(err)
	}
	if got := tokenMap(es); !maps.Equal(got, map[string]string{"a": "1", "b": "2", "c": "3"}) || !slices.Equal(lines, []int{2, 4}) {
		t.Errorf("ParseTokens = %v %v", got, lines)
	}
	var pe *ParseError
	if _, _, err := ParseTokens([]byte("# c\naccess-tokens=a=b\n"), "frag"); !errors.As(err, &pe) || pe.File != "frag" || pe.Line != 2 {
		t.Errorf("no spaces: %v", err)
	}
}
