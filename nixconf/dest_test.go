package nixconf

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// destStore is a Store whose netrc file is beside nix.conf, and whose
// system config (and so Nix's default netrc file) is in the test's tree.
func destStore(t *testing.T, files map[string]string) *Store {
	t.Helper()
	s := newStore(t, files)
	dir := filepath.Dir(s.Paths.NixConf)
	s.Paths.NetrcFile = filepath.Join(dir, NetrcFileName)
	s.Paths.System = filepath.Join(dir, "etc", "nix.conf")
	return s
}

var both = Dest{AccessTokens: true, Netrc: true, Login: "ferris"}

// TestSaveBoth: a token for both files is one edit: the tokens file, the
// netrc file and nix.conf, which gets the include and the netrc-file line
// (after its access-tokens lines moved out), written together; removing
// it takes both away.
func TestSaveBoth(t *testing.T) {
	s := destStore(t, map[string]string{"nix.conf": "access-tokens = old.example=OLD\n"})
	if err := s.CheckSave("codeberg.org", both); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Save("codeberg.org", both, "tok1")
	if err != nil {
		t.Fatal(err)
	}
	netrc := s.Paths.NetrcFile
	if !ch.Tokens || !ch.IncludeAdded || ch.Netrc == nil || !ch.Netrc.SettingAdded || ch.Netrc.File != netrc || ch.Backup == "" {
		t.Fatalf("change %+v, netrc %+v", ch, ch.Netrc)
	}
	if got := read(t, s.Paths.NixConf); got != "!include access-tokens.conf\nnetrc-file = "+netrc+"\n" {
		t.Errorf("nix.conf = %q", got)
	}
	if got := read(t, s.Paths.TokensFile); !strings.Contains(got, "old.example=OLD") || !strings.Contains(got, "codeberg.org=tok1") {
		t.Errorf("tokens file = %q", got)
	}
	if got := read(t, netrc); got != netrcHeader+"machine codeberg.org login ferris password tok1\n" {
		t.Errorf("netrc = %q", got)
	}
	if _, cred, ok, err := s.NetrcFor("codeberg.org"); err != nil || !ok || cred.Password != "tok1" {
		t.Errorf("NetrcFor: %+v %v %v", cred, ok, err)
	}

	ch, err = s.RemoveFrom("codeberg.org", both)
	if err != nil || !ch.Tokens || ch.Netrc == nil || !ch.Netrc.Found {
		t.Fatalf("RemoveFrom: %+v %v", ch, err)
	}
	if got := read(t, netrc); got != netrcHeader {
		t.Errorf("netrc after RemoveFrom = %q", got)
	}
	if strings.Contains(read(t, s.Paths.TokensFile), "codeberg.org") {
		t.Error("the access token is still there")
	}
	if _, err := s.RemoveFrom("codeberg.org", both); !errors.Is(err, ErrNoToken) {
		t.Errorf("RemoveFrom again: %v", err)
	}
}

// TestRemoveFromNarrows: a removal from both files takes what the host
// has: a cache's netrc entry alone (the tokens file is not even made), a
// forge's access token whose netrc entry was never written.
func TestRemoveFromNarrows(t *testing.T) {
	s := destStore(t, nil)
	if _, err := s.Save("cache.example.com/main", Dest{Netrc: true, Login: "x"}, "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Paths.TokensFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a netrc credential made the tokens file: %v", err)
	}
	ch, err := s.RemoveFrom("cache.example.com/main", both)
	if err != nil || ch.Tokens || !ch.Netrc.Found {
		t.Fatalf("cache: %+v %v", ch, err)
	}
	if _, err := os.Stat(s.Paths.TokensFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removing a netrc credential made the tokens file: %v", err)
	}

	if _, err := s.Set("git.example.com", "tok"); err != nil {
		t.Fatal(err)
	}
	ch, err = s.RemoveFrom("git.example.com", both)
	if err != nil || !ch.Tokens || ch.Netrc != nil {
		t.Fatalf("access token alone: %+v %v", ch, err)
	}
}

// TestSaveBothAllOrNothing: when either file refuses, the other is not
// written either, and the preflight says the same.
func TestSaveBothAllOrNothing(t *testing.T) {
	for name, env := range map[string]string{
		"netrc refuses": "netrc-file = netrc",
		"tokens refuse": "access-tokens = codeberg.org=OTHER",
	} {
		t.Run(name, func(t *testing.T) {
			s := destStore(t, map[string]string{"nix.conf": "keep-outputs = true\n"})
			s.Paths.NixConfig = env
			dir := filepath.Dir(s.Paths.NixConf)
			before := snapshot(t, dir)
			if err := s.CheckSave("codeberg.org", both); err == nil {
				t.Fatal("CheckSave passed")
			}
			if _, err := s.Save("codeberg.org", both, "tok"); err == nil {
				t.Fatal("Save passed")
			}
			if !maps.Equal(before, snapshot(t, dir)) {
				t.Error("something was written")
			}
		})
	}
}

// TestSaveBothReadOnlyNixConf: a nix.conf home-manager made that includes
// the tokens file but names no netrc file gets neither: the error gives
// the netrc-file line to add.
func TestSaveBothReadOnlyNixConf(t *testing.T) {
	s := destStore(t, nil)
	storeSymlink(t, s, "!include "+s.Paths.TokensFile+"\n")
	dir := filepath.Dir(s.Paths.NixConf)
	before := snapshot(t, dir)
	var ro *ReadOnlyError
	if err := s.CheckSave("codeberg.org", both); !errors.As(err, &ro) || ro.Line != "netrc-file = "+s.Paths.NetrcFile {
		t.Fatalf("CheckSave: %v", err)
	}
	if _, err := s.Save("codeberg.org", both, "tok"); !errors.As(err, &ro) {
		t.Fatalf("Save: %v", err)
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("something was written")
	}
	// The access token alone can go.
	if _, err := s.Save("codeberg.org", tokensOnly, "tok"); err != nil {
		t.Fatal(err)
	}
}

// TestNetrcFileIsAConfigFile: netrc-file naming nix.conf or the tokens
// file is refused (and never locked twice).
func TestNetrcFileIsAConfigFile(t *testing.T) {
	s := destStore(t, nil)
	if err := os.WriteFile(s.Paths.NixConf, []byte("netrc-file = "+s.Paths.TokensFile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save("codeberg.org", both, "tok"); err == nil || !strings.Contains(err.Error(), "not a netrc file") {
		t.Fatalf("Save: %v", err)
	}
}
