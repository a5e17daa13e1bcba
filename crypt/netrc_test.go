package crypt

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stNetrcEntries are a forge credential for both files and a cache's for
// netrc only.
func stNetrcEntries() []Entry {
	return []Entry{
		{Host: "codeberg.org", Token: "TESTTOKEN0004", Provider: "forgejo", User: "ferris", Use: UseBoth, Login: "ferris"},
		{Host: "cache.example.com:8443/main", Token: "eyJTESTCACHE.0005", Provider: "cache", Use: UseNetrc, Login: "x-access-token"},
		{Host: "github.com", Token: "ghp_TESTTOKEN0000000000000000000000000001", Provider: "github", User: "octocat"},
	}
}

// TestAgeStoreCarriesNetrc: an .age store keeps each entry's use and
// login; the access-tokens line (what agenix's include gives Nix) holds
// only the access tokens, and a cache's token is in its comment line.
func TestAgeStoreCarriesNetrc(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "tokens.age")
	stCreate(t, p, stNetrcEntries(), id)
	f := stLoad(t, p, id)
	if !f.CarriesNetrc() {
		t.Fatal("an .age store does not carry netrc credentials")
	}
	got := f.Entries()
	want := stNetrcEntries()
	// The access tokens come first, in the line's order; then the netrc
	// credentials kept in comments.
	want = []Entry{want[0], want[2], want[1]}
	if !slices.EqualFunc(got, want, func(a, b Entry) bool {
		return a.Host == b.Host && a.Token == b.Token && a.Use == b.Use && a.Login == b.Login && a.Provider == b.Provider
	}) {
		t.Fatalf("entries after a round trip:\n%+v\nwant\n%+v", got, want)
	}
	plain := string(f.st.(*ageStore).plaintext())
	for _, w := range []string{
		"# nix-auth: host=codeberg.org provider=forgejo user=ferris use=both login=ferris\n",
		"# nix-auth: host=cache.example.com:8443/main provider=cache use=netrc login=x-access-token token=eyJTESTCACHE.0005\n",
		"\naccess-tokens = codeberg.org=TESTTOKEN0004 github.com=ghp_TESTTOKEN0000000000000000000000000001\n",
	} {
		if !strings.Contains(plain, w) {
			t.Errorf("plaintext lacks %q:\n%s", w, plain)
		}
	}
	es, _, err := ParseFragment("agenix-output", []byte(plain))
	if err != nil || len(es) != 3 || es[2].Use != UseNetrc || es[2].Token != "eyJTESTCACHE.0005" {
		t.Fatalf("ParseFragment: %+v %v", es, err)
	}

	// Only netrc credentials: no access-tokens line at all, which would
	// wipe the tokens set before the include.
	p2 := filepath.Join(t.TempDir(), "caches.age")
	stCreate(t, p2, stNetrcEntries()[1:2], id)
	if plain := string(stLoad(t, p2, id).st.(*ageStore).plaintext()); strings.Contains(plain, "access-tokens =") {
		t.Errorf("a store of netrc credentials has an access-tokens line:\n%s", plain)
	}
}

func TestAgeStoreNetrcHandEdited(t *testing.T) {
	t.Parallel()
	// A token in the line is an access token, whatever its comment says.
	es, _, err := ParseFragment("f", []byte("# nix-auth: host=codeberg.org use=netrc login=u token=OTHER\naccess-tokens = codeberg.org=TOK\n"))
	if err != nil || len(es) != 1 || es[0].Use != UseBoth || es[0].Token != "TOK" {
		t.Fatalf("%+v %v", es, err)
	}
	_, _, err = ParseFragment("f", []byte("# nix-auth: host=x.example.com use=bogus\n"))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "use must be") {
		t.Fatalf("unknown use: %v", err)
	}
}

func TestCheckNetrc(t *testing.T) {
	t.Parallel()
	ok := Entry{Host: "cache.example.com", Token: "tok", Use: UseNetrc, Login: "alice"}
	if err := checkEntry(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e    Entry
		want string
	}{
		{Entry{Host: "cache.example.com", Token: "tok", Use: "sometimes"}, "use must be"},
		{Entry{Host: "cache.example.com", Token: "tok", Use: UseNetrc}, "has no login"},
		{Entry{Host: "cache.example.com", Token: "tok", Login: "alice"}, "goes to access-tokens only"},
		{Entry{Host: "[::1]:8443", Token: "tok", Use: UseNetrc, Login: "a"}, "IPv4"},
		{Entry{Host: "cache.example.com", Token: "tok", Use: UseBoth, Login: "a b"}, "whitespace"},
		{Entry{Host: "cache.example.com", Token: "\"tok\"", Use: UseNetrc, Login: "a"}, "quote"},
		{Entry{Host: "cache.example.com", Token: "machine", Use: UseNetrc, Login: "a"}, "keywords"},
	} {
		if err := checkEntry(c.e); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.e, err, c.want)
		}
	}
	// A sops store has no use and login fields yet: it refuses netrc
	// credentials rather than render them into access-tokens.
	id := stKey(t)
	f, err := Create(filepath.Join(t.TempDir(), "tokens.yaml"), stRecips(id))
	if err != nil {
		t.Fatal(err)
	}
	if f.CarriesNetrc() {
		t.Fatal("a sops store claims to carry netrc credentials")
	}
	if err := f.Put(ok); !errors.Is(err, ErrNoNetrc) || !strings.Contains(err.Error(), "cannot hold a binary cache's credential") {
		t.Fatalf("sops Put of a netrc credential: %v", err)
	}
}
