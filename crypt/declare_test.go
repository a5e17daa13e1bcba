package crypt

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// stSSH is the recipient of a vector's ssh host key, as secrets.nix or
// --recipient give it.
func stSSH(t testing.TB, name string) Recipient {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(keysDir, name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRecipient(strings.TrimSpace(string(b)), name+".pub")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stSSHIdentity is a vector's ssh private key as agenix hosts use it.
func stSSHIdentity(t testing.TB, name string) age.Identity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(keysDir, name))
	if err != nil {
		t.Fatal(err)
	}
	id, err := agessh.ParseIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func stTag(t testing.TB, r Recipient) string {
	t.Helper()
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r.SSH))
	if err != nil {
		t.Fatal(err)
	}
	return sshTag(pk)
}

// TestDeclareAgeCrossCheck: an .age file re-encrypted by the real age CLI
// to host1 and host3 while secrets.nix declares host1 and host2: the write
// warns, naming the declared key the file lacks and the tag of the
// undeclared stanza, and encrypts to the declared keys only.
func TestDeclareAgeCrossCheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.age")
	h1, h2, h3 := stSSH(t, "host1"), stSSH(t, "host2"), stSSH(t, "host3")
	os.WriteFile(filepath.Join(dir, "plain"), []byte("access-tokens = github.com=TESTTOKEN1\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "recips"), []byte(h1.SSH+"\n"+h3.SSH+"\n"), 0o600)
	stRun(t, dir, nil, nil, "age", "-e", "-a", "-R", "recips", "-o", "t.age", "plain")

	f, err := Load(p, []age.Identity{stSSHIdentity(t, "host1")}, nil, stNow)
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	f.Warn = func(m string) { warned = append(warned, m) }
	h2.Source = "secrets.nix:3 (web2)"
	h1.Source = "secrets.nix:2 (web1)"
	if err := f.Declare([]Recipient{h1, h2}); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 {
		t.Fatalf("warnings = %q, want one", warned)
	}
	for _, w := range []string{p + ": ", "declared (secrets.nix)", "not yet encrypted to " + h2.SSH + " (secrets.nix:3 (web2))",
		"an ssh-ed25519 stanza for a key not declared (key tag " + stTag(t, h3) + ")", "declared recipients only"} {
		if !strings.Contains(warned[0], w) {
			t.Errorf("warning %q lacks %q", warned[0], w)
		}
	}
	if err := f.Put(Entry{Host: "codeberg.org", Token: "TESTTOKEN2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	warned = nil
	if err := f.Declare([]Recipient{h1, h2}); err != nil || len(warned) != 0 {
		t.Errorf("Declare after the write compares with the old header: %v, %q", err, warned)
	}
	if _, err := Load(p, []age.Identity{stSSHIdentity(t, "host3")}, nil, stNow); !errors.Is(err, ErrWrongKey) {
		t.Errorf("the undeclared host3 opens the new file: %v", err)
	}
	if _, err := Load(p, []age.Identity{stSSHIdentity(t, "host2")}, nil, stNow); err != nil {
		t.Errorf("the declared host2 cannot open the new file: %v", err)
	}

	// Declared as the header says: no warning.
	g, err := Load(p, []age.Identity{stSSHIdentity(t, "host2")}, nil, stNow)
	if err != nil {
		t.Fatal(err)
	}
	warned = nil
	g.Warn = func(m string) { warned = append(warned, m) }
	if err := g.Declare([]Recipient{h2, h1}); err != nil || len(warned) != 0 {
		t.Errorf("Declare of the file's own keys: %v, warnings %q", err, warned)
	}
}

// TestDeclareSops: a sops write keeps the file's own recipients, as `sops
// set` does, and says when the declaration differs.
func TestDeclareSops(t *testing.T) {
	id1, id2 := stKey(t), stKey(t)
	p := filepath.Join(t.TempDir(), "t.yaml")
	stCreate(t, p, stEntries(), id1)
	f := stLoad(t, p, id1)
	var warned []string
	f.Warn = func(m string) { warned = append(warned, m) }
	if err := f.Declare(stRecips(id1, id2)); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "not yet encrypted to "+id2.Recipient().String()) || !strings.Contains(warned[0], "nix-auth rekey "+p) {
		t.Errorf("warnings = %q", warned)
	}
	f.Put(Entry{Host: "codeberg.org", Token: "TESTTOKEN2"})
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if got := ages(stLoad(t, p, id1).Recipients()); !slices.Equal(got, stAges(id1)) {
		t.Errorf("recipients after a write = %v, want the file's own", got)
	}
}

// TestRecipientsChecked: Create, SetRecipients and Declare parse what a
// caller gives with the one parser: ssh-rsa, a malformed plugin
// recipient, identities and an ssh key whose Age is not its conversion are
// refused, naming the file.
func TestRecipientsChecked(t *testing.T) {
	dir := t.TempDir()
	h1 := stSSH(t, "host1")
	rsa := strings.TrimSpace(string(readKey(t, "rsa1.pub")))
	for _, tc := range []struct {
		name string
		r    Recipient
		want string
	}{
		{"ssh-rsa", Recipient{SSH: rsa, Source: "keys.txt:2"}, "keys.txt:2: ssh-rsa key refused"},
		{"malformed plugin", Recipient{Age: "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3q"}, "invalid age recipient"},
		{"identity", Recipient{Age: "AGE-SECRET-KEY-1QQQQ"}, "is an identity (a secret key)"},
		{"mismatched conversion", Recipient{SSH: h1.SSH, Age: stSSH(t, "host2").Age}, "not the ssh key's conversion"},
		{"empty", Recipient{}, "empty recipient"},
	} {
		for _, name := range []string{"t.yaml", "t.age"} {
			p := filepath.Join(dir, name)
			_, err := Create(p, []Recipient{tc.r}, CreateOptions{Now: stNow})
			if !errors.Is(err, ErrRecipient) || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: Create = %v, want %q", tc.name, name, err, tc.want)
			}
			if strings.Contains(fmtErr(err), "AGE-SECRET-KEY-1QQQQ") {
				t.Errorf("%s: the identity is quoted: %v", tc.name, err)
			}
		}
	}
	if _, err := Create(filepath.Join(dir, "n.age"), nil, CreateOptions{Now: stNow}); !errors.Is(err, ErrRecipient) {
		t.Errorf("Create without recipients = %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error() + strings.Join(hintsOf(err), "\n")
}

// TestPostQuantumRecipients: age1pq1 hybrid recipients work in both
// formats, read back with the hybrid identity and by the real CLIs.
func TestPostQuantumRecipients(t *testing.T) {
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRecipients([]byte("# pq\n"+pq.Recipient().String()+"\n"), "pq.txt")
	if err != nil || len(rs) != 1 || rs[0].Source != "pq.txt:2" {
		t.Fatalf("ParseRecipients = %v, %v", rs, err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "pq.key")
	os.WriteFile(keyFile, []byte(pq.String()+"\n"), 0o600)
	for _, name := range []string{"t.age", "t.yaml"} {
		p := filepath.Join(dir, name)
		f, err := Create(p, rs, CreateOptions{Now: stNow})
		if err != nil {
			t.Fatal(err)
		}
		f.Put(Entry{Host: "github.com", Token: "TESTTOKENPQ"})
		if err := f.Save(); err != nil {
			t.Fatal(err)
		}
		g, err := Load(p, []age.Identity{pq}, nil, stNow)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e, _ := g.Entry("github.com"); e.Token != "TESTTOKENPQ" {
			t.Errorf("%s: token = %q", name, e.Token)
		}
		var out []byte
		if name == "t.age" {
			out = stRun(t, dir, nil, nil, "age", "-d", "-i", keyFile, name)
		} else {
			out = stRun(t, dir, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, nil, "sops", "decrypt", name)
		}
		if !strings.Contains(string(out), "TESTTOKENPQ") {
			t.Errorf("%s: the real CLI does not read it", name)
		}
		if res, err := Rekey(p, []age.Identity{pq}, rs, RekeyOptions{Now: stNow, DryRun: true}); err != nil || len(res.Added)+len(res.Removed) != 0 {
			t.Errorf("%s: rekey to the same pq key = %+v, %v", name, res, err)
		}
	}
}

// TestRecipientSources: a .sops.yaml or secrets.nix key's Source is the
// line that spells it out, with its anchor or binding; a key from
// elsewhere names the file and entry; labels cannot carry escapes.
func TestRecipientSources(t *testing.T) {
	dir := t.TempDir()
	r1, h2 := vectorRecipient(t, "host1"), vectorPub(t, "host2")
	yaml := filepath.Join(dir, ".sops.yaml")
	os.WriteFile(yaml, []byte("# admin: "+r1+"\nkeys:\n  - &admin "+r1+"\ncreation_rules:\n  - age: *admin\n"), 0o644)
	rs, err := recipientList([]string{r1}, yaml, "rule for t.yaml")
	if err != nil || rs[0].Source != filepath.Join(dir, ".sops.yaml")+":3 (&admin)" {
		t.Errorf("sops source = %+v, %v", rs, err)
	}
	nix := filepath.Join(dir, "secrets.nix")
	os.WriteFile(nix, []byte("let\n  web2 = \""+h2+"\";\nin {\n  \"t.age\".publicKeys = [ web2 \""+r1+"\" ];\n}\n"), 0o644)
	rs, err = recipientList([]string{h2, r1, vectorRecipient(t, "host3")}, nix, `"t.age"`)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{nix + ":2 (web2)", nix + ":4", nix + `: "t.age" key 3`} {
		if rs[i].Source != want {
			t.Errorf("source %d = %q, want %q", i, rs[i].Source, want)
		}
	}
	rs, err = ParseRecipients([]byte(sshKeyOnly(h2)+" evil\x1b]0;title\x07\n"), "k.txt")
	if err != nil || strings.ContainsAny(rs[0].Source, "\x1b\x07") {
		t.Errorf("escape in a source: %q, %v", rs, err)
	}
}
