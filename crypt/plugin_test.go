package crypt

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age/plugin"
	"filippo.io/age/tag"
)

const yubikeyRecipient = "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"

// tagRecipient is a hardware key's P-256 tag recipient, as age-plugin-yubikey
// and age-plugin-tpm print them.
func tagRecipient(t *testing.T) string {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The compressed point, as tag recipients encode it.
	u := k.PublicKey().Bytes()
	c := append([]byte{2 + u[64]&1}, u[1:33]...)
	r, err := tag.NewClassicRecipient(c)
	if err != nil {
		t.Fatal(err)
	}
	return r.String()
}

// TestPluginRecipients: the one parser takes plugin and tag recipients as
// the age CLI does, from files, flags and declarations alike.
func TestPluginRecipients(t *testing.T) {
	tr := tagRecipient(t)
	rs, err := ParseRecipients([]byte("# the admins' YubiKeys\n"+yubikeyRecipient+"\n"+tr+"\n"), "admins.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Age != yubikeyRecipient || rs[0].Source != "admins.txt:2" || rs[1].Age != tr {
		t.Fatalf("recipients %+v", rs)
	}
	for _, r := range rs {
		if _, err := r.AgeRecipient(nil); err != nil {
			t.Errorf("%s: %v", r.Age, err)
		}
	}
	if got, err := ResolveRecipientFlags([]string{yubikeyRecipient}); err != nil || len(got) != 1 || got[0].Age != yubikeyRecipient {
		t.Errorf("--recipient %s = %+v, %v", yubikeyRecipient, got, err)
	}
	// An identity where a recipient goes is still refused.
	if _, err := ParseRecipients([]byte("AGE-PLUGIN-YUBIKEY-1QQQQ\n"), "admins.txt"); err == nil || !strings.Contains(err.Error(), "is an identity") {
		t.Errorf("a plugin identity as a recipient: %v", err)
	}
}

// TestPluginRecipientHeader: an .age header's stanzas of a plugin's own
// type are accounted for by declared plugin recipients, as X25519 ones
// are by count: no mismatch is reported for them.
func TestPluginRecipientHeader(t *testing.T) {
	x := stSSH(t, "host1")
	x.SSH = "" // as an age1 key
	plug := Recipient{Age: yubikeyRecipient}
	h := ageHeader{{typ: "X25519"}, {typ: "piv-p256"}}
	if m := h.compare([]Recipient{x, plug}).mismatch(); len(m) > 0 {
		t.Errorf("mismatch %q", m)
	}
	if m := h.compare([]Recipient{x}).mismatch(); len(m) != 1 || !strings.Contains(m[0], "piv-p256") {
		t.Errorf("an undeclared plugin stanza: mismatch %q", m)
	}
}

// TestPluginMissing: writing to a plugin recipient whose plugin is not
// installed fails naming it, and writes nothing; so does decrypting with a
// missing plugin's identity.
func TestPluginMissing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.age")
	missing := plugin.EncodeRecipient("nixauthtestmissing", []byte{1, 2, 3})
	f, err := Create(p, []Recipient{{Age: missing}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(Entry{Host: "example.org", Token: "tok-0123456789"}); err != nil {
		t.Fatal(err)
	}
	err = f.Save()
	if !errors.Is(err, ErrRecipient) || !strings.Contains(err.Error(), "the age plugin age-plugin-nixauthtestmissing is not on PATH") {
		t.Errorf("Save = %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed write left a file: %v", err)
	}

	// A store nix-auth can write, opened with a missing plugin's identity
	// besides a key that does not fit.
	other := stSSH(t, "host2")
	other.SSH = ""
	g, err := Create(p, []Recipient{other})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Put(Entry{Host: "example.org", Token: "tok-0123456789"}); err != nil {
		t.Fatal(err)
	}
	if err := g.Save(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir, "SOPS_AGE_KEY": plugin.EncodeIdentity("nixauthtestmissing", nil)}
	ids, err := LoadIdentities(envOf(env), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(p, ids.List, ids.Tried)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "age-plugin-nixauthtestmissing is not on PATH") ||
		!strings.Contains(strings.Join(fe.Hints(), "\n"), "install age-plugin-nixauthtestmissing") {
		t.Errorf("Load = %v", err)
	}
}
