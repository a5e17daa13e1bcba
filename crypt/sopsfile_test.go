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
	"time"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"
)

const stFixtures = "../testdata/crypt/stores"

func stFixtureKey(t testing.TB) *age.X25519Identity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stFixtures, "test-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return ids[0].(*age.X25519Identity)
}

// stFixtureEntries is what plain.yaml holds.
func stFixtureEntries() []Entry {
	return []Entry{
		{Host: "github.com", Token: "ghp_FIXTURETOKEN000000000000000000000001", Provider: "github", User: "octocat",
			Scopes: []string{"repo", "read:org"}, Created: stT0},
		{Host: "gitlab.com", Token: "OAuth2:glo-FIXTURETOKEN0002", Provider: "gitlab", User: "tanuki",
			Expires: stT0.Add(2 * time.Hour), RefreshToken: "glrt-FIXTUREREFRESH0003"},
	}
}

// stSopsDecrypt runs the real `sops -d` and parses its output.
func stSopsDecrypt(t testing.TB, path string, id *age.X25519Identity) map[string]any {
	t.Helper()
	out := stRun(t, filepath.Dir(path), []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "decrypt", filepath.Base(path))
	var m map[string]any
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatalf("sops -d output: %v", err)
	}
	return m
}

func stHostValue(t testing.TB, m map[string]any, host, field string) any {
	t.Helper()
	hosts, _ := m["hosts"].(map[string]any)
	h, _ := hosts[host].(map[string]any)
	if h == nil {
		t.Fatalf("host %s missing in sops -d output", host)
	}
	return h[field]
}

// stCopy copies a fixture into dir.
func stCopy(t testing.TB, name, dir, as string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, as)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// stSopsEncryptFresh makes the same files as the fixtures with the real
// `sops encrypt` and a .sops.yaml now, so both the committed files and
// the current CLI are covered.
func stSopsEncryptFresh(t testing.TB, id *age.X25519Identity) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("creation_rules:\n    - path_regex: regex\\.(yaml|json)$\n      encrypted_regex: ^(token|refresh_token)$\n      age: %s\n    - path_regex: all\\.yaml$\n      age: %s\n",
		id.Recipient(), id.Recipient())
	if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	stCopy(t, "plain.yaml", dir, "regex.yaml")
	stCopy(t, "plain.yaml", dir, "all.yaml")
	stRun(t, dir, nil, nil, "sops", "encrypt", "-i", "regex.yaml")
	stRun(t, dir, nil, nil, "sops", "encrypt", "-i", "all.yaml")
	// JSON: the same tree, decrypted from the YAML by sops itself.
	plain := stRun(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "decrypt", "--output-type", "json", "regex.yaml")
	if err := os.WriteFile(filepath.Join(dir, "regex.json"), plain, 0o644); err != nil {
		t.Fatal(err)
	}
	stRun(t, dir, nil, nil, "sops", "encrypt", "-i", "regex.json")
	return dir
}

// TestSopsReadsCLIFiles: files made by `sops encrypt` with .sops.yaml
// rules (encrypted_regex, or every value encrypted) load, show their
// metadata as far as the rules allow, and take a new host under their own
// rules, keeping other keys and comments; sops still decrypts the result.
func TestSopsReadsCLIFiles(t *testing.T) {
	t.Parallel()
	fixtureKey, freshKey := stFixtureKey(t), stKey(t)
	freshDir := stSopsEncryptFresh(t, freshKey)
	for _, src := range []struct {
		name string
		id   *age.X25519Identity
		from string // fixture name, or file in freshDir
		all  bool
	}{
		{"fixture regex yaml", fixtureKey, "sops-encrypt-regex.yaml", false},
		{"fixture regex json", fixtureKey, "sops-encrypt-regex.json", false},
		{"fixture all encrypted", fixtureKey, "sops-encrypt-all.yaml", true},
		{"fresh regex yaml", freshKey, filepath.Join(freshDir, "regex.yaml"), false},
		{"fresh regex json", freshKey, filepath.Join(freshDir, "regex.json"), false},
		{"fresh all encrypted", freshKey, filepath.Join(freshDir, "all.yaml"), true},
	} {
		t.Run(src.name, func(t *testing.T) {
			dir := t.TempDir()
			ext := filepath.Ext(src.from)
			var p string
			if filepath.IsAbs(src.from) {
				b, _ := os.ReadFile(src.from)
				p = filepath.Join(dir, "tokens"+ext)
				os.WriteFile(p, b, 0o644)
			} else {
				p = stCopy(t, src.from, dir, "tokens"+ext)
			}
			f := stLoad(t, p, src.id)
			stSameEntries(t, f.Entries(), stFixtureEntries())

			m, err := LoadMeta(p)
			if err != nil {
				t.Fatal(err)
			}
			if m.Hidden != src.all {
				t.Errorf("Meta.Hidden = %v, want %v", m.Hidden, src.all)
			}
			if !src.all {
				want := stFixtureEntries()
				for i := range want {
					want[i].Token, want[i].RefreshToken = "", ""
				}
				stSameEntries(t, m.Entries, want)
			} else if got := hostList(m.Entries); !slices.Equal(got, []string{"github.com", "gitlab.com"}) {
				t.Errorf("hosts of an all-encrypted file = %v", got)
			}

			add := Entry{Host: "codeberg.org", Token: "FIXTURETOKEN0006", Provider: "forgejo", User: "ferris"}
			if err := f.Put(add); err != nil {
				t.Fatal(err)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(p)
			if bytes.Contains(raw, []byte("FIXTURETOKEN0006")) {
				t.Error("the new token is in plaintext")
			}
			if got := bytes.Contains(raw, []byte("ferris")); got == src.all {
				t.Errorf("new user readable = %v; the file's rules say encrypt all = %v", got, src.all)
			}
			out := stSopsDecrypt(t, p, src.id)
			if stHostValue(t, out, "codeberg.org", "token") != add.Token || stHostValue(t, out, "github.com", "user") != "octocat" {
				t.Error("sops -d does not show the added host and the old ones")
			}
			if out["other_secret"] != "keep-me" {
				t.Errorf("other top-level key lost: %v", out["other_secret"])
			}
			if src.all && !bytes.Contains(raw, []byte("type:comment]")) && ext == ".yaml" {
				t.Error("the encrypted comment was lost")
			}
			// Sorted hosts stay sorted.
			stSameEntries(t, stLoad(t, p, src.id).Entries(), append([]Entry{add}, stFixtureEntries()...))
		})
	}
}

// TestSopsCLIReadsOurs: `sops -d` decrypts what we write, YAML and JSON.
func TestSopsCLIReadsOurs(t *testing.T) {
	id, id2 := stKey(t), stKey(t)
	for _, name := range []string{"t.yaml", "t.json"} {
		p := filepath.Join(t.TempDir(), name)
		stCreate(t, p, stEntries(), id, id2)
		for _, k := range []*age.X25519Identity{id, id2} {
			out := stSopsDecrypt(t, p, k)
			for _, e := range stEntries() {
				if stHostValue(t, out, e.Host, "token") != e.Token {
					t.Errorf("%s: sops -d shows another token for %s", name, e.Host)
				}
				if e.RefreshToken != "" && stHostValue(t, out, e.Host, "refresh_token") != e.RefreshToken {
					t.Errorf("%s: sops -d shows another refresh token for %s", name, e.Host)
				}
				if stHostValue(t, out, e.Host, "user") != e.User {
					t.Errorf("%s: sops -d shows another user for %s", name, e.Host)
				}
			}
			if got := stHostValue(t, out, "github.com", "created"); got != "2026-11-24T21:00:00Z" {
				t.Errorf("created = %v", got)
			}
		}
	}
}

// TestSopsSchema pins the readable layout of our files.
func TestSopsSchema(t *testing.T) {
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "t.yaml")
	stCreate(t, p, stEntries()[1:], id)
	raw, _ := os.ReadFile(p)
	for _, want := range []string{
		"hosts:\n    github.com:\n        token: ENC[AES256_GCM,",
		"\n        provider: github\n        user: octocat\n        scopes:\n            - repo\n            - read:org\n        created: \"2026-11-24T21:00:00Z\"\n    gitlab.com:\n",
		"\n        expires: \"2026-11-24T23:00:00Z\"\n        refresh_token: ENC[AES256_GCM,",
		"\n        client_id: 3f1e0123456789abcdef\n",
		"\nsops:\n    age:\n        - enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n",
		"          recipient: " + id.Recipient().String() + "\n",
		"\n    encrypted_regex: ^(token|refresh_token)$\n    lastmodified: \"",
		"\n    mac: ENC[AES256_GCM,",
		"\n    version: 3.13.3\n",
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("file lacks %q:\n%s", want, raw)
		}
	}
}

// TestSopsUpdatekeysOnOurs: the real `sops updatekeys` re-wraps our data
// key for a .sops.yaml's recipients; we read the result with the new key,
// and the values and MAC are untouched.
func TestSopsUpdatekeysOnOurs(t *testing.T) {
	id1, id2 := stKey(t), stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	stCreate(t, p, stEntries(), id1)
	before, _ := os.ReadFile(p)
	cfg := fmt.Sprintf("creation_rules:\n    - path_regex: t\\.yaml$\n      age: %s,%s\n", id1.Recipient(), id2.Recipient())
	os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(cfg), 0o644)
	stRun(t, dir, []string{"SOPS_AGE_KEY=" + id1.String()}, nil, "sops", "updatekeys", "-y", "t.yaml")
	f := stLoad(t, p, id2)
	stSameEntries(t, f.Entries(), stEntries())
	if got := ages(f.Recipients()); !slices.Equal(got, stAges(id1, id2)) {
		t.Errorf("recipients after updatekeys = %v", got)
	}
	after, _ := os.ReadFile(p)
	if a, b := stValueLines(before), stValueLines(after); !slices.Equal(a, b) {
		t.Errorf("updatekeys changed values:\n%v\n%v", a, b)
	}
}

// stValueLines are the lines outside the sops age block: data, mac,
// lastmodified.
func stValueLines(b []byte) []string {
	var out []string
	inAge := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case l == "    age:":
			inAge = true
			continue
		case inAge && strings.HasPrefix(l, "        "):
			continue
		}
		inAge = false
		out = append(out, l)
	}
	return out
}

// TestSopsSetOnOurs: the real `sops set` (what `sops edit` does without
// an editor) changes our file; we read the change and the untouched
// token.
func TestSopsSetOnOurs(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	stCreate(t, p, stEntries(), id)
	env := []string{"SOPS_AGE_KEY=" + id.String()}
	stRun(t, dir, env, nil, "sops", "set", "t.yaml", `["hosts"]["github.com"]["user"]`, `"hubot"`)
	stRun(t, dir, env, []byte(`"TESTTOKEN0007"`), "sops", "set", "--value-stdin", "t.yaml", `["hosts"]["git.sr.ht"]["token"]`)
	want := stEntries()
	want[1].User = "hubot"
	want = append(want, Entry{Host: "git.sr.ht", Token: "TESTTOKEN0007"})
	stSameEntries(t, stLoad(t, p, id).Entries(), want)
	raw, _ := os.ReadFile(p)
	if bytes.Contains(raw, []byte("TESTTOKEN0007")) {
		t.Error("sops left the token in plaintext (our encrypted_regex was not kept)")
	}

	// And an editor run by `sops edit`: a script that appends a host to
	// the decrypted text, which ends with the hosts mapping.
	script := filepath.Join(dir, "editor.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nprintf '    edited.example:\\n        token: TESTTOKEN0008\\n        user: ed\\n' >> \"$1\"\n"), 0o755)
	stRun(t, dir, append(env, "EDITOR="+script), nil, "sops", "edit", "t.yaml")
	f := stLoad(t, p, id)
	if e, ok := f.Entry("edited.example"); !ok || e.Token != "TESTTOKEN0008" || e.User != "ed" {
		t.Errorf("host added by sops edit: %+v %v", e.Host, ok)
	}
}

// stDiff returns the lines removed from a and added in b, by longest
// common subsequence, as a line diff shows them.
func stDiff(a, b []string) (removed, added []string) {
	n, m := len(a), len(b)
	l := make([][]int32, n+1)
	for i := range l {
		l[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			i++
			j++
		case l[i+1][j] >= l[i][j+1]:
			removed = append(removed, a[i])
			i++
		default:
			added = append(added, b[j])
			j++
		}
	}
	return append(removed, a[i:]...), append(added, b[j:]...)
}

func stManyHosts(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Host: fmt.Sprintf("git%03d.example.com", i), Token: fmt.Sprintf("glpat-TESTTOKEN%05d", i),
			Provider: "gitlab", User: fmt.Sprintf("user%d", i), Scopes: []string{"read_api"}, Created: stT0}
	}
	return es
}

// TestSopsGitDiff: adding one host to a 200-host file changes only that
// host's lines plus mac and lastmodified; replacing one host's token
// changes only its token line plus mac and lastmodified.
func TestSopsGitDiff(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "t.yaml")
	stCreate(t, p, stManyHosts(200), id)
	before, _ := os.ReadFile(p)
	// lastmodified has one-second resolution: make sure it moves.
	time.Sleep(1100 * time.Millisecond)

	f := stLoad(t, p, id)
	add := Entry{Host: "git100a.example.com", Token: "glpat-TESTTOKENNEW", Provider: "gitlab", User: "new", Created: stT0}
	if err := f.Put(add); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p)
	removed, added := stDiff(strings.Split(string(before), "\n"), strings.Split(string(after), "\n"))
	if len(removed) != 2 || !strings.HasPrefix(removed[0], "    lastmodified: ") || !strings.HasPrefix(removed[1], "    mac: ENC[") {
		t.Errorf("removed lines: %q", removed)
	}
	wantAdded := []string{"    git100a.example.com:", "        token: ENC[", "        provider: gitlab", "        user: new",
		"        created: \"2026-11-24T21:00:00Z\"", "    lastmodified: ", "    mac: ENC["}
	if len(added) != len(wantAdded) {
		t.Fatalf("added lines: %q", added)
	}
	for i, w := range wantAdded {
		if !strings.HasPrefix(added[i], w) {
			t.Errorf("added line %d = %q, want %q...", i, added[i], w)
		}
	}
	stSameEntries(t, stLoad(t, p, id).Entries(), slices.Insert(stManyHosts(200), 101, add))

	// Replace one token, then save a second time through the same File:
	// values written by the first save stay as they are too.
	before = after
	time.Sleep(1100 * time.Millisecond)
	rep := stManyHosts(200)[7]
	rep.Token = "glpat-TESTTOKENROTATED"
	if err := f.Put(rep); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	after, _ = os.ReadFile(p)
	removed, added = stDiff(strings.Split(string(before), "\n"), strings.Split(string(after), "\n"))
	if len(removed) != 3 || len(added) != 3 || !strings.HasPrefix(added[0], "        token: ENC[") ||
		!strings.HasPrefix(added[1], "    lastmodified: ") || !strings.HasPrefix(added[2], "    mac: ENC[") {
		t.Errorf("replacing one token: removed %q, added %q", removed, added)
	}
}

// TestSopsKeepsUserEdits: keys and comments a user added to a host or to
// the file survive a Put of that host.
func TestSopsKeepsUserEdits(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	stCreate(t, p, stEntries(), id)
	env := []string{"SOPS_AGE_KEY=" + id.String()}
	stRun(t, dir, env, nil, "sops", "set", "t.yaml", `["hosts"]["github.com"]["note"]`, `"CI account"`)
	stRun(t, dir, env, nil, "sops", "set", "t.yaml", `["deploy"]`, `{"region": "eu"}`)
	f := stLoad(t, p, id)
	e, _ := f.Entry("github.com")
	e.Token, e.Scopes, e.Expires = "ghp_TESTTOKENNEW", []string{"repo"}, stT0.AddDate(0, 1, 0)
	if err := f.Put(e); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	out := stSopsDecrypt(t, p, id)
	if stHostValue(t, out, "github.com", "note") != "CI account" || stHostValue(t, out, "github.com", "token") != "ghp_TESTTOKENNEW" {
		t.Error("the user's key in the host or the new token is missing")
	}
	if d, _ := out["deploy"].(map[string]any); d["region"] != "eu" {
		t.Errorf("top-level key lost: %v", out["deploy"])
	}
}

// TestNumericTokenRefused: a token written by hand without quotes is a
// YAML number to sops, and its leading zeros are gone; loading it must
// fail rather than hand Nix a different token.
func TestNumericTokenRefused(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("creation_rules:\n    - path_regex: .*\\.yaml$\n      encrypted_regex: ^(token|refresh_token)$\n      age: %s\n", id.Recipient())
	if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := "hosts:\n    codeberg.org:\n        token: 0000000000000000000000000000000000000002\n"
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	stRun(t, dir, nil, nil, "sops", "encrypt", "-i", "t.yaml")
	_, err := Load(filepath.Join(dir, "t.yaml"), []age.Identity{id}, nil, stNow)
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "token is not a string") {
		t.Fatalf("Load = %v, want the numeric token refused", err)
	}
}
