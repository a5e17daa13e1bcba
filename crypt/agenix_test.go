package crypt

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-auth/nix-auth/internal/tooltest"
)

// TestAgenixIncludeKeepsSystemTokens: what agenix deploys from an .age
// store (the real `age -d` of it) is included from a nix.conf that sets
// access-tokens before it, as NixOS writes nix.settings before
// nix.extraOptions. The real nix keeps the system's tokens and adds the
// store's: the include's extra-access-tokens adds, where access-tokens
// would wipe them; for a host both name, the system's (earlier) token
// wins. A cache's netrc credential is in no setting. A store an older
// nix-auth wrote with access-tokens is rewritten with extra-access-tokens.
func TestAgenixIncludeKeepsSystemTokens(t *testing.T) {
	t.Parallel()
	nix := needNix(t, "nix")
	id := stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.age")
	es := append(stNetrcEntries(), Entry{Host: "sys.example", Token: "STORESYS0001"})
	stCreate(t, p, es, id)
	plain := stRun(t, dir, nil, nil, "age", "-d", "-i", stKeyFile(t, dir, id), "tokens.age")
	secret := filepath.Join(dir, "run", "agenix", "nix-tokens")
	writeFile(t, secret, plain)

	home := filepath.Join(dir, "home")
	writeFile(t, filepath.Join(home, "nix", "nix.conf"), []byte(
		"access-tokens = sys.example=SYSTEM0001 gitlab.com=SYSTEM0002\n!include "+secret+"\n"))
	got := agenixNixTokens(t, nix, home)
	want := map[string]string{
		"sys.example":  "SYSTEM0001",
		"gitlab.com":   "SYSTEM0002",
		"codeberg.org": "TESTTOKEN0004",
		"github.com":   "ghp_TESTTOKEN0000000000000000000000000001",
	}
	if !maps.Equal(got, want) {
		t.Errorf("nix reads access-tokens %v, want %v", maskTokens(got), maskTokens(want))
	}

	// An older store's plaintext: its access-tokens line wipes the
	// system's tokens. Any write turns it into extra-access-tokens.
	old := stAgeEncrypt(t, "access-tokens = github.com=OLDTOKEN0001\n", id)
	writeFile(t, p, old)
	f := stOpen(t, p, id)
	if err := f.Put(Entry{Host: "codeberg.org", Token: "TESTTOKEN0004"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	plain = stRun(t, dir, nil, nil, "age", "-d", "-i", stKeyFile(t, dir, id), "tokens.age")
	if !strings.Contains(string(plain), "\nextra-access-tokens = github.com=OLDTOKEN0001 codeberg.org=TESTTOKEN0004\n") ||
		strings.Contains(string(plain), "\naccess-tokens") {
		t.Errorf("the rewritten plaintext:\n%s", plain)
	}
}

// agenixNixTokens is the access-tokens map the real nix uses with home as
// its only configuration.
func agenixNixTokens(t *testing.T, nix, home string) map[string]string {
	t.Helper()
	got, err := tooltest.NixAccessTokens(nix, []string{"NIX_CONF_DIR=" + t.TempDir(), "XDG_CONFIG_DIRS=/nonexistent",
		"XDG_CONFIG_HOME=" + home, "HOME=" + home})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// maskTokens keeps a failure message free of whole tokens.
func maskTokens(m map[string]string) map[string]string {
	out := map[string]string{}
	for h, tok := range m {
		out[h] = tok[:min(4, len(tok))] + "..."
	}
	return out
}
