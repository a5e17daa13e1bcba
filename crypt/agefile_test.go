package crypt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

func stKeyFile(t testing.TB, dir string, id *age.X25519Identity) string {
	t.Helper()
	p := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(p, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// stAgeEncrypt encrypts plaintext with the library, armored.
func stAgeEncrypt(t testing.TB, plain string, ids ...*age.X25519Identity) []byte {
	t.Helper()
	var rs []age.Recipient
	for _, id := range ids {
		rs = append(rs, id.Recipient())
	}
	var b bytes.Buffer
	aw := armor.NewWriter(&b)
	w, err := age.Encrypt(aw, rs...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(plain))
	w.Close()
	aw.Close()
	return b.Bytes()
}

// TestAgeCLIReadsOurs: the real `age -d` decrypts our file to a nix.conf
// fragment whose only setting is the access-tokens line.
func TestAgeCLIReadsOurs(t *testing.T) {
	t.Parallel()
	id, id2 := stKey(t), stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.age")
	stCreate(t, p, stEntries(), id, id2)
	raw, _ := os.ReadFile(p)
	if !bytes.HasPrefix(raw, []byte(armor.Header+"\n")) {
		t.Errorf("not armored:\n%s", raw)
	}
	for _, k := range []*age.X25519Identity{id, id2} {
		out := string(stRun(t, dir, nil, nil, "age", "-d", "-i", stKeyFile(t, dir, k), "tokens.age"))
		var settings []string
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if !strings.HasPrefix(l, "#") {
				settings = append(settings, l)
			}
		}
		want := "extra-access-tokens = codeberg.org=TESTTOKEN0004 github.com=ghp_TESTTOKEN0000000000000000000000000001 gitlab.com=OAuth2:glo-TESTTOKEN0002"
		if len(settings) != 1 || settings[0] != want {
			t.Errorf("settings in the decrypted file: %d lines, want exactly the access-tokens line", len(settings))
		}
		for _, w := range []string{
			"# nix-auth: host=github.com provider=github user=octocat scopes=repo,read:org created=2026-11-24T21:00:00Z\n",
			"# nix-auth: host=gitlab.com provider=gitlab user=tanuki scopes=read_api created=2026-11-24T21:00:00Z expires=2026-11-24T23:00:00Z refresh_token=glrt-TESTREFRESH0003 client_id=3f1e0123456789abcdef\n",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("decrypted file lacks %q", w)
			}
		}
		// The recipients are not cached in the plaintext any more: nobody
		// authenticates it, and a cached list goes stale.
		if strings.Contains(out, id.Recipient().String()) {
			t.Error("the plaintext names a recipient")
		}
	}
}

// TestAgeReadsCLIFiles: files made by `age -e`, armored or binary (as
// agenix writes them), committed and fresh, load; their recipients are
// unknown until given, and then they are written armored with them.
func TestAgeReadsCLIFiles(t *testing.T) {
	fixtureKey, freshKey := stFixtureKey(t), stKey(t)
	freshDir := t.TempDir()
	plain, err := os.ReadFile(filepath.Join(stFixtures, "age-plain.conf"))
	if err != nil {
		t.Fatal(err)
	}
	r := freshKey.Recipient().String()
	fresh := map[string][]byte{
		"armored": stRun(t, freshDir, nil, plain, "age", "-e", "-a", "-r", r),
		"binary":  stRun(t, freshDir, nil, plain, "age", "-e", "-r", r),
	}
	want := []Entry{
		{Host: "github.com", Token: "ghp_FIXTURETOKEN000000000000000000000001"},
		{Host: "gitlab.com", Token: "PAT:glpat-FIXTURETOKEN0005"},
	}
	for _, c := range []struct {
		name string
		id   *age.X25519Identity
		data []byte
	}{
		{"fixture armored", fixtureKey, nil},
		{"fixture binary", fixtureKey, nil},
		{"fresh armored", freshKey, fresh["armored"]},
		{"fresh binary", freshKey, fresh["binary"]},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "tokens.age")
			data := c.data
			if data == nil {
				data, _ = os.ReadFile(filepath.Join(stFixtures, "age-cli-"+strings.TrimPrefix(c.name, "fixture ")+".age"))
			}
			os.WriteFile(p, data, 0o644)
			f := stLoad(t, p, c.id)
			stSameEntries(t, f.Entries(), want)
			if f.Recipients() != nil {
				t.Errorf("recipients of a foreign file = %v, want unknown", f.Recipients())
			}
			m, err := LoadMeta(p)
			if err != nil || !slices.Equal(m.Stanzas, []string{"X25519"}) {
				t.Errorf("LoadMeta = %+v, %v", m, err)
			}
			f.Put(Entry{Host: "codeberg.org", Token: "FIXTURETOKEN0006", User: "ferris"})
			if err := f.Save(); !errors.Is(err, ErrRecipient) {
				t.Fatalf("Save without known recipients = %v; want ErrRecipient", err)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(after, data) {
				t.Error("the failed Save changed the file")
			}
			if err := f.SetRecipients(stRecips(c.id)); err != nil {
				t.Fatal(err)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			g := stLoad(t, p, c.id)
			stSameEntries(t, g.Entries(), append(slices.Clone(want), Entry{Host: "codeberg.org", Token: "FIXTURETOKEN0006", User: "ferris"}))
			if got := g.Recipients(); got != nil {
				t.Errorf("recipients after Save = %v", got)
			}
		})
	}
}

// TestAgeNixRules: a hand-written fragment is read as Nix reads it, and
// its other lines are kept.
func TestAgeNixRules(t *testing.T) {
	id := stKey(t)
	plain := `# my tokens
access-tokens = old.example=TESTOLD
access-tokens = github.com=TESTTOKEN1 github.com=TESTIGNORED gitlab.com=PAT:TESTTOKEN2 # a comment
extra-access-tokens = gitlab.com=TESTIGNORED2 example.org/group=TEST=TOKEN=3
connect-timeout = 5
`
	p := filepath.Join(t.TempDir(), "t.age")
	os.WriteFile(p, stAgeEncrypt(t, plain, id), 0o600)
	f := stLoad(t, p, id)
	stSameEntries(t, f.Entries(), []Entry{
		{Host: "github.com", Token: "TESTTOKEN1"},
		{Host: "gitlab.com", Token: "PAT:TESTTOKEN2"},
		{Host: "example.org/group", Token: "TEST=TOKEN=3"},
	})
	f.SetRecipients(stRecips(id))
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f = stLoad(t, p, id)
	s := f.st.(*ageStore)
	if !slices.Equal(s.other, []string{"# my tokens", "connect-timeout = 5"}) {
		t.Errorf("other lines = %q", s.other)
	}
	if len(f.Entries()) != 3 {
		t.Errorf("entries after save: %v", hostList(f.Entries()))
	}
}

// TestAgeMetadataEscaping: metadata with spaces, '%' or non-ASCII survives,
// and cannot start a line of its own.
func TestAgeMetadataEscaping(t *testing.T) {
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "t.age")
	e := Entry{Host: "gitea.example.org", Token: "TESTTOKEN9", Provider: "gitea", User: "Zoë 100% real", Scopes: []string{"read:repository", "write issue"}}
	stCreate(t, p, []Entry{e}, id)
	f := stLoad(t, p, id)
	stSameEntries(t, f.Entries(), []Entry{e})
	plain := string(f.st.(*ageStore).plaintext())
	if !strings.Contains(plain, "user=Zoë%20100%25%20real scopes=read:repository,write%20issue") {
		t.Errorf("escaped metadata:\n%s", plain)
	}
	if strings.Count(plain, "\n") != 3 {
		t.Errorf("plaintext has %d lines:\n%s", strings.Count(plain, "\n"), plain)
	}
}

// TestAgeStaleRecipients (issue 9): someone re-encrypts our file with the
// age CLI, removing id2 and adding id3, and the plaintext still carries the
// recipient list an older nix-auth cached there, with as many entries as
// the header has stanzas. A write never uses that list: without a
// declaration Save refuses and writes nothing; with one, the file is
// encrypted to exactly the declared keys, so the removed id2 cannot read
// the new token and id3 can.
func TestAgeStaleRecipients(t *testing.T) {
	id1, id2, id3 := stKey(t), stKey(t), stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.age")
	stale := "# nix-auth-recipients: " + id1.Recipient().String() + " " + id2.Recipient().String() + "\n" +
		"access-tokens = github.com=TESTTOKEN1\n"
	data := stAgeEncrypt(t, stale, id1, id3)
	os.WriteFile(p, data, 0o600)

	f := stLoad(t, p, id1)
	if f.Recipients() != nil {
		t.Fatalf("recipients taken from the plaintext: %v", f.Recipients())
	}
	f.Put(Entry{Host: "codeberg.org", Token: "TESTTOKEN2"})
	if err := f.Save(); !errors.Is(err, ErrRecipient) {
		t.Fatalf("Save without a declaration = %v, want ErrRecipient", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, data) {
		t.Fatal("the refused Save changed the file")
	}

	var warned []string
	f.Warn = func(m string) { warned = append(warned, m) }
	if err := f.Declare(stRecips(id1, id3)); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 0 {
		t.Errorf("warnings for a header that matches in count: %q", warned)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, []age.Identity{id2}, nil, stNow); !errors.Is(err, ErrWrongKey) {
		t.Errorf("the removed recipient opens the new file: %v", err)
	}
	g := stLoad(t, p, id3)
	if e, ok := g.Entry("codeberg.org"); !ok || e.Token != "TESTTOKEN2" {
		t.Error("the added recipient cannot read the new token")
	}
	if strings.Contains(string(g.st.(*ageStore).plaintext()), "nix-auth-recipients") {
		t.Error("the stale comment survived the write")
	}
}

// TestAgeEmptyStoreHasNoSetting: without tokens, no access-tokens setting
// line at all.
func TestAgeEmptyStoreHasNoSetting(t *testing.T) {
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "t.age")
	stCreate(t, p, stEntries()[:1], id)
	f := stOpen(t, p, id)
	if err := f.Remove("codeberg.org"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	plain := string(stLoad(t, p, id).st.(*ageStore).plaintext())
	if strings.Contains(plain, "access-tokens =") {
		t.Errorf("empty store sets access-tokens:\n%s", plain)
	}
}
