package crypt

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
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
	f, err := Create(p, []Recipient{{Age: missing}}, CreateOptions{Now: time.Now})
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
	pluginStore(t, p, other)
	wantPluginMissing(t, p)
}

// pluginStore makes a store at p encrypted to recips, with one token.
func pluginStore(t *testing.T, p string, recips ...Recipient) {
	t.Helper()
	f, err := Create(p, recips, CreateOptions{Now: stNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(Entry{Host: "example.org", Token: "plugin-token-0123456789"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
}

// wantPluginMissing: opening the store at p with a missing plugin's
// identity (and none that fits) is an error naming the plugin, with a
// hint to install it.
func wantPluginMissing(t *testing.T, p string) {
	t.Helper()
	_, err := Load(p, pluginIDs(t, plugin.EncodeIdentity("nixauthtestmissing", nil)), nil, stNow)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "age-plugin-nixauthtestmissing is not on PATH") ||
		!strings.Contains(strings.Join(fe.Hints(), "\n"), "install age-plugin-nixauthtestmissing") {
		t.Errorf("Load = %v", err)
	}
}

// testPlugin is the age plugin the sops tests run: this test binary,
// linked as age-plugin-nixauthtest (TestMain runs it), speaking the real
// plugin protocol through filippo.io/age/plugin. Its recipients and
// identities carry an X25519 key; its stanzas have a type of their own,
// so only the plugin opens them.
const testPlugin = "nixauthtest"

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "age-plugin-"+testPlugin {
		os.Exit(runTestPlugin())
	}
	os.Exit(m.Run())
}

func runTestPlugin() int {
	p, err := plugin.New(testPlugin)
	if err != nil {
		return 1
	}
	p.RegisterFlags(flag.NewFlagSet(testPlugin, flag.ContinueOnError))
	p.HandleRecipient(func(data []byte) (age.Recipient, error) {
		r, err := age.ParseX25519Recipient(string(data))
		return testPluginRecipient{r}, err
	})
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		id, err := age.ParseX25519Identity(string(data))
		return testPluginIdentity{id}, err
	})
	return p.Main()
}

const testPluginStanza = "nixauthtest-x25519"

type testPluginRecipient struct{ r *age.X25519Recipient }

func (p testPluginRecipient) Wrap(key []byte) ([]*age.Stanza, error) {
	ss, err := p.r.Wrap(key)
	for _, s := range ss {
		s.Type = testPluginStanza
	}
	return ss, err
}

type testPluginIdentity struct{ id *age.X25519Identity }

func (p testPluginIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type == testPluginStanza {
			x := *s
			x.Type = "X25519"
			if key, err := p.id.Unwrap([]*age.Stanza{&x}); err == nil {
				return key, nil
			}
		}
	}
	return nil, age.ErrIncorrectIdentity
}

// withTestPlugin puts age-plugin-nixauthtest on PATH, for nix-auth and
// the pinned sops alike, and returns a plugin recipient and its identity.
func withTestPlugin(t *testing.T) (recipient, identity string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "age-plugin-"+testPlugin)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return newTestPluginKey(t)
}

func newTestPluginKey(t *testing.T) (recipient, identity string) {
	id := stKey(t)
	return plugin.EncodeRecipient(testPlugin, []byte(id.Recipient().String())), plugin.EncodeIdentity(testPlugin, []byte(id.String()))
}

func pluginIDs(t *testing.T, identities ...string) []age.Identity {
	t.Helper()
	ids, err := LoadIdentities(envOf(map[string]string{"SOPS_AGE_KEY": strings.Join(identities, "\n")}), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ids.List
}

// TestPluginSopsStore: a sops store's data key is wrapped by a plugin
// recipient's plugin and unwrapped by its identity's, on create and on a
// rekey; the pinned sops opens what nix-auth wrote with the plugin
// identity, and nix-auth what sops encrypted to the plugin recipient,
// Shamir key groups included.
func TestPluginSopsStore(t *testing.T) {
	recip, ident := withTestPlugin(t)
	other := stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.yaml")
	pluginStore(t, p, Recipient{Age: recip}, Recipient{Age: other.Recipient().String()})
	g, err := Load(p, pluginIDs(t, ident), nil, stNow)
	if err != nil {
		t.Fatalf("Load with the plugin identity: %v", err)
	}
	if e, ok := g.Entry("example.org"); !ok || e.Token != "plugin-token-0123456789" {
		t.Fatalf("entry %+v", e)
	}
	out := stRun(t, dir, []string{"SOPS_AGE_KEY=" + ident}, nil, "sops", "decrypt", "tokens.yaml")
	if !bytes.Contains(out, []byte("plugin-token-0123456789")) {
		t.Errorf("sops decrypt with the plugin identity:\n%s", out)
	}

	// A rekey to another plugin recipient wraps the key with the plugin.
	recip2, ident2 := newTestPluginKey(t)
	if _, err := Rekey(p, []age.Identity{other}, []Recipient{{Age: recip2}, {Age: other.Recipient().String()}}, RekeyOptions{Now: stNow}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, pluginIDs(t, ident2), nil, stNow); err != nil {
		t.Errorf("Load with the new plugin identity after a rekey: %v", err)
	}
	if _, err := Load(p, pluginIDs(t, ident), nil, stNow); !errors.Is(err, ErrWrongKey) {
		t.Errorf("the removed plugin identity: %v", err)
	}

	// sops encrypts to the plugin recipient, in one of two key groups.
	cfg := fmt.Sprintf("creation_rules:\n    - shamir_threshold: 2\n      key_groups:\n          - age: [%s]\n          - age: [%s]\n", recip, other.Recipient())
	writeFile(t, filepath.Join(dir, ".sops.yaml"), []byte(cfg))
	writeFile(t, filepath.Join(dir, "theirs.yaml"), []byte("hosts:\n    example.org:\n        token: sops-plugin-token-0123456789\n"))
	stRun(t, dir, nil, nil, "sops", "encrypt", "-i", "theirs.yaml")
	h, err := Load(filepath.Join(dir, "theirs.yaml"), append(pluginIDs(t, ident), other), nil, stNow)
	if err != nil {
		t.Fatalf("Load of sops's Shamir file with the plugin identity and a key: %v", err)
	}
	if e, _ := h.Entry("example.org"); e.Token != "sops-plugin-token-0123456789" {
		t.Errorf("entry %+v", e)
	}
	if _, err := Load(filepath.Join(dir, "theirs.yaml"), []age.Identity{other}, nil, stNow); !errors.Is(err, ErrWrongKey) {
		t.Errorf("one group's key alone: %v", err)
	}
}

// TestPluginSopsMissing: a sops store whose only fitting identity is a
// missing plugin's says so, and a new plugin recipient whose plugin is
// missing is refused before anything is written.
func TestPluginSopsMissing(t *testing.T) {
	recip, _ := withTestPlugin(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.yaml")
	missing := plugin.EncodeRecipient("nixauthtestmissing", []byte{1, 2, 3})
	if _, err := Create(p, []Recipient{{Age: missing}}, CreateOptions{Now: stNow}); !errors.Is(err, ErrRecipient) ||
		!strings.Contains(err.Error(), "age-plugin-nixauthtestmissing is not on PATH") {
		t.Errorf("Create to a missing plugin = %v", err)
	}
	pluginStore(t, p, Recipient{Age: recip})
	wantPluginMissing(t, p)
}
