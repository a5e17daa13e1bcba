package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
)

func stRecips(ids ...*age.X25519Identity) []Recipient {
	var r []Recipient
	for _, id := range ids {
		r = append(r, Recipient{Age: id.Recipient().String(), Source: "test"})
	}
	return r
}

// stAges are the age1 keys of ids.
func stAges(ids ...*age.X25519Identity) []string { return ages(stRecips(ids...)) }

// TestRekeySops: only the data key is wrapped again; values, MAC and
// lastmodified stay; the new recipient decrypts with our code and with
// the real sops; a rekey that would lock the caller out is refused
// unless forced; dry runs and no-op rekeys write nothing.
func TestRekeySops(t *testing.T) {
	t.Parallel()
	id1, id2, id3 := stKey(t), stKey(t), stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	stCreate(t, p, stEntries(), id1)
	before, _ := os.ReadFile(p)
	ids := []age.Identity{id1}

	res, err := Rekey(p, ids, stRecips(id1, id2), RekeyOptions{Now: stNow, DryRun: true})
	if err != nil || !res.Changed || !slices.Equal(ages(res.Added), stAges(id2)) || len(res.Removed) != 0 {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, before) {
		t.Fatal("dry run wrote")
	}

	res, err = Rekey(p, ids, stRecips(id1, id2), RekeyOptions{Now: stNow})
	if err != nil || !res.Changed {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	after, _ := os.ReadFile(p)
	if !slices.Equal(stValueLines(before), stValueLines(after)) {
		t.Error("rekey changed values, mac or lastmodified")
	}
	if !bytes.Contains(after, before[bytes.Index(before, []byte("    age:")):bytes.Index(before, []byte("          recipient:"))]) {
		t.Error("the kept recipient's wrapped key changed")
	}
	stSameEntries(t, stLoad(t, p, id2).Entries(), stEntries())
	out := stSopsDecrypt(t, p, id2)
	if stHostValue(t, out, "github.com", "token") != stEntries()[1].Token {
		t.Error("sops -d with the new recipient's key")
	}

	res, err = Rekey(p, ids, stRecips(id2, id1), RekeyOptions{Now: stNow})
	if err != nil || res.Changed {
		t.Errorf("same recipients: %+v, %v", res, err)
	}
	if again, _ := os.ReadFile(p); !bytes.Equal(again, after) {
		t.Error("a no-op rekey wrote")
	}

	res, err = Rekey(p, ids, stRecips(id3), RekeyOptions{Now: stNow})
	if !errors.Is(err, ErrLockout) || !slices.Equal(ages(res.Removed), stAges(id1, id2)) {
		t.Errorf("lockout: %+v, %v", res, err)
	}
	if again, _ := os.ReadFile(p); !bytes.Equal(again, after) {
		t.Error("a refused rekey wrote")
	}
	if _, err := Rekey(p, ids, stRecips(id3), RekeyOptions{Now: stNow, DryRun: true}); !errors.Is(err, ErrLockout) {
		t.Errorf("dry run does not warn about the lockout: %v", err)
	}
	if _, err := Rekey(p, ids, stRecips(id3), RekeyOptions{Now: stNow, Force: true}); err != nil {
		t.Fatal(err)
	}
	stSameEntries(t, stLoad(t, p, id3).Entries(), stEntries())
	if _, err := Load(p, ids, nil, stNow); !errors.Is(err, ErrWrongKey) {
		t.Errorf("removed recipient still decrypts: %v", err)
	}
}

// wrappedIdentity hides an X25519 identity's type, as a plugin or ssh
// identity would, so that Rekey must decrypt to check access.
type wrappedIdentity struct{ id age.Identity }

func (w wrappedIdentity) Unwrap(s []*age.Stanza) ([]byte, error) { return w.id.Unwrap(s) }

func TestRekeyChecksOtherIdentitiesByDecrypting(t *testing.T) {
	id1, id2 := stKey(t), stKey(t)
	for _, name := range []string{"t.yaml", "t.age"} {
		p := filepath.Join(t.TempDir(), name)
		stCreate(t, p, stEntries(), id1)
		ids := []age.Identity{wrappedIdentity{id1}}
		if _, err := Rekey(p, ids, stRecips(id2), RekeyOptions{Now: stNow}); !errors.Is(err, ErrLockout) {
			t.Errorf("%s: lockout not detected: %v", name, err)
		}
		if _, err := Rekey(p, ids, stRecips(id2, id1), RekeyOptions{Now: stNow}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		stSameEntries(t, stLoad(t, p, id2).Entries(), stEntries())
	}
}

// TestRekeyAge: the content is encrypted anew to the declared recipients,
// which the real age CLI can use. X25519 stanzas name no key, so a rekey
// with X25519 recipients always rewrites (as agenix -r does) and lists them
// as unverified; ssh stanzas are matched by their key tag, so a file
// already encrypted to exactly the declared ssh keys is left alone, and
// the diff names the ssh keys added and the stanzas dropped.
func TestRekeyAge(t *testing.T) {
	id1, id2 := stKey(t), stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.age")
	stCreate(t, p, stEntries(), id1)
	res, err := Rekey(p, []age.Identity{id1}, stRecips(id2, id1), RekeyOptions{Now: stNow})
	if err != nil || len(res.Added) != 0 || !slices.Equal(ages(res.Unverified), stAges(id2, id1)) || len(res.Undeclared) != 0 || !res.Changed {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	out := stRun(t, dir, nil, nil, "age", "-d", "-i", stKeyFile(t, dir, id2), "t.age")
	if !bytes.Contains(out, []byte("github.com="+stEntries()[1].Token)) {
		t.Error("age -d with the new recipient's key")
	}
	if m, _ := LoadMeta(p); len(m.Stanzas) != 2 {
		t.Errorf("stanzas after rekey: %v", m.Stanzas)
	}
	// Back to id1 alone: one X25519 stanza too many is reported.
	res, err = Rekey(p, []age.Identity{id1}, stRecips(id1), RekeyOptions{Now: stNow})
	if err != nil || !res.Changed || !slices.Equal(res.Undeclared, []string{"1 X25519 stanza more than declared"}) {
		t.Fatalf("Rekey to fewer = %+v, %v", res, err)
	}

	// ssh recipients, as agenix fleets have them.
	h1, h2, h3 := stSSH(t, "host1"), stSSH(t, "host2"), stSSH(t, "host3")
	id := stSSHIdentity(t, "host1")
	res, err = Rekey(p, []age.Identity{id1}, []Recipient{h1, h2}, RekeyOptions{Now: stNow, Force: true})
	if err != nil || len(res.Added) != 2 || !res.Changed {
		t.Fatalf("Rekey to ssh keys = %+v, %v", res, err)
	}
	before, _ := os.ReadFile(p)
	res, err = Rekey(p, []age.Identity{id}, []Recipient{h2, h1}, RekeyOptions{Now: stNow})
	if err != nil || res.Changed || len(res.Added)+len(res.Unverified)+len(res.Undeclared) != 0 {
		t.Fatalf("Rekey to the same ssh keys = %+v, %v", res, err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Error("a rekey to the same ssh keys rewrote the file")
	}
	res, err = Rekey(p, []age.Identity{id}, []Recipient{h1, h3}, RekeyOptions{Now: stNow, DryRun: true})
	if err != nil || !res.Changed || len(res.Added) != 1 || res.Added[0].SSH != h3.SSH || res.Added[0].Source != h3.Source ||
		len(res.Undeclared) != 1 || !strings.Contains(res.Undeclared[0], "ssh-ed25519 stanza for a key not declared (key tag ") {
		t.Fatalf("Rekey host2 -> host3 = %+v, %v", res, err)
	}
}

// pgpStanza is a pgp key as sops writes it (sorted keys, created_at); the
// key itself is fake: nobody needs to decrypt with it.
const pgpStanza = `    pgp:
        - created_at: "2026-11-24T21:00:00Z"
          enc: |-
            -----BEGIN PGP MESSAGE-----

            hQEMAxxxFAKExxxAQf/not-a-real-key
            =abcd
            -----END PGP MESSAGE-----
          fp: "0000111122223333444455556666777788889999"
`

// stInsertPGP adds pgpStanza to every document's metadata of a YAML sops
// file, where sops writes it: metadata keys are sorted by name.
func stInsertPGP(t testing.TB, p string) {
	t.Helper()
	b, _ := os.ReadFile(p)
	var out []string
	inSops, done, n := false, false, 0
	for _, l := range strings.SplitAfter(string(b), "\n") {
		switch {
		case l == "sops:\n":
			inSops, done = true, false
		case inSops && !strings.HasPrefix(l, " "):
			inSops = false
		case inSops && !done && strings.HasPrefix(l, "    ") && l[4] != ' ' && l[4] != '-' && l[4:strings.Index(l, ":")] > "pgp":
			out = append(out, pgpStanza)
			done = true
			n++
		}
		out = append(out, l)
	}
	if n == 0 {
		t.Fatal("no sops metadata to add a pgp key to")
	}
	if err := os.WriteFile(p, []byte(strings.Join(out, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRekeyKeepsOtherKeyTypes: a pgp (or kms, ...) key of a sops file is
// kept byte for byte: nix-auth only manages age recipients, and the data
// key it wraps does not change.
func TestRekeyKeepsOtherKeyTypes(t *testing.T) {
	id1, id2 := stKey(t), stKey(t)
	p := filepath.Join(t.TempDir(), "t.yaml")
	stCreate(t, p, stEntries(), id1)
	stInsertPGP(t, p)
	res, err := Rekey(p, []age.Identity{id1}, stRecips(id2, id1), RekeyOptions{Now: stNow})
	if err != nil {
		t.Fatal(err)
	}
	fp := "0000111122223333444455556666777788889999"
	if !slices.Equal(res.OtherKeys, []string{"pgp " + fp}) {
		t.Errorf("RekeyResult.OtherKeys = %v", res.OtherKeys)
	}
	m, _ := LoadMeta(p)
	if !slices.Equal(m.OtherKeys, []string{"pgp " + fp}) || !slices.Equal(m.Recipients, stAges(id1, id2)) {
		t.Errorf("keys after rekey: %v %v", m.Recipients, m.OtherKeys)
	}
	// A value change keeps it too.
	f := stLoad(t, p, id2)
	if err := f.Put(Entry{Host: "git.sr.ht", Token: "TESTTOKEN0009"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Contains(b, []byte("\n"+pgpStanza)) {
		t.Errorf("the pgp stanza changed:\n%s", b)
	}
	out := stSopsDecrypt(t, p, id2)
	if stHostValue(t, out, "git.sr.ht", "token") != "TESTTOKEN0009" {
		t.Error("sops -d of the file with a pgp stanza")
	}
}

// TestSopsShamirGroups: a file `sops encrypt` split over two key groups
// needs a key of each; nix-auth reads it but leaves its recipients to
// sops.
func TestSopsShamirGroups(t *testing.T) {
	id1, id2 := stKey(t), stKey(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("creation_rules:\n    - shamir_threshold: 2\n      encrypted_regex: ^(token|refresh_token)$\n      key_groups:\n          - age: [%s]\n          - age: [%s]\n",
		id1.Recipient(), id2.Recipient())
	os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(cfg), 0o644)
	p := stCopy(t, "plain.yaml", dir, "t.yaml")
	stRun(t, dir, nil, nil, "sops", "encrypt", "-i", "t.yaml")
	if _, err := Load(p, []age.Identity{id1}, nil, stNow); !errors.Is(err, ErrWrongKey) {
		t.Errorf("one of two Shamir parts decrypted: %v", err)
	}
	f := stLoad(t, p, id1, id2)
	stSameEntries(t, f.Entries(), stFixtureEntries())
	if err := f.SetRecipients(stRecips(id1)); !errors.Is(err, ErrRecipient) {
		t.Errorf("SetRecipients on a Shamir file = %v", err)
	}
	f.Put(Entry{Host: "codeberg.org", Token: "TESTTOKEN0006"})
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	out := stRun(t, dir, []string{"SOPS_AGE_KEY=" + id1.String() + "\n" + id2.String()}, nil, "sops", "decrypt", "t.yaml")
	if !bytes.Contains(out, []byte("TESTTOKEN0006")) {
		t.Error("sops -d of the Shamir file after Put")
	}
}

// BenchmarkRekey: rekey of a sops and an .age file with 10, 100 and 1000
// recipients, alternating between two recipient sets that differ in one
// key, side by side with the real `sops updatekeys` on the same file
// (which wraps the data key for every recipient again).
func BenchmarkRekey(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		keys := make([]*age.X25519Identity, n+1)
		for i := range keys {
			keys[i] = stKey(b)
		}
		setA, setB := stRecips(keys[:n]...), stRecips(append(slices.Clone(keys[:n-1]), keys[n])...)
		ids := []age.Identity{keys[0]}
		for _, name := range []string{"t.yaml", "t.age"} {
			b.Run(fmt.Sprintf("%s/%d", name[2:], n), func(b *testing.B) {
				p := filepath.Join(b.TempDir(), name)
				stCreate(b, p, stManyHosts(20), keys[:n]...)
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					to := setB
					if i%2 == 1 {
						to = setA
					}
					if _, err := Rekey(p, ids, to, RekeyOptions{Now: stNow}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("sops-updatekeys/%d", n), func(b *testing.B) {
			dir := b.TempDir()
			p := filepath.Join(dir, "t.yaml")
			stCreate(b, p, stManyHosts(20), keys[:n]...)
			cfgs := [2][]byte{}
			for i, set := range [][]string{ages(setB), ages(setA)} {
				cfgs[i] = fmt.Appendf(nil, "creation_rules:\n    - age: %s\n", strings.Join(set, ","))
			}
			env := []string{"SOPS_AGE_KEY=" + keys[0].String()}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				os.WriteFile(filepath.Join(dir, ".sops.yaml"), cfgs[i%2], 0o644)
				b.StartTimer()
				stRun(b, dir, env, nil, "sops", "updatekeys", "-y", "t.yaml")
			}
		})
	}
}
