package crypt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
		"\nextra-access-tokens = codeberg.org=TESTTOKEN0004 github.com=ghp_TESTTOKEN0000000000000000000000000001\n",
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
}

// TestSopsStoreCarriesNetrc: a sops store keeps use and login in its
// schema, YAML and JSON; the real `sops decrypt` reads them; they stay
// readable without a key (status --file), a login is no secret, and the
// token of a netrc credential is encrypted like any other; the tree
// sops-nix deploys reads back the same.
func TestSopsStoreCarriesNetrc(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	// The sops store keeps hosts sorted.
	want := stNetrcEntries()
	want = []Entry{want[1], want[0], want[2]}
	for _, name := range []string{"tokens.yaml", "tokens.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, name)
			stCreate(t, p, stNetrcEntries(), id)
			f := stLoad(t, p, id)
			stSameEntries(t, f.Entries(), want)

			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"TESTTOKEN0004", "eyJTESTCACHE.0005"} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("a token is in clear in %s", name)
				}
			}
			m, err := LoadMeta(p)
			if err != nil {
				t.Fatal(err)
			}
			stSameEntries(t, m.Entries, []Entry{
				{Host: want[0].Host, Provider: "cache", Use: UseNetrc, Login: "x-access-token"},
				{Host: want[1].Host, Provider: "forgejo", User: "ferris", Use: UseBoth, Login: "ferris"},
				{Host: want[2].Host, Provider: "github", User: "octocat"},
			})
			if m.Hidden || len(m.Cleartext) > 0 {
				t.Errorf("LoadMeta: hidden %v, cleartext %v", m.Hidden, m.Cleartext)
			}

			// The oracle: sops decrypts what nix-auth wrote, fields and all;
			// its output is what sops-nix deploys and render --plain reads.
			out := stRun(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "decrypt", name)
			var tree struct {
				Hosts map[string]map[string]any `json:"hosts" yaml:"hosts"`
			}
			if err := yaml.Unmarshal(out, &tree); err != nil {
				t.Fatalf("sops decrypt output: %v\n%s", err, out)
			}
			cache := tree.Hosts["cache.example.com:8443/main"]
			cb := tree.Hosts["codeberg.org"]
			gh := tree.Hosts["github.com"]
			if cache["use"] != "netrc" || cache["login"] != "x-access-token" || cache["token"] != "eyJTESTCACHE.0005" ||
				cb["use"] != "both" || cb["login"] != "ferris" || cb["token"] != "TESTTOKEN0004" {
				t.Errorf("sops decrypt lost use, login or a token:\n%s", out)
			}
			if _, ok := gh["use"]; ok || gh["login"] != nil {
				t.Errorf("an access token alone has use or login fields:\n%s", out)
			}
			es, err := ReadDecrypted("/run/secrets/tokens", out, stNow())
			if err != nil {
				t.Fatal(err)
			}
			stSameEntries(t, es, want)

			// sops set changes a use; nix-auth reads the change.
			stRun(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "set", name, `["hosts"]["codeberg.org"]["use"]`, `"netrc"`)
			f = stLoad(t, p, id)
			if e, _ := f.Entry("codeberg.org"); e.Use != UseNetrc || e.Login != "ferris" || e.Token != "TESTTOKEN0004" {
				t.Errorf("after sops set: use %q login %q", e.Use, e.Login)
			}

			// A rewrite that drops the netrc use drops the login with it.
			e, _ := f.Entry("codeberg.org")
			e.Use, e.Login = UseAccessTokens, ""
			if err := f.Put(e); err != nil {
				t.Fatal(err)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			if got, _ := stLoad(t, p, id).Entry("codeberg.org"); got.Use != "" || got.Login != "" {
				t.Errorf("after dropping netrc: use %q login %q", got.Use, got.Login)
			}
		})
	}
}

// TestSopsSchemaNetrc: use is a string ParseUse knows, login a string,
// and only on an entry whose use says netrc; the error names the field.
func TestSopsSchemaNetrc(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	const cache = "cache.example.com:8443/main"
	cases := []stSchemaCase{
		{"use is a number", cache, "use", "not a string", func(d []treeBranch) { stSetField(stHostFields(t, d, cache), "use", 1) }},
		{"use is a bool", cache, "use", "not a string", func(d []treeBranch) { stSetField(stHostFields(t, d, cache), "use", true) }},
		{"use is a list", cache, "use", "not a string", func(d []treeBranch) { stSetField(stHostFields(t, d, cache), "use", []any{"netrc"}) }},
		{"use is unknown", cache, "use", "use must be access-tokens, netrc or both", func(d []treeBranch) {
			stSetField(stHostFields(t, d, cache), "use", "Netrc")
		}},
		{"login is a list", cache, "login", "not a string", func(d []treeBranch) {
			stSetField(stHostFields(t, d, cache), "login", []any{"a", "b"})
		}},
		{"login without netrc", "github.com", "login", "goes to access-tokens only", func(d []treeBranch) {
			// A new field: the host's mapping grows.
			hosts, _, _ := hostsBranch("", d)
			for i := range hosts {
				if hosts[i].Key == "github.com" {
					hosts[i].Value = stSetField(hosts[i].Value.(treeBranch), "login", "octocat")
				}
			}
		}},
		{"netrc without login", cache, "login", "has no login", func(d []treeBranch) {
			stSetField(stHostFields(t, d, cache), "login", nil)
		}},
		{"login with a space", "codeberg.org", "login", "whitespace", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "codeberg.org"), "login", "fer ris")
		}},
		{"netrc for an IPv6 address", "[::1]:8443", "use", "host name or IPv4", func(d []treeBranch) {
			hosts, _, _ := hostsBranch("", d)
			for i := range hosts {
				if hosts[i].Key == cache {
					hosts[i].Key = "[::1]:8443"
				}
			}
		}},
	}
	stRunSchemaCases(t, id, stNetrcEntries(), cases)
}
