package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/internal/tooltest"
)

// Test helpers of the store tests carry an "st" prefix: the package's
// other test files belong to another owner.

// stRun runs a pinned CLI in dir with only the given environment.
func stRun(t testing.TB, dir string, env []string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := stRunErr(t, dir, env, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func stRunErr(t testing.TB, dir string, env []string, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(tooltest.ToolPath(t, name), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

func stKey(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var stT0 = time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)

var stStart = time.Now()

// stNow is the tests' clock: two days after stT0, and running, so that
// lastmodified moves between saves and no fixture's created time is ever
// in the future, whatever the machine's date.
func stNow() time.Time { return stT0.Add(48*time.Hour + time.Since(stStart)) }

// stEntries are realistic entries; the token values are fake.
func stEntries() []Entry {
	return []Entry{
		{Host: "codeberg.org", Token: "TESTTOKEN0004", Provider: "forgejo", User: "ferris"},
		{Host: "github.com", Token: "ghp_TESTTOKEN0000000000000000000000000001", Provider: "github", User: "octocat",
			Scopes: []string{"repo", "read:org"}, Created: stT0},
		{Host: "gitlab.com", Token: "OAuth2:glo-TESTTOKEN0002", Provider: "gitlab", User: "tanuki",
			Scopes: []string{"read_api"}, Created: stT0, Expires: stT0.Add(2 * time.Hour), RefreshToken: "glrt-TESTREFRESH0003",
			ClientID: "3f1e0123456789abcdef"},
	}
}

// stCreate writes a store with entries, encrypted to the recipients of ids.
func stCreate(t testing.TB, path string, es []Entry, ids ...*age.X25519Identity) {
	t.Helper()
	f, err := Create(path, stRecips(ids...), CreateOptions{Now: stNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := f.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
}

// stOpen loads a store for a write, declaring the recipients of ids, as
// the commands do from secrets.nix, .sops.yaml or --recipient.
func stOpen(t testing.TB, path string, ids ...*age.X25519Identity) *File {
	t.Helper()
	f := stLoad(t, path, ids...)
	if err := f.Declare(stRecips(ids...)); err != nil {
		t.Fatal(err)
	}
	return f
}

func stLoad(t testing.TB, path string, ids ...*age.X25519Identity) *File {
	t.Helper()
	var list []age.Identity
	for _, id := range ids {
		list = append(list, id)
	}
	f, err := Load(path, list, []string{"test key"}, stNow)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// stSameEntries compares entries without printing tokens.
func stSameEntries(t testing.TB, got, want []Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v, want %d %v", len(got), hostList(got), len(want), hostList(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Token != w.Token || g.RefreshToken != w.RefreshToken {
			t.Errorf("entry %s: token or refresh token differs", w.Host)
		}
		g.Token, w.Token, g.RefreshToken, w.RefreshToken = "", "", "", ""
		if g.Host != w.Host || g.Provider != w.Provider || g.User != w.User || !slices.Equal(g.Scopes, w.Scopes) ||
			!g.Created.Equal(w.Created) || !g.Expires.Equal(w.Expires) || g.ClientID != w.ClientID ||
			g.Use != w.Use || g.Login != w.Login {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

// stDirState is every file name in dir with its bytes and mode.
func stDirState(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		b, _ := os.ReadFile(p)
		fi, _ := os.Lstat(p)
		m[de.Name()] = fmt.Sprintf("%v %x", fi.Mode(), b)
	}
	return m
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]Format{
		"secrets/tokens.yaml": FormatSOPS, "a.yml": FormatSOPS, "x/t.json": FormatSOPS, "tokens.age": FormatAge,
	} {
		if got, err := FormatOf(path); err != nil || got != want {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"tokens.txt", "tokens", "tokens.env", "tokens.YAML", "tokens.age.bak"} {
		_, err := FormatOf(path)
		if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), ".yaml") || !strings.Contains(err.Error(), ".age") {
			t.Errorf("FormatOf(%q) error = %v; want ErrUnknownFormat naming the file and the extensions", path, err)
		}
		var fe *FileError
		if !errors.As(err, &fe) || len(fe.Hints()) == 0 {
			t.Errorf("FormatOf(%q): no hints", path)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	id := stKey(t)
	for _, name := range []string{"tokens.yaml", "tokens.yml", "tokens.json", "tokens.age"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, name)
			stCreate(t, p, stEntries(), id)
			f := stOpen(t, p, id)
			stSameEntries(t, f.Entries(), stEntries())
			if got := ages(f.Recipients()); !slices.Equal(got, stAges(id)) {
				t.Errorf("Recipients() = %v", got)
			}
			// Replace one, remove one, add one.
			es := stEntries()
			es[1].Token, es[1].User, es[1].Scopes = "ghp_TESTTOKEN0000000000000000000000000009", "hubot", nil
			// A client ID that YAML would read as a number, and one that
			// the .age comment must escape, come back as they were.
			es[1].ClientID, es[2].ClientID = "0012345", "app id%20=x"
			if err := f.Put(es[2]); err != nil {
				t.Fatal(err)
			}
			if err := f.Put(es[1]); err != nil {
				t.Fatal(err)
			}
			if err := f.Remove("codeberg.org"); err != nil {
				t.Fatal(err)
			}
			extra := Entry{Host: "git.sr.ht", Token: "TESTTOKEN0005", Provider: "sourcehut"}
			if err := f.Put(extra); err != nil {
				t.Fatal(err)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			want := []Entry{es[1], es[2], extra}
			if !strings.HasSuffix(name, ".age") {
				// sops keeps sorted hosts sorted: git.sr.ht < github.com.
				want = []Entry{extra, es[1], es[2]}
			}
			stSameEntries(t, stLoad(t, p, id).Entries(), want)
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode of a new store = %v, %v; want 0600", fi.Mode(), err)
			}
			if got := stDirState(t, dir); len(got) != 1 {
				t.Errorf("files left in the directory: %v", slices.Collect(mapKeys(got)))
			}
			raw, _ := os.ReadFile(p)
			for _, e := range want {
				if bytes.Contains(raw, []byte(e.Token)) || (e.RefreshToken != "" && bytes.Contains(raw, []byte(e.RefreshToken))) {
					t.Errorf("%s: a token is in the file in plaintext", e.Host)
				}
			}
		})
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestSaveKeepsMode(t *testing.T) {
	id := stKey(t)
	for _, name := range []string{"t.yaml", "t.age"} {
		p := filepath.Join(t.TempDir(), name)
		stCreate(t, p, stEntries()[:1], id)
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		f := stOpen(t, p, id)
		if err := f.Put(stEntries()[2]); err != nil {
			t.Fatal(err)
		}
		old := syscall.Umask(0o077)
		err := f.Save()
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode after Save = %v, want 0640 kept", name, fi.Mode())
		}
	}
}

func TestPutRejectsInjection(t *testing.T) {
	id := stKey(t)
	for _, name := range []string{"t.yaml", "t.age"} {
		p := filepath.Join(t.TempDir(), name)
		stCreate(t, p, stEntries()[:1], id)
		before, _ := os.ReadFile(p)
		f := stLoad(t, p, id)
		for _, e := range []Entry{
			{Host: "", Token: "x"},
			{Host: "evil.com", Token: ""},
			{Host: "a.com b.com", Token: "x"},
			{Host: "a.com=x", Token: "x"},
			{Host: "a.com#", Token: "x"},
			{Host: "a.com", Token: "SECRET1 extra-substituters"},
			{Host: "a.com", Token: "SECRET2\nsubstituters = http://evil"},
			{Host: "a.com", Token: "SECRET3#"},
			{Host: "a.com", Token: "x", User: "u\nsubstituters = http://evil"},
			{Host: "a.com", Token: "x", RefreshToken: "r t"},
		} {
			err := f.Put(e)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Put(%q) = %v; want ErrInvalid", e.Host, err)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error quotes the token: %v", err)
			}
		}
		if len(f.Entries()) != 1 {
			t.Errorf("rejected entries were added")
		}
		after, _ := os.ReadFile(p)
		if !bytes.Equal(before, after) {
			t.Errorf("file changed")
		}
	}
}

func TestRemoveMissingHost(t *testing.T) {
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "t.yaml")
	stCreate(t, p, stEntries()[:1], id)
	err := stLoad(t, p, id).Remove("gitlab.com")
	if !errors.Is(err, ErrNoHost) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "gitlab.com") {
		t.Errorf("Remove of an absent host = %v; want ErrNoHost naming the file and host", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	id := stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	if _, err := Create(p, nil, CreateOptions{Now: stNow}); !errors.Is(err, ErrRecipient) {
		t.Errorf("Create without recipients = %v", err)
	}
	if _, err := Create(p, []Recipient{{SSH: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummy"}}, CreateOptions{Now: stNow}); !errors.Is(err, ErrRecipient) {
		t.Errorf("Create with an ssh recipient = %v", err)
	}
	if _, err := Create(filepath.Join(dir, "t.txt"), stRecips(id), CreateOptions{Now: stNow}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Create t.txt = %v", err)
	}
	stCreate(t, p, stEntries()[:1], id)
	if _, err := Create(p, stRecips(id), CreateOptions{Now: stNow}); !errors.Is(err, ErrExists) {
		t.Errorf("Create over an existing file = %v", err)
	}
	// Two creators: the second Save must not replace the first's file.
	q := filepath.Join(dir, "u.age")
	a, _ := Create(q, stRecips(id), CreateOptions{Now: stNow})
	b, _ := Create(q, stRecips(id), CreateOptions{Now: stNow})
	a.Put(stEntries()[0])
	b.Put(stEntries()[1])
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(); !errors.Is(err, ErrConflict) {
		t.Errorf("second creator's Save = %v; want ErrConflict", err)
	}
	stSameEntries(t, stLoad(t, q, id).Entries(), stEntries()[:1])
}

// TestBadFiles: each broken file gives a clear error naming it, and
// nothing on disk changes.
func TestBadFiles(t *testing.T) {
	id, other := stKey(t), stKey(t)
	src := t.TempDir()
	good := map[string][]byte{}
	for _, name := range []string{"t.yaml", "t.json", "t.age"} {
		p := filepath.Join(src, name)
		stCreate(t, p, stEntries(), id)
		good[name], _ = os.ReadFile(p)
	}
	binAge := stRun(t, src, nil, []byte("access-tokens = github.com=ghp_TESTTOKEN01\n"), "age", "-e", "-r", id.Recipient().String())

	replace := func(b []byte, old, new string) []byte {
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	flip := func(b []byte, i int) []byte {
		c := slices.Clone(b)
		c[i] ^= 0x01
		return c
	}
	// swapB64 changes a base64 character into another valid one.
	swapB64 := func(b []byte, i int) []byte {
		c := slices.Clone(b)
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		return c
	}
	// A character of the armored payload, not of the header lines.
	armoredBody := func(b []byte) int {
		lines := bytes.Split(b, []byte("\n"))
		off := 0
		for _, l := range lines[:len(lines)-3] {
			off += len(l) + 1
		}
		return off + 5
	}
	macAt := bytes.Index(good["t.yaml"], []byte("mac: ENC[AES256_GCM,data:")) + len("mac: ENC[AES256_GCM,data:") + 3
	tokAt := bytes.Index(good["t.yaml"], []byte("token: ENC[AES256_GCM,data:")) + len("token: ENC[AES256_GCM,data:") + 1

	cases := []struct {
		name, file string
		data       []byte
		ids        []age.Identity
		kind       error
		msg        string
	}{
		{"sops visible value changed", "t.yaml", replace(good["t.yaml"], "user: octocat", "user: mallory"), nil, ErrTampered, "MAC mismatch"},
		{"sops mac changed", "t.yaml", flip(good["t.yaml"], macAt), nil, ErrTampered, "MAC"},
		{"sops token ciphertext changed", "t.yaml", flip(good["t.yaml"], tokAt), nil, ErrTampered, "hosts:codeberg.org:token"},
		{"sops host renamed", "t.yaml", replace(good["t.yaml"], "github.com:", "evil.com:"), nil, ErrTampered, ""},
		{"sops json value changed", "t.json", replace(good["t.json"], `"octocat"`, `"mallory"`), nil, ErrTampered, "MAC mismatch"},
		{"sops truncated", "t.yaml", good["t.yaml"][:len(good["t.yaml"])/2], nil, nil, p("cut short", "truncated")},
		{"sops json truncated", "t.json", good["t.json"][:len(good["t.json"])/2], nil, ErrCorrupt, "truncated"},
		{"sops no metadata", "t.yaml", []byte("hosts:\n    github.com:\n        token: ghp_PLAINSECRET\n"), nil, ErrNoMetadata, "no `sops` metadata"},
		{"sops empty", "t.yaml", nil, nil, ErrNoMetadata, "sops"},
		{"sops plaintext token under the regex", "t.yaml", replace(good["t.yaml"], "token: ENC[", "token: SECRETPLAIN ENC["), nil, ErrTampered, "hosts:codeberg.org:token"},
		{"sops wrong key", "t.yaml", good["t.yaml"], []age.Identity{other}, ErrWrongKey, "can decrypt"},
		{"sops no key", "t.yaml", good["t.yaml"], []age.Identity{}, ErrWrongKey, "can decrypt"},
		{"age flipped payload byte", "t.age", flip(good["t.age"], armoredBody(good["t.age"])), nil, nil, "damaged"},
		{"age flipped binary byte", "t.age", flip(binAge, len(binAge)-3), nil, ErrTampered, "changed, damaged"},
		{"age changed header MAC", "t.age", swapB64(binAge, bytes.Index(binAge, []byte("\n---"))+6), nil, ErrTampered, "changed, damaged"},
		{"age truncated", "t.age", good["t.age"][:len(good["t.age"])/2], nil, ErrTruncated, "truncated"},
		{"age binary truncated", "t.age", binAge[:len(binAge)-20], nil, nil, "cut short"},
		{"age binary header truncated", "t.age", binAge[:60], nil, ErrTruncated, "truncated"},
		{"age not age", "t.age", []byte("access-tokens = github.com=ghp_PLAINSECRET\n"), nil, ErrCorrupt, "not a readable age file"},
		{"age wrong key", "t.age", good["t.age"], []age.Identity{other}, ErrWrongKey, "can decrypt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, c.file)
			if err := os.WriteFile(path, c.data, 0o640); err != nil {
				t.Fatal(err)
			}
			before := stDirState(t, dir)
			ids := c.ids
			if ids == nil {
				ids = []age.Identity{id}
			}
			_, err := Load(path, ids, []string{"key.txt"}, stNow)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("error %v; want %v", err, c.kind)
			}
			if c.kind == nil && !errors.Is(err, ErrTampered) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoMetadata) {
				t.Errorf("error %v; want tampered, truncated, corrupt or no metadata", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			t.Log(err)
			if c.msg != "" && !containsAny(err.Error(), c.msg) {
				t.Errorf("error %q lacks %q", err, c.msg)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "TESTTOKEN") {
				t.Errorf("error quotes a token: %v", err)
			}
			var h interface{ Hints() []string }
			if !errors.As(err, &h) || len(h.Hints()) == 0 {
				t.Errorf("error has no hints: %v", err)
			}
			// Neither Load nor LoadMeta writes anything.
			LoadMeta(path)
			if after := stDirState(t, dir); !maps.Equal(before, after) {
				t.Errorf("the directory changed")
			}
		})
	}
}

// p joins alternatives for containsAny.
func p(alts ...string) string { return strings.Join(alts, "|") }

func containsAny(s, alts string) bool {
	for _, a := range strings.Split(alts, "|") {
		if strings.Contains(s, a) {
			return true
		}
	}
	return false
}

func TestWrongKeyListsRecipients(t *testing.T) {
	id1, id2, other := stKey(t), stKey(t), stKey(t)
	dir := t.TempDir()
	ys, as := filepath.Join(dir, "t.yaml"), filepath.Join(dir, "t.age")
	stCreate(t, ys, stEntries(), id1, id2)
	stCreate(t, as, stEntries(), id1, id2)
	tried := []string{"SOPS_AGE_KEY_FILE=/home/u/keys.txt", "~/.ssh/id_ed25519"}

	_, err := Load(ys, []age.Identity{other}, tried, stNow)
	var de *DecryptError
	if !errors.As(err, &de) || !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Load with a wrong key = %v; want *DecryptError", err)
	}
	hints := strings.Join(de.Hints(), "\n")
	// How to get a key in (--identity, rekey) the commands add (cmd's
	// TestFlagHints).
	for _, want := range []string{id1.Recipient().String(), id2.Recipient().String(), tried[0], tried[1]} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
	if !strings.Contains(err.Error(), ys) {
		t.Errorf("error does not name the file: %v", err)
	}

	_, err = Load(as, []age.Identity{other}, tried, stNow)
	if !errors.As(err, &de) {
		t.Fatalf("age Load with a wrong key = %v", err)
	}
	hints = strings.Join(de.Hints(), "\n")
	for _, want := range []string{"2 recipient stanzas", "X25519 x2", tried[0]} {
		if !strings.Contains(hints, want) {
			t.Errorf("age hints lack %q:\n%s", want, hints)
		}
	}
}

func TestLoadMeta(t *testing.T) {
	id := stKey(t)
	dir := t.TempDir()
	ys, as := filepath.Join(dir, "t.yaml"), filepath.Join(dir, "t.age")
	stCreate(t, ys, stEntries(), id)
	stCreate(t, as, stEntries(), id)
	m, err := LoadMeta(ys)
	if err != nil {
		t.Fatal(err)
	}
	want := stEntries()
	for i := range want {
		want[i].Token, want[i].RefreshToken = "", ""
	}
	stSameEntries(t, m.Entries, want)
	if m.Hidden || !slices.Equal(m.Recipients, []string{id.Recipient().String()}) || m.LastModified.IsZero() {
		t.Errorf("sops meta = %+v", m)
	}
	m, err = LoadMeta(as)
	if err != nil || !m.Hidden || m.Entries != nil || !slices.Equal(m.Stanzas, []string{"X25519"}) {
		t.Errorf("age meta = %+v, %v", m, err)
	}
	if _, err := LoadMeta(filepath.Join(dir, "none.yaml")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("LoadMeta of a missing file = %v", err)
	}
}

// TestConcurrentSaves: writers that loaded the same version each add
// their host; the lock and the replay onto the newer file keep them all.
func TestConcurrentSaves(t *testing.T) {
	id := stKey(t)
	for _, name := range []string{"t.yaml", "t.age"} {
		p := filepath.Join(t.TempDir(), name)
		stCreate(t, p, stEntries()[:1], id)
		const n = 12
		var files []*File
		for i := 0; i < n; i++ {
			f := stOpen(t, p, id)
			if err := f.Put(Entry{Host: fmt.Sprintf("h%02d.example", i), Token: fmt.Sprintf("TESTTOKEN%02d", i)}); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, f := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- f.Save()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := hostList(stLoad(t, p, id).Entries())
		if len(got) != n+1 {
			t.Errorf("%s: %d hosts after %d concurrent saves: %v", name, len(got), n, got)
		}
		if st := stDirState(t, filepath.Dir(p)); len(st) != 1 {
			t.Errorf("%s: lock or temp files left: %v", name, slices.Collect(mapKeys(st)))
		}
	}
}

// TestLockRecoversStaleFile: a lock file left by a dead process blocks
// nothing: flock locks die with their process.
func TestLockRecoversStaleFile(t *testing.T) {
	id := stKey(t)
	p := filepath.Join(t.TempDir(), "t.yaml")
	stCreate(t, p, stEntries()[:1], id)
	if err := os.WriteFile(p+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := stLoad(t, p, id)
	f.Put(stEntries()[1])
	done := make(chan error)
	go func() { done <- f.Save() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Save blocked on a stale lock file")
	}
	if _, err := os.Stat(p + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file left behind: %v", err)
	}
}

// FuzzLoad: the sops and age loaders never panic and
// never write, and
// reject everything that was not encrypted with the key.
func FuzzLoad(f *testing.F) {
	id := stKey(f)
	dir := f.TempDir()
	for _, name := range []string{"s.yaml", "s.json", "s.age"} {
		p := filepath.Join(dir, name)
		stCreate(f, p, stEntries(), id)
		b, _ := os.ReadFile(p)
		f.Add(name[2:], b)
		f.Add(name[2:], b[:len(b)/3])
	}
	if seeds, err := filepath.Glob("../testdata/crypt/stores/*"); err == nil {
		for _, s := range seeds {
			if b, err := os.ReadFile(s); err == nil {
				f.Add(strings.TrimPrefix(filepath.Ext(s), "."), b)
			}
		}
	}
	f.Add("yaml", []byte("sops:\n    age: []\n    mac: x\n    lastmodified: x\n"))
	f.Add("json", []byte(`{"sops": 1}`))
	// One directory for all inputs of a worker: executions of a worker run
	// one after the other, and a fresh directory per input is slow.
	work := f.TempDir()
	f.Fuzz(func(t *testing.T, ext string, data []byte) {
		if ext != "yaml" && ext != "json" && ext != "age" {
			ext = "yaml"
		}
		path := filepath.Join(work, "f."+ext)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		_, lerr := Load(path, []age.Identity{id}, nil, stNow)
		LoadMeta(path)
		if lerr == nil && !bytes.Contains(data, []byte("ENC[")) && ext != "age" {
			// Only a file with the key's ciphertext can load.
			t.Errorf("a file without ciphertext loaded")
		}
		after, _ := os.ReadFile(path)
		des, _ := os.ReadDir(work)
		if !bytes.Equal(after, data) || len(des) != 1 {
			t.Errorf("Load wrote to the directory")
		}
	})
}
