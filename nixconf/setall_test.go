package nixconf

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSetAll: several hosts in one edit, all or nothing.
func TestSetAll(t *testing.T) {
	s := newStore(t, map[string]string{"nix.conf": "keep-outputs = true\naccess-tokens = old.example=1\n"})
	ch, err := s.SetAll([]Entry{{Host: "a.com", Token: "ta"}, {Host: "b.com", Token: "PAT:tb"}, {Host: "old.example", Token: "2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, s.Paths.TokensFile); !strings.Contains(got, "extra-access-tokens = old.example=2 a.com=ta b.com=PAT:tb\n") {
		t.Errorf("tokens file:\n%s", got)
	}
	if len(ch.Migrated) != 1 || !ch.IncludeAdded {
		t.Errorf("change %+v", ch)
	}
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.AccessTokens()); n != 3 {
		t.Errorf("Nix sees %d tokens", n)
	}

	// One bad entry: nothing written, the good ones neither.
	dir := filepath.Dir(s.Paths.NixConf)
	old := time.Now().Add(-time.Hour)
	for _, f := range []string{s.Paths.NixConf, s.Paths.TokensFile} {
		os.Chtimes(f, old, old)
	}
	before := snapshot(t, dir)
	for _, bad := range [][]Entry{
		{{Host: "c.com", Token: "tc"}, {Host: "d.com", Token: "t\nextra-substituters = evil"}},
		{{Host: "c.com", Token: "tc"}, {Host: "d.com x", Token: "td"}},
		{},
	} {
		if _, err := s.SetAll(bad, nil); err == nil || strings.Contains(err.Error(), "evil") {
			t.Errorf("%v: error %v", bad, err)
		}
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("a refused SetAll changed files")
	}
	// A later file that overrides d.com only: refused as a whole.
	os.WriteFile(filepath.Join(dir, "later.conf"), []byte("access-tokens = d.com=x\n"), 0o600)
	os.WriteFile(s.Paths.NixConf, []byte(read(t, s.Paths.NixConf)+"include later.conf\n"), 0o600)
	os.Chtimes(s.Paths.NixConf, old, old)
	os.Chtimes(filepath.Join(dir, "later.conf"), old, old)
	before = snapshot(t, dir)
	if _, err := s.SetAll([]Entry{{Host: "c.com", Token: "tc"}, {Host: "d.com", Token: "td"}}, nil); err == nil || !strings.Contains(err.Error(), "later.conf:1") {
		t.Errorf("override: %v", err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("a refused SetAll changed files")
	}
}

// TestSaveAllNetrc: SaveAll sends each credential where its Dest says, in
// one edit: access tokens with their state, netrc entries for several
// machines (a forge's for both files, a cache's for netrc alone), and one
// netrc-file line; a bad netrc credential refuses the whole edit.
func TestSaveAllNetrc(t *testing.T) {
	s := destStore(t, map[string]string{"netrc": "machine other.example login me password keep\n"})
	dir := filepath.Dir(s.Paths.NixConf)
	before := snapshot(t, dir)
	bad := []Saving{
		{Host: "github.com", Token: "ghp_x", To: tokensOnly},
		{Host: "cache.example.com", Token: "has space", To: Dest{Netrc: true, Login: "x"}},
	}
	if _, err := s.SaveAll(bad); err == nil || strings.Contains(err.Error(), "has space") {
		t.Errorf("bad netrc password: %v", err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("a refused SaveAll changed files")
	}

	hs := HostState{Provider: "github", User: "octocat"}
	ch, err := s.SaveAll([]Saving{
		{Host: "github.com", Token: "ghp_x", To: tokensOnly, State: &hs},
		{Host: "codeberg.org", Token: "cb", To: both},
		{Host: "cache.example.com", Token: "pw", To: Dest{Netrc: true, Login: "x-access-token"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Tokens || ch.Netrc == nil || !ch.Netrc.SettingAdded {
		t.Fatalf("change %+v, netrc %+v", ch, ch.Netrc)
	}
	if got := read(t, s.Paths.TokensFile); !strings.Contains(got, "extra-access-tokens = github.com=ghp_x codeberg.org=cb\n") {
		t.Errorf("tokens file:\n%s", got)
	}
	for machine, want := range map[string]NetrcCredential{
		"other.example":     {Login: "me", Password: "keep"},
		"codeberg.org":      {Login: "ferris", Password: "cb"},
		"cache.example.com": {Login: "x-access-token", Password: "pw"},
	} {
		if _, cred, ok, err := s.NetrcFor(machine); err != nil || !ok || cred != want {
			t.Errorf("NetrcFor(%s) = %+v %v %v", machine, cred, ok, err)
		}
	}
	if n := strings.Count(read(t, s.Paths.NixConf), "netrc-file = "); n != 1 {
		t.Errorf("nix.conf has %d netrc-file lines", n)
	}
	st, err := s.State()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.For("github.com", "ghp_x"); got.Provider != "github" || got.User != "octocat" {
		t.Errorf("state of github.com: %+v", got)
	}
	if _, ok := st.Hosts["cache.example.com"]; ok {
		t.Error("a netrc credential alone got state")
	}
}
