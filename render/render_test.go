package render

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/nixconf"
)

const (
	ghTok = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
	glTok = "PAT:glpat-abcdefghijklmnopqrst"
	cbTok = "0123456789abcdef0123456789abcdef01234567"
)

var now = time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)

// newStore writes a real encrypted store with crypt, the way login does.
func newStore(t *testing.T, name string, es ...crypt.Entry) (string, *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	f, err := crypt.Create(path, []crypt.Recipient{{Age: id.Recipient().String()}}, crypt.CreateOptions{Now: time.Now})
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
	return path, id
}

// logs collects what Render says, and fails the test if a token leaks.
type logs struct {
	t     *testing.T
	lines strings.Builder
	warns []string
}

func (l *logs) Write(p []byte) (int, error) { return l.lines.Write(p) }

func (l *logs) warn(msg string) { l.warns = append(l.warns, msg) }

func (l *logs) noSecrets() {
	all := l.lines.String() + strings.Join(l.warns, "\n")
	for _, tok := range []string{ghTok, glTok, cbTok, "glpat-abcdefghijklmnopqrst"} {
		if strings.Contains(all, tok) {
			l.t.Fatalf("a token leaked into the logs")
		}
	}
}

func (l *logs) opts(o Options) Options {
	o.Log, o.Warn, o.Now = l, l.warn, now
	if o.Home == "" {
		// The output is the user's own file unless a test says otherwise.
		o.Home = filepath.Dir(o.Output)
	}
	return o
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func settingLine(t *testing.T, path string) string {
	t.Helper()
	for _, l := range strings.Split(readFile(t, path), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

func TestRenderStores(t *testing.T) {
	for _, name := range []string{"tokens.yaml", "tokens.json", "tokens.age"} {
		t.Run(name, func(t *testing.T) {
			// In sorted order: the sops store keeps hosts sorted.
			store, id := newStore(t, name,
				crypt.Entry{Host: "codeberg.org", Token: cbTok, Provider: "forgejo"},
				crypt.Entry{Host: "github.com", Token: ghTok, Provider: "github", User: "octocat", Expires: now.Add(24 * time.Hour)},
				crypt.Entry{Host: "gitlab.com", Token: glTok, Provider: "gitlab", Expires: now.Add(-time.Hour)},
			)
			out := filepath.Join(t.TempDir(), "access-tokens.conf")
			l := &logs{t: t}
			res, err := Render(l.opts(Options{Store: store, Identities: []age.Identity{id}, Output: out, Setting: SettingMerge}))
			if err != nil {
				t.Fatal(err)
			}
			l.noSecrets()
			if got, want := settingLine(t, out), "extra-access-tokens = codeberg.org="+cbTok+" github.com="+ghTok; got != want {
				t.Errorf("rendered %q, want %q", got, want)
			}
			if !res.Changed || strings.Join(res.Hosts, ",") != "codeberg.org,github.com" || strings.Join(res.Expired, ",") != "gitlab.com" {
				t.Errorf("result %+v", res)
			}
			wantLog := "codeberg.org …4567 expires never\ngithub.com ghp_…wxyz expires 2026-11-25T21:00:00Z\n"
			if l.lines.String() != wantLog {
				t.Errorf("log %q, want %q", l.lines.String(), wantLog)
			}
			if len(l.warns) != 1 || !strings.Contains(l.warns[0], "gitlab.com expired at 2026-11-24T20:00:00Z; left out") {
				t.Errorf("warnings %q", l.warns)
			}
			fi, err := os.Stat(out)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("output mode: %v %v", fi.Mode(), err)
			}
		})
	}
}

func TestRenderWrongKeyWritesNothing(t *testing.T) {
	store, _ := newStore(t, "tokens.yaml", crypt.Entry{Host: "github.com", Token: ghTok})
	other, _ := age.GenerateX25519Identity()
	out := filepath.Join(t.TempDir(), "access-tokens.conf")
	_, err := Render(Options{Store: store, Identities: []age.Identity{other}, Tried: []string{"other.key"}, Output: out, Now: now})
	if !errors.Is(err, crypt.ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("output written: %v", err)
	}
}

// sopsDecrypted is what `sops -d` prints for a nix-auth store (the cmd
// end-to-end test feeds the real sops's output too).
const sopsDecrypted = `hosts:
    github.com:
        token: ` + ghTok + `
        provider: github
        user: octocat
        scopes:
            - repo
        created: "2026-11-01T00:00:00Z"
        expires: "2026-12-24T21:00:00Z"
    gitlab.com:
        token: ` + glTok + `
        provider: gitlab
        expires: "2026-11-01T00:00:00Z"
`

const sopsDecryptedJSON = `{
	"hosts": {
		"github.com": {
			"token": "` + ghTok + `",
			"expires": "2026-12-24T21:00:00Z"
		},
		"gitlab.com": {
			"token": "` + glTok + `",
			"expires": "2026-11-01T00:00:00Z"
		}
	}
}`

// agenixDecrypted is the .age store's plaintext, as agenix deploys it.
const agenixDecrypted = `# nix-auth token store: Nix reads the access-tokens line; these comments hold nix-auth's metadata.
# nix-auth: host=github.com provider=github user=octocat expires=2026-12-24T21:00:00Z
# nix-auth: host=gitlab.com provider=gitlab expires=2026-11-01T00:00:00Z
# nix-auth-recipients: age1qqq
access-tokens = github.com=` + ghTok + ` gitlab.com=` + glTok + `
`

func writePlain(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRenderPlain(t *testing.T) {
	for name, content := range map[string]string{
		"sops-yaml": sopsDecrypted, "sops-json": sopsDecryptedJSON, "agenix": agenixDecrypted,
	} {
		t.Run(name, func(t *testing.T) {
			plain := writePlain(t, "secret", content)
			out := filepath.Join(t.TempDir(), "access-tokens.conf")
			l := &logs{t: t}
			res, err := Render(l.opts(Options{Plain: plain, Output: out, Setting: SettingReplace}))
			if err != nil {
				t.Fatal(err)
			}
			l.noSecrets()
			if got, want := settingLine(t, out), "access-tokens = github.com="+ghTok; got != want {
				t.Errorf("rendered %q, want %q", got, want)
			}
			if strings.Join(res.Expired, ",") != "gitlab.com" || len(l.warns) != 1 {
				t.Errorf("expired %q, warnings %q", res.Expired, l.warns)
			}
		})
	}
}

// TestRenderPlainFragmentRules: the fragment is read as Nix reads it.
func TestRenderPlainFragmentRules(t *testing.T) {
	plain := writePlain(t, "secret", `extra-access-tokens = a.example=tok-aaaaaaaaaaaa
access-tokens = github.com=`+ghTok+` # a comment
extra-access-tokens = github.com=ignored-because-first-wins codeberg.org=`+cbTok+`
substituters = https://evil.example
`)
	out := filepath.Join(t.TempDir(), "access-tokens.conf")
	l := &logs{t: t}
	if _, err := Render(l.opts(Options{Plain: plain, Output: out, Setting: SettingReplace})); err != nil {
		t.Fatal(err)
	}
	if got, want := settingLine(t, out), "access-tokens = github.com="+ghTok+" codeberg.org="+cbTok; got != want {
		t.Errorf("rendered %q, want %q", got, want)
	}
	if strings.Contains(readFile(t, out), "substituters") {
		t.Error("a non-token setting was copied")
	}
	if len(l.warns) != 1 || !strings.Contains(l.warns[0], `"substituters" line is not an access-tokens setting`) {
		t.Errorf("warnings %q", l.warns)
	}
}

// TestRenderRefusesInjection: a hand-edited plain file cannot smuggle a
// setting into the output, and a refused input changes nothing on disk.
func TestRenderRefusesInjection(t *testing.T) {
	for name, content := range map[string]string{
		"token-newline": "hosts:\n  github.com:\n    token: \"" + ghTok + "\\nsubstituters = https://evil.example\"\n",
		"token-space":   "hosts:\n  github.com:\n    token: \"" + ghTok + " post-build-hook=/tmp/x\"\n",
		"token-hash":    "hosts:\n  github.com:\n    token: \"" + ghTok + "#x\"\n",
		"host-equals":   "hosts:\n  \"github.com=x substituters\":\n    token: " + ghTok + "\n",
		"host-newline":  "hosts:\n  \"github.com\\nsubstituters = https://evil.example\":\n    token: " + ghTok + "\n",
		"empty-token":   "hosts:\n  github.com:\n    provider: github\n",
		// Expired entries are checked too: the file as a whole is suspect.
		"expired-bad": "hosts:\n  github.com:\n    token: \"a\\u0000b\"\n    expires: \"2000-01-01T00:00:00Z\"\n",
		"fragment":    "access-tokens = github.com=" + ghTok + " evil\u00a0host=x\n",
	} {
		t.Run(name, func(t *testing.T) {
			plain := writePlain(t, "secret", content)
			out := filepath.Join(t.TempDir(), "access-tokens.conf")
			old := nixconf.RenderHeader("x") + "access-tokens = github.com=old-token-value\n"
			if err := os.WriteFile(out, []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
			past := now.Add(-time.Hour)
			if err := os.Chtimes(out, past, past); err != nil {
				t.Fatal(err)
			}
			_, err := Render(Options{Plain: plain, Output: out, Setting: SettingReplace, Now: now})
			var re *Error
			if !errors.As(err, &re) || len(re.Hints()) == 0 || !strings.Contains(err.Error(), plain) {
				t.Fatalf("err = %v, want a render error naming the file, with hints", err)
			}
			if strings.Contains(err.Error(), ghTok) {
				t.Fatal("the error shows the token")
			}
			fi, _ := os.Stat(out)
			if readFile(t, out) != old || !fi.ModTime().Equal(past) {
				t.Fatal("the output changed")
			}
			if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
				t.Fatalf("files left beside the output: %v", ents)
			}
		})
	}
}

// TestRenderPlainNotOurs: a plain input that is not a decrypted token
// file is an error of its kind (cmd says what --plain takes); one whose
// entries fail a store's checks is an error with a hint; nothing is
// written either way.
func TestRenderPlainNotOurs(t *testing.T) {
	for name, c := range map[string]struct {
		content string
		kind    error // nil: an *Error with hints of its own
	}{
		"encrypted": {"hosts:\n  github.com:\n    token: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n", crypt.ErrStillEncrypted},
		"sops-meta": {"hosts: {}\nsops:\n  mac: ENC[x]\n", crypt.ErrStillEncrypted},
		"no-hosts":  {"foo: bar\n", ErrNotPlain},
		"garbage":   {"\x00\x01: [", ErrNotPlain},
		"duplicate": {"{\"hosts\": {\"a.com\": {\"token\": \"x\"}, \"a.com\": {\"token\": \"y\"}}}", ErrNotPlain},
		"bad-time":  {"hosts:\n  github.com:\n    token: x1234567\n    expires: tomorrow\n", nil},
		// The same reader and checks as a store (crypt.ReadDecrypted).
		"numeric-token":    {"hosts:\n  github.com:\n    token: 0123456789\n", nil},
		"swapped-times":    {"hosts:\n  github.com:\n    token: x1234567\n    created: \"2026-12-01T00:00:00Z\"\n    expires: \"2026-11-01T00:00:00Z\"\n", nil},
		"unknown-provider": {"hosts:\n  github.com:\n    token: x1234567\n    provider: octocat\n", nil},
	} {
		t.Run(name, func(t *testing.T) {
			plain := writePlain(t, "secret", c.content)
			out := filepath.Join(t.TempDir(), "access-tokens.conf")
			_, err := Render(Options{Plain: plain, Output: out, Now: now})
			var re *Error
			switch {
			case err == nil || !strings.Contains(err.Error(), plain):
				t.Fatalf("err = %v, want an error naming the file", err)
			case c.kind != nil && !errors.Is(err, c.kind):
				t.Fatalf("err = %v, want %v", err, c.kind)
			case c.kind == nil && (!errors.As(err, &re) || len(re.Hints()) == 0):
				t.Fatalf("err = %v, want a render error with a hint", err)
			}
			if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("output written")
			}
		})
	}
}

// TestRenderIdempotent: an unchanged render rewrites nothing, so the mtime
// is kept (set back in time to tell a rewrite apart) and no lock file
// appears; a changed input rewrites.
func TestRenderIdempotent(t *testing.T) {
	plain := writePlain(t, "secret", sopsDecrypted)
	dir := t.TempDir()
	out := filepath.Join(dir, "access-tokens.conf")
	o := Options{Plain: plain, Output: out, Setting: SettingReplace, Now: now}
	if _, err := Render(o); err != nil {
		t.Fatal(err)
	}
	os.Remove(out + ".lock")
	past := now.Add(-48 * time.Hour)
	if err := os.Chtimes(out, past, past); err != nil {
		t.Fatal(err)
	}
	res, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(out)
	if res.Changed || !fi.ModTime().Equal(past) {
		t.Fatalf("second render rewrote the file (changed=%v, mtime %v)", res.Changed, fi.ModTime())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("second render left files: %v", ents)
	}
	// A token that expired since: rewritten without it.
	o.Now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if res, err = Render(o); err != nil || !res.Changed {
		t.Fatalf("render after expiry: changed=%v err=%v", res != nil && res.Changed, err)
	}
	if strings.Contains(readFile(t, out), "access-tokens =") {
		t.Fatal("an expired token was kept, or an empty access-tokens line was written")
	}
}

func TestRenderCheck(t *testing.T) {
	plain := writePlain(t, "secret", sopsDecrypted)
	dir := t.TempDir()
	out := filepath.Join(dir, "access-tokens.conf")
	conf := filepath.Join(dir, "nix.conf")
	o := Options{Plain: plain, Output: out, Setting: SettingReplace, NixConf: conf, Now: now, Check: true}
	stale := func(what string) {
		t.Helper()
		if _, err := Render(o); !errors.Is(err, ErrStale) {
			t.Fatalf("%s: err = %v, want ErrStale", what, err)
		}
	}
	stale("missing")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("--check wrote: %v", ents)
	}
	write := o
	write.Check = false
	if _, err := Render(write); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(o); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	if err := os.Chmod(out, 0o640); err != nil {
		t.Fatal(err)
	}
	stale("mode changed")
	if _, err := Render(write); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("# include removed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale("include missing")
	if readFile(t, conf) != "# include removed\n" {
		t.Fatal("--check edited nix.conf")
	}
	if _, err := Render(write); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readFile(t, conf), "!include access-tokens.conf") {
		t.Fatalf("nix.conf lacks the include:\n%s", readFile(t, conf))
	}
	if err := os.WriteFile(out, []byte(nixconf.RenderHeader("x")+"access-tokens = github.com=edited-by-hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stale("content changed")
}

// TestRenderModeOwner: mode, owner and group are set, and a different
// owner alone makes the file stale. Changing the owner needs root.
func TestRenderModeOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	plain := writePlain(t, "secret", sopsDecrypted)
	out := filepath.Join(t.TempDir(), "sub", "access-tokens.conf")
	o := Options{Plain: plain, Output: out, Mode: 0o640, Owner: "65534", Group: "65533", Now: now}
	if _, err := Render(o); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || st.Uid != 65534 || st.Gid != 65533 {
		t.Fatalf("mode %04o uid %d gid %d", fi.Mode().Perm(), st.Uid, st.Gid)
	}
	if res, err := Render(o); err != nil || res.Changed {
		t.Fatalf("same owner again: changed=%v err=%v", res != nil && res.Changed, err)
	}
	o.Owner, o.Group = "", ""
	if res, err := Render(o); err != nil || !res.Changed {
		t.Fatalf("owner change: changed=%v err=%v", res != nil && res.Changed, err)
	}
	fi, _ = os.Stat(out)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
		t.Fatalf("owner not given back to root: uid %d gid %d", st.Uid, st.Gid)
	}
	if _, err := Render(Options{Plain: plain, Output: out, Owner: "no-such-user-nix-auth", Now: now}); err == nil {
		t.Fatal("an unknown owner was accepted")
	}
}

func TestDefaultSetting(t *testing.T) {
	// A user's file and a system file alike add to what was set before.
	for _, home := range []string{"/home/alice", "/nonexistent"} {
		res, err := Render(Options{Plain: writePlain(t, "secret", sopsDecrypted), Home: home, Now: now,
			Output: filepath.Join(t.TempDir(), "access-tokens.rendered.conf")})
		if err != nil || res.Setting != SettingMerge {
			t.Errorf("home %s: setting %v, %v", home, res, err)
		}
	}
}

func TestReadabilityWarning(t *testing.T) {
	for _, c := range []struct {
		name            string
		mode            fs.FileMode
		uid, gid, owner int
		want            string
	}{
		{"system root-only", 0o600, 0, 0, -1, "readable by root only"},
		{"system group", 0o640, 0, 100, -1, ""},
		{"system world", 0o644, 0, 0, -1, "readable by every local user"},
		{"user own", 0o600, 1000, 1000, 1000, ""},
		{"user root-owned", 0o600, 0, 0, 1000, "who cannot read it"},
		{"user no read bit", 0o200, 1000, 1000, 1000, "who cannot read it"},
		{"root user", 0o600, 0, 0, 0, ""},
	} {
		got := readabilityWarning("/x/access-tokens.conf", c.mode, c.uid, c.gid, c.owner)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: warning %q, want %q", c.name, got, c.want)
		}
	}

	// Through Render: a system file (outside Home) that only its owner can
	// read is written, with the warning.
	plain := writePlain(t, "secret", sopsDecrypted)
	out := filepath.Join(t.TempDir(), "access-tokens.conf")
	l := &logs{t: t}
	res, err := Render(l.opts(Options{Plain: plain, Output: out, Home: "/nonexistent-home"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Setting != SettingMerge {
		t.Errorf("system file got %s", res.Setting)
	}
	if w := strings.Join(l.warns, "\n"); !strings.Contains(w, "silently ignores it") {
		t.Errorf("no readability warning: %q", w)
	}
}

// TestRenderNeedsClock: expiry is judged by the caller's clock, never a
// default one.
func TestRenderNeedsClock(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.conf")
	if _, err := Render(Options{Plain: writePlain(t, "secret", sopsDecrypted), Output: out}); err == nil {
		t.Error("Render without Now succeeded")
	}
}
