package crypt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/nixconf"
)

// TestPutAgreesWithRender: a store takes exactly the hosts and tokens that
// nixconf's validator, which render applies, takes.
func TestPutAgreesWithRender(t *testing.T) {
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "t.age")
	stCreate(t, p, stEntries()[:1], id)
	f := stLoad(t, p, id)
	hosts := []string{"git.example.com", "github.com/org", "[::1]:8443", "evil.test/../x", "evil.test/./x", "./",
		"evil.test/%2e%2e", "a..com", "bücher.de", "a.com:0", "-a.com", "a.com/"}
	for _, h := range hosts {
		err := f.Put(Entry{Host: h, Token: "tok"})
		if (err == nil) != (nixconf.ValidateHost(h) == nil) {
			t.Errorf("Put(%q) = %v, but nixconf.ValidateHost says %v", h, err, nixconf.ValidateHost(h))
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Put(%q) = %v, want ErrInvalid", h, err)
		}
	}
	for _, tok := range []string{"ok", "a=b", "x\u00a0y", "tab\tSECRET", "é"} {
		err := f.Put(Entry{Host: "a.com", Token: tok})
		if (err == nil) != (nixconf.ValidateToken(tok) == nil) {
			t.Errorf("Put(token %q) = %v, but nixconf.ValidateToken says %v", tok, err, nixconf.ValidateToken(tok))
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes the token: %v", err)
		}
	}
}

// TestAgePlaintextAsNixReadsIt: an .age store's plaintext is read with
// nixconf's parser: what Nix refuses (it refuses the whole file where
// agenix includes it) is refused, naming the file and line.
func TestAgePlaintextAsNixReadsIt(t *testing.T) {
	id := stKey(t)
	dir := t.TempDir()
	for plain, wantLine := range map[string]string{
		"access-tokens=github.com=ghp_SECRETx\n":                        "line 1",
		"# nix-auth: host=a.com\naccess-tokens = a.com=1\nbogus line\n": "line 3",
		"access-tokens = a.com=1\ninclude\n":                            "line 2",
	} {
		p := filepath.Join(dir, "bad.age")
		if err := os.WriteFile(p, stAgeEncrypt(t, plain, id), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, []age.Identity{id}, nil, stNow)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), wantLine) {
			t.Errorf("%q: Load = %v, want ErrCorrupt at %s", plain, err, wantLine)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes the plaintext: %v", err)
		}
		if _, _, err := ParseFragment(p, []byte(plain)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: ParseFragment = %v", plain, err)
		}
	}
	// What Nix accepts, with its rules: the first value for a host wins,
	// access-tokens replaces what came before, extra- adds.
	es, other, err := ParseFragment("ok", []byte("keep-outputs = true\naccess-tokens = gone.com=0\n"+
		"access-tokens\t=\ta.com=1 b.com=2 a.com=3 # c\r\nextra-access-tokens = b.com=9 c.com=3\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Host+"="+e.Token)
	}
	if strings.Join(got, " ") != "a.com=1 b.com=2 c.com=3" || len(other) != 1 || other[0] != "keep-outputs = true" {
		t.Errorf("ParseFragment = %q, other %q", got, other)
	}
}
