package crypt

// The interop matrix: files the real sops CLI (tools/go.mod) encrypts
// under every rule kind are read by nix-auth's own sops code exactly as
// `sops decrypt` reads them, and written back byte for byte; every
// tampering that `sops decrypt` rejects, nix-auth rejects too.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/age"
)

// siPlain has what sops files hold: nested mappings, ints, floats,
// booleans, null, a timestamp, lists of every kind, multi-line strings,
// comments (head, inline, in lists, at the end) and a second document.
// "# sops:enc" and "# sops:plain" drive the comment-regex rules.
const siPlain = `# top comment
hosts: # hosts comment
    github.com:
        # sops:enc
        token: ghp_RICHTOKEN-0001 # inline
        provider: github
        # sops:plain
        user: octocat
        scopes:
            # the scopes
            - repo
            - read:org
        created: "2026-11-24T21:00:00Z"
        expires: "2026-12-24T21:00:00Z"
count: 42
ratio: 1.5
enabled: true
disabled: false
nothing: null
when: 2026-01-01T00:00:00Z
multi: |
    line one
    line two
folded: >
    folded
    text
list:
    - 1
    - two
    - true
    - nested: map
      n: 3
    - [a, b]
nested:
    deeper:
        api_secret: s3cr3t
        note_unencrypted: visible
# a comment at the end
---
second: document
n: 2
`

// siPlainJSON is the same kind of tree as JSON.
const siPlainJSON = `{
	"hosts": {
		"github.com": {
			"token": "ghp_RICHTOKEN-0001",
			"provider": "github",
			"user": "octocat",
			"scopes": ["repo", "read:org"],
			"created": "2026-11-24T21:00:00Z"
		}
	},
	"count": 42,
	"big": 12345678901234567890,
	"ratio": 1.5,
	"exp": 1e300,
	"enabled": true,
	"nothing": null,
	"html": "<a href=\"x\">&amp;</a>",
	"list": [1, "two", false, {"nested": "map"}, [], {}],
	"multi": "line one\nline two\n"
}
`

// siRules are the .sops.yaml rule kinds, by file name; tokenClear says the
// rule leaves the token unencrypted, which nix-auth refuses.
var siRules = []struct {
	file, rule string
	tokenClear bool
}{
	{"all.yaml", "", false},
	{"encregex.yaml", "encrypted_regex: ^(token|api_secret)$", false},
	{"unencregex.yaml", "unencrypted_regex: ^(provider|user|scopes|created|expires|second)$", false},
	{"encsuffix.yaml", "encrypted_suffix: _secret", true},
	{"unencsuffix.yaml", "unencrypted_suffix: _unencrypted", false},
	{"enccomment.yaml", "encrypted_comment_regex: sops:enc", false},
	{"unenccomment.yaml", "unencrypted_comment_regex: sops:plain", false},
	{"maconly.yaml", "encrypted_regex: ^(token|api_secret)$\n      mac_only_encrypted: true", false},
	{"all.json", "", false},
	{"encregex.json", "encrypted_regex: ^token$", false},
}

// siEncrypt makes every rule kind's file with `sops encrypt`, plus a file
// split over two key groups (threshold 2) and one with a pgp stanza beside
// its age key; it returns the directory.
func siEncrypt(t *testing.T, id, id2 *age.X25519Identity) string {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("creation_rules:\n")
	for _, r := range siRules {
		fmt.Fprintf(&cfg, "    - path_regex: ^%s$\n      age: %s\n", strings.ReplaceAll(r.file, ".", `\.`), id.Recipient())
		if r.rule != "" {
			fmt.Fprintf(&cfg, "      %s\n", r.rule)
		}
	}
	fmt.Fprintf(&cfg, "    - path_regex: ^shamir\\.yaml$\n      shamir_threshold: 2\n      key_groups:\n          - age: [%s]\n          - age: [%s]\n", id.Recipient(), id2.Recipient())
	fmt.Fprintf(&cfg, "    - path_regex: ^pgp\\.yaml$\n      age: %s\n", id.Recipient())
	writeFile(t, filepath.Join(dir, ".sops.yaml"), []byte(cfg.String()))
	names := []string{"shamir.yaml", "pgp.yaml"}
	for _, r := range siRules {
		names = append(names, r.file)
	}
	for _, n := range names {
		plain := siPlain
		if strings.HasSuffix(n, ".json") {
			plain = siPlainJSON
		}
		writeFile(t, filepath.Join(dir, n), []byte(plain))
		stRun(t, dir, nil, nil, "sops", "encrypt", "-i", n)
	}
	stInsertPGP(t, filepath.Join(dir, "pgp.yaml"))
	return dir
}

// siDecrypt is `sops decrypt`'s output, or its error.
func siDecrypt(t *testing.T, path string, ids ...*age.X25519Identity) ([]byte, error) {
	t.Helper()
	var keys []string
	for _, id := range ids {
		keys = append(keys, id.String())
	}
	return stRunErr(t, filepath.Dir(path), []string{"SOPS_AGE_KEY=" + strings.Join(keys, "\n")}, nil, "sops", "decrypt", filepath.Base(path))
}

// siEmitPlain is what `sops decrypt` prints for a decrypted tree.
func siEmitPlain(t *testing.T, s *sopsStore) []byte {
	t.Helper()
	out, err := s.emit(s.docs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func siIDs(ids ...*age.X25519Identity) []age.Identity {
	var l []age.Identity
	for _, id := range ids {
		l = append(l, id)
	}
	return l
}

// TestSopsInteropRead: for every rule kind, the tree nix-auth decrypts is
// the one `sops decrypt` prints, byte for byte; an untouched file is
// written back byte for byte; a file re-encrypted by nix-auth (same data
// key, remembered IVs, new MAC and lastmodified) decrypts with sops to
// what nix-auth reads from it; a rule that leaves the token in clear is
// refused by Load.
func TestSopsInteropRead(t *testing.T) {
	t.Parallel()
	id, id2 := stKey(t), stKey(t)
	dir := siEncrypt(t, id, id2)
	cases := []struct {
		file       string
		ids        []*age.X25519Identity
		tokenClear bool
	}{
		{"shamir.yaml", []*age.X25519Identity{id, id2}, false},
		{"pgp.yaml", []*age.X25519Identity{id}, false},
	}
	for _, r := range siRules {
		cases = append(cases, struct {
			file       string
			ids        []*age.X25519Identity
			tokenClear bool
		}{r.file, []*age.X25519Identity{id}, r.tokenClear})
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			p := filepath.Join(dir, c.file)
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			want, err := siDecrypt(t, p, c.ids...)
			if err != nil {
				t.Fatalf("sops decrypt: %v\n%s", err, want)
			}
			s, _, err := openSops(p, raw, siIDs(c.ids...), nil)
			if err != nil {
				t.Fatalf("openSops: %v", err)
			}
			if got := siEmitPlain(t, s); !bytes.Equal(got, want) {
				t.Errorf("decrypted tree differs from sops decrypt:\n--- ours\n%s\n--- sops\n%s", got, want)
			}

			out, err := s.marshal(stNow(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, raw) {
				t.Errorf("an untouched file is not written back byte for byte:\n--- ours\n%s\n--- sops\n%s", out, raw)
			}

			if !c.tokenClear {
				siReencrypt(t, s, c.file, c.ids)
			}
			f, err := Load(p, siIDs(c.ids...), nil, stNow)
			if c.tokenClear {
				if !errors.Is(err, ErrCleartext) || !strings.Contains(err.Error(), "encrypted_suffix") {
					t.Errorf("Load of a file whose rules leave the token in clear = %v", err)
				}
				if m, err := LoadMeta(p); err != nil || !slices.Equal(m.Cleartext, []string{"github.com"}) {
					t.Errorf("LoadMeta.Cleartext = %v, %v", m, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if e, ok := f.Entry("github.com"); !ok || e.Token != "ghp_RICHTOKEN-0001" || e.User != "octocat" {
				t.Errorf("entry = %v %v", e.Host, ok)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "shamir.yaml"), siIDs(id), nil, stNow); !errors.Is(err, ErrWrongKey) {
		t.Errorf("one key of two Shamir groups decrypted: %v", err)
	}
}

// siReencrypt has nix-auth encrypt a decrypted file again (same data key,
// remembered IVs, new MAC and lastmodified), as a Put does; `sops decrypt`
// must read the result as nix-auth does. Encrypted comments come back as
// sops leaves them after decryption (an inline one on its own line).
func siReencrypt(t *testing.T, s *sopsStore, file string, ids []*age.X25519Identity) {
	t.Helper()
	s.dirty = true
	out, err := s.marshal(stNow(), nil)
	if err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(t.TempDir(), file)
	writeFile(t, q, out)
	want, err := siDecrypt(t, q, ids...)
	if err != nil {
		t.Fatalf("sops decrypt of the file nix-auth re-encrypted: %v\n%s\n%s", err, want, out)
	}
	s2, _, err := openSops(q, out, siIDs(ids...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := siEmitPlain(t, s2); !bytes.Equal(got, want) {
		t.Errorf("after re-encryption:\n--- ours\n%s\n--- sops\n%s", got, want)
	}
}

// siTamper changes a file the way someone without the key could.
type siTamper struct {
	name string
	f    func([]byte) []byte
}

func siTampers(raw []byte) []siTamper {
	replaceNth := func(b []byte, old, new string, n int) []byte {
		parts := bytes.SplitAfterN(b, []byte(old), n+1)
		if len(parts) <= n {
			return nil
		}
		last := parts[n-1]
		parts[n-1] = append(slices.Clone(last[:len(last)-len(old)]), new...)
		return bytes.Join(parts, nil)
	}
	encValues := func(b []byte) [][]byte {
		var out [][]byte
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte("ENC[AES256_GCM,"))
			if j < 0 {
				return out
			}
			k := bytes.IndexByte(b[i+j:], ']')
			out = append(out, b[i+j:i+j+k+1])
			i += j + k + 1
		}
	}
	flipIn := func(b []byte, marker string, off int) []byte {
		i := bytes.Index(b, []byte(marker))
		if i < 0 {
			return nil
		}
		c := slices.Clone(b)
		c[i+len(marker)+off] ^= 0x01
		return c
	}
	ts := []siTamper{
		{"value ciphertext bit", func(b []byte) []byte { return flipIn(b, "token: ENC[AES256_GCM,data:", 1) }},
		{"json value ciphertext bit", func(b []byte) []byte { return flipIn(b, `"token": "ENC[AES256_GCM,data:`, 1) }},
		{"iv bit", func(b []byte) []byte { return flipIn(b, ",iv:", 2) }},
		{"tag bit", func(b []byte) []byte { return flipIn(b, ",tag:", 2) }},
		{"type changed", func(b []byte) []byte { return replaceNth(b, "type:str]", "type:int]", 1) }},
		{"mac bit", func(b []byte) []byte { return flipIn(b, "mac: ENC[AES256_GCM,data:", 3) }},
		{"json mac bit", func(b []byte) []byte { return flipIn(b, `"mac": "ENC[AES256_GCM,data:`, 3) }},
		{"lastmodified changed", func(b []byte) []byte { return replaceNth(b, "lastmodified: \"20", "lastmodified: \"19", 1) }},
		{"json lastmodified changed", func(b []byte) []byte { return replaceNth(b, `"lastmodified": "20`, `"lastmodified": "19`, 1) }},
		{"mac removed", func(b []byte) []byte { return replaceNth(b, "mac: ENC[", "mac: X[", 1) }},
		{"clear value changed", func(b []byte) []byte { return replaceNth(b, "octocat", "mallory", 1) }},
		{"clear int changed", func(b []byte) []byte { return replaceNth(b, "count: 42", "count: 43", 1) }},
		{"clear value moved between keys", func(b []byte) []byte {
			return replaceNth(replaceNth(b, "provider: github", "provider: octocat", 1), "user: octocat", "user: github", 1)
		}},
		{"plaintext where ciphertext belongs", func(b []byte) []byte { return replaceNth(b, "token: ENC[", "token: SECRETPLAIN ENC[", 1) }},
		{"rule removed", func(b []byte) []byte {
			for _, k := range []string{"encrypted_regex", "unencrypted_regex", "encrypted_suffix", "encrypted_comment_regex", "unencrypted_comment_regex"} {
				if c := replaceNth(b, "    "+k+": ", "    x_"+k+": ", 1); c != nil {
					return c
				}
			}
			return nil
		}},
		{"mac_only_encrypted removed", func(b []byte) []byte {
			return replaceNth(b, "mac_only_encrypted: true", "mac_only_encrypted: false", 1)
		}},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated before the mac", func(b []byte) []byte {
			if i := bytes.Index(b, []byte("mac")); i > 0 {
				return b[:i]
			}
			return nil
		}},
		{"last line cut", func(b []byte) []byte { return b[:bytes.LastIndexByte(b[:len(b)-1], '\n')+1] }},
		{"document dropped", func(b []byte) []byte {
			if i := bytes.Index(b, []byte("\n---\n")); i > 0 {
				return b[:i+1]
			}
			return nil
		}},
	}
	// Neighbouring ciphertexts swapped: each is bound to its path.
	vals := encValues(raw)
	for i := 0; i+1 < len(vals) && i < 4; i++ {
		a, b := vals[i], vals[i+1]
		if bytes.Equal(a, b) {
			continue
		}
		ts = append(ts, siTamper{fmt.Sprintf("ciphertexts %d and %d swapped", i, i+1), func(raw []byte) []byte {
			c := bytes.Replace(raw, a, []byte("\x00SWAP\x00"), 1)
			c = bytes.Replace(c, b, a, 1)
			return bytes.Replace(c, []byte("\x00SWAP\x00"), b, 1)
		}})
	}
	return ts
}

// TestSopsInteropTamper: whatever `sops decrypt` rejects, nix-auth's
// reader rejects, for every rule kind.
func TestSopsInteropTamper(t *testing.T) {
	t.Parallel()
	id, id2 := stKey(t), stKey(t)
	dir := siEncrypt(t, id, id2)
	files := []string{"shamir.yaml", "pgp.yaml"}
	for _, r := range siRules {
		files = append(files, r.file)
	}
	var tried, rejected atomic.Int32
	// The group returns when its parallel subtests are done.
	t.Run("files", func(t *testing.T) {
		for _, file := range files {
			t.Run(file, func(t *testing.T) {
				t.Parallel()
				ids := []*age.X25519Identity{id}
				if file == "shamir.yaml" {
					ids = append(ids, id2)
				}
				raw, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				work := t.TempDir()
				for _, tc := range siTampers(raw) {
					bad := tc.f(raw)
					if bad == nil || bytes.Equal(bad, raw) {
						continue
					}
					p := filepath.Join(work, file)
					writeFile(t, p, bad)
					tried.Add(1)
					if _, err := siDecrypt(t, p, ids...); err == nil {
						continue // sops takes it: nothing to prove here
					}
					rejected.Add(1)
					if _, _, err := openSops(p, bad, siIDs(ids...), nil); err == nil {
						t.Errorf("%s: sops decrypt rejects it, nix-auth accepts it", tc.name)
					} else if strings.Contains(err.Error(), "SECRETPLAIN") || strings.Contains(err.Error(), "RICHTOKEN") {
						t.Errorf("%s: the error quotes a secret: %v", tc.name, err)
					}
				}
			})
		}
	})
	t.Logf("%d tamperings, %d rejected by sops decrypt, all rejected by nix-auth", tried.Load(), rejected.Load())
	if rejected.Load() < 100 {
		t.Errorf("only %d tamperings were rejected by sops: the matrix lost its teeth", rejected.Load())
	}
}

// TestSopsMACDoesNotCoverKeys: swapping created and expires (values stay
// in walk order, so the MAC holds and sops decrypts it) is caught by
// nix-auth's schema check, as are a renamed field and a value moved to a
// key of another type.
func TestSopsMACDoesNotCoverKeys(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	stCreate(t, p, stEntries(), id)
	good, _ := os.ReadFile(p)
	for _, tc := range []struct {
		name, old, new, field string
	}{
		{"created and expires swapped", "        created: \"2026-11-24T21:00:00Z\"\n        expires: \"2026-11-24T23:00:00Z\"",
			"        expires: \"2026-11-24T21:00:00Z\"\n        created: \"2026-11-24T23:00:00Z\"", "created"},
		{"provider and user swapped", "        provider: gitlab\n        user: tanuki", "        user: gitlab\n        provider: tanuki", "provider"},
		{"created moved to the future", "        created: \"2026-11-24T21:00:00Z\"\n        expires: \"2026-11-24T23:00:00Z\"",
			"        expires: \"2026-11-24T21:00:00Z\"\n        created: \"2099-11-24T23:00:00Z\"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(bad, good) {
				t.Fatalf("fixture lacks %q", tc.old)
			}
			q := filepath.Join(t.TempDir(), "t.yaml")
			writeFile(t, q, bad)
			if out, err := siDecrypt(t, q, id); err != nil && tc.field != "" {
				t.Fatalf("sops rejects it too (%v): %s", err, out)
			}
			_, err := Load(q, siIDs(id), nil, stNow)
			var fe *FileError
			if !errors.As(err, &fe) || (!errors.Is(err, ErrSchema) && !errors.Is(err, ErrTampered)) {
				t.Fatalf("Load = %v; want a schema error", err)
			}
			if tc.field != "" && (!errors.Is(err, ErrSchema) || fe.Host != "gitlab.com" || fe.Field != tc.field || len(fe.Hints()) == 0) {
				t.Errorf("error %v: host %q field %q, want gitlab.com %s with a hint", err, fe.Host, fe.Field, tc.field)
			}
		})
	}
}

// TestSopsCLIEditsOurJSON: sops set, updatekeys and edit work on the JSON
// files nix-auth writes, and nix-auth reads the result.
func TestSopsCLIEditsOurJSON(t *testing.T) {
	t.Parallel()
	id1, id2 := stKey(t), stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.json")
	stCreate(t, p, stEntries(), id1)
	env := []string{"SOPS_AGE_KEY=" + id1.String()}
	stRun(t, dir, env, nil, "sops", "set", "t.json", `["hosts"]["github.com"]["user"]`, `"hubot"`)
	writeFile(t, filepath.Join(dir, ".sops.yaml"), []byte(fmt.Sprintf("creation_rules:\n    - age: %s,%s\n", id1.Recipient(), id2.Recipient())))
	stRun(t, dir, env, nil, "sops", "updatekeys", "-y", "t.json")
	script := filepath.Join(dir, "editor.sh")
	writeFile(t, script, []byte("#!/bin/sh\nsed -i 's/\"tanuki\"/\"gitlab-bot\"/' \"$1\"\n"))
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	stRun(t, dir, append(env, "EDITOR="+script), nil, "sops", "edit", "t.json")
	want := stEntries()
	want[1].User, want[2].User = "hubot", "gitlab-bot"
	f := stLoad(t, p, id2)
	stSameEntries(t, f.Entries(), want)
	if got := ages(f.Recipients()); !slices.Equal(got, stAges(id1, id2)) {
		t.Errorf("recipients after updatekeys = %v", got)
	}
}

// TestCleartextRulesRefused: a file whose own rules would leave the token
// in clear takes no token, and nothing is written; Load and LoadMeta say
// which host it is.
func TestCleartextRulesRefused(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	for _, rule := range []string{"encrypted_suffix: _secret", "encrypted_regex: ^(data|stringData)$",
		"unencrypted_regex: ^(token|user)$", "unencrypted_suffix: token", "encrypted_comment_regex: sops:enc"} {
		t.Run(rule, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, ".sops.yaml"), []byte(fmt.Sprintf("creation_rules:\n    - age: %s\n      %s\n", id.Recipient(), rule)))
			writeFile(t, filepath.Join(dir, "t.yaml"), []byte("other: value\n"))
			stRun(t, dir, nil, nil, "sops", "encrypt", "-i", "t.yaml")
			p := filepath.Join(dir, "t.yaml")
			before, _ := os.ReadFile(p)
			f := stLoad(t, p, id)
			if err := f.CheckEncrypts("github.com"); !errors.Is(err, ErrCleartext) {
				t.Errorf("CheckEncrypts = %v", err)
			}
			err := f.Put(Entry{Host: "github.com", Token: "ghp_TESTTOKEN0000000000000000000000000001"})
			var fe *FileError
			if !errors.Is(err, ErrCleartext) || !errors.As(err, &fe) || fe.Host != "github.com" || fe.Field != "token" {
				t.Fatalf("Put = %v", err)
			}
			ruleName := strings.SplitN(rule, ":", 2)[0]
			if !strings.Contains(err.Error(), ruleName) || len(fe.Hints()) == 0 || strings.Contains(err.Error(), "TESTTOKEN") {
				t.Errorf("error %q does not name %s, has no hint, or quotes the token", err, ruleName)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
				t.Error("the file changed")
			}
		})
	}
}

// TestCreateHonoursRule: a new store follows its .sops.yaml rule's
// encryption settings, as `sops encrypt` would, and is refused when they
// would leave the token in clear.
func TestCreateHonoursRule(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	dir := t.TempDir()
	rule := &SopsRule{sopsRules: sopsRules{UnencryptedSuffix: "_plain", MACOnlyEncrypted: true}}
	p := filepath.Join(dir, "t.yaml")
	f, err := Create(p, stRecips(id), CreateOptions{Now: stNow, SopsRule: rule})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(stEntries()[1]); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	for _, want := range []string{"unencrypted_suffix: _plain", "mac_only_encrypted: true", "user: ENC["} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("file lacks %q:\n%s", want, raw)
		}
	}
	stSameEntries(t, stLoad(t, p, id).Entries(), stEntries()[1:2])
	if out := stSopsDecrypt(t, p, id); stHostValue(t, out, "github.com", "user") != "octocat" {
		t.Error("sops -d of a store created under a rule")
	}

	q := filepath.Join(dir, "u.yaml")
	f, err = Create(q, stRecips(id), CreateOptions{Now: stNow, SopsRule: &SopsRule{sopsRules: sopsRules{EncryptedSuffix: "_secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckEncrypts("github.com"); !errors.Is(err, ErrCleartext) {
		t.Errorf("CheckEncrypts under encrypted_suffix = %v", err)
	}
}
