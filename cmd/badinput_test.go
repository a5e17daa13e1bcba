package cmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/internal/termsafe"
)

// badCase is one row of TestBadInput: a command run on bad input, and what
// the user must see. In args, env values and file names, $D is the case's
// temporary directory.
type badCase struct {
	name string
	args []string
	// env is added to the base environment (HOME and XDG_CONFIG_HOME in
	// $D/home, NIX_STORE_DIR=$D/store, NIX_CONF_DIR=$D/etc/nix,
	// XDG_CONFIG_DIRS=$D/etc/xdg).
	env map[string]string
	// setup writes the fixtures below $D, scripts the fake forge and sets
	// stdin; it runs before the snapshot.
	setup func(e *badEnv)
	// stdin is what the command reads, unless setup sets e.stdin.
	stdin string
	// code is the exit code: 1 a problem found, 2 wrong usage.
	code int
	// file must appear in the error line ($D-relative paths as "$D/...").
	file string
	// want is a substring of the error line: what is wrong.
	want string
	// hint is a substring of one hint line: what to do ("" where the
	// error line itself says it, as for a mistyped host).
	hint string
	// secrets must appear in neither stdout nor stderr.
	secrets []string
	// progress allows lines before the error (the device flow shows its
	// code first).
	progress bool
}

// badEnv is one case's world: its directory, environment, stdin and forge.
type badEnv struct {
	t       *testing.T
	dir     string
	env     map[string]string
	stdin   []byte
	fake    *forgetest.Server
	secrets []string
}

// path turns a "$D/..." or $D-relative name into an absolute path.
func (e *badEnv) path(name string) string {
	name = strings.ReplaceAll(name, "$D", e.dir)
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(e.dir, name)
}

// write creates a fixture file (and its folders) with mode 0600.
func (e *badEnv) write(name string, data []byte) string {
	e.t.Helper()
	p := e.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// nixConf writes the user's nix.conf where Locate finds it from the base
// environment.
func (e *badEnv) nixConf(data string) string {
	return e.write("home/.config/nix/nix.conf", []byte(data))
}

// secret registers a value that must never be printed, and returns it.
func (e *badEnv) secret(s string) string {
	e.secrets = append(e.secrets, s)
	return s
}

// edit rewrites a fixture in place (tampering), failing when edit leaves
// it as it was, so a tamper that missed its target cannot pass silently.
func (e *badEnv) edit(name string, edit func([]byte) []byte) {
	e.t.Helper()
	p := e.path(name)
	data, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	out := edit(bytes.Clone(data))
	if bytes.Equal(out, data) {
		e.t.Fatalf("tampering left %s unchanged", name)
	}
	if err := os.WriteFile(p, out, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// badKeys are the age keys the encrypted fixtures use: the store's key and
// one that does not open it.
var badKeys = sync.OnceValue(func() [2]*age.X25519Identity {
	var ks [2]*age.X25519Identity
	for i := range ks {
		k, err := age.GenerateX25519Identity()
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

// keys writes good.key (opens the stores) and wrong.key (does not).
func (e *badEnv) keys() {
	ks := badKeys()
	e.write("good.key", []byte(ks[0].String()+"\n"))
	e.write("wrong.key", []byte(ks[1].String()+"\n"))
}

// store makes an encrypted store (sops or age by the name) to the good key
// with one GitHub token in it, the real way: Create, Put, Save.
func (e *badEnv) store(name string) string {
	e.t.Helper()
	e.keys()
	p := e.path(name)
	f, err := crypt.Create(p, []crypt.Recipient{{Age: badKeys()[0].Recipient().String()}}, crypt.CreateOptions{Now: time.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	err = f.Put(crypt.Entry{Host: "github.com", Token: e.secret("ghp_storedSECRET0123456789abcdefghijkl"),
		Provider: "github", User: "octocat", Created: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// replaceOnce replaces old (which must be there) with new.
func replaceOnce(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("fixture has no %q", old)
	}
	return bytes.Replace(data, []byte(old), []byte(new), 1)
}

// swapAfter changes the base64 character n bytes after marker to another
// one, so the text still parses and only the decoded bytes differ.
func swapAfter(t *testing.T, data []byte, marker string, n int) []byte {
	t.Helper()
	i := bytes.Index(data, []byte(marker))
	if i < 0 {
		t.Fatalf("fixture has no %q", marker)
	}
	i += len(marker) + n
	if data[i] == 'A' {
		data[i] = 'B'
	} else {
		data[i] = 'A'
	}
	return data
}

// unarmor returns the binary age file inside an armored one, as agenix
// writes them.
func unarmor(t *testing.T, data []byte) []byte {
	t.Helper()
	bin, err := io.ReadAll(armor.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// rearmor applies tamper to the binary age file inside an armored one and
// armors it again.
func rearmor(t *testing.T, data []byte, tamper func(bin []byte)) []byte {
	t.Helper()
	bin := unarmor(t, data)
	tamper(bin)
	var out bytes.Buffer
	w := armor.NewWriter(&out)
	if _, err := w.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// flipNearEnd flips one bit in the last chunk of an age payload.
func flipNearEnd(bin []byte) { bin[len(bin)-5] ^= 0x01 }

// treeSnapshot records every file below dir: mode, and for regular files
// mtime and content hash, for symlinks the target. Directories count by
// their presence and mode only: a lock file that comes and goes moves a
// directory's mtime, and what must not change is the files.
func treeSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", strings.TrimPrefix(p, dir), fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			line += fmt.Sprintf(" %d %s", fi.ModTime().UnixNano(), hex.EncodeToString(h[:8]))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + strings.TrimPrefix(target, dir)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

const (
	errPrefix  = "nix-auth: error: "
	hintPrefix = "nix-auth: hint: "
)

// TestBadInput runs every command in-process on bad input: broken,
// tampered or hostile files, bad keys, injected hosts and tokens, forges
// that misbehave. Each must exit 1 (a problem found) or 2 (wrong usage),
// start stderr with an error line naming the file at fault, give a hint
// that says what to do, leave every file as it was, and print no secret.
func TestBadInput(t *testing.T) {
	cases := badCases()
	for _, more := range moreBadCases {
		cases = append(cases, more()...)
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("two bad-input cases are named %q", c.name)
		}
		names[c.name] = true
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runBadCase(t, c)
		})
	}
}

// moreBadCases are the rows of the matrix kept in other files, one file per
// area (badinput_*_test.go, each adding itself in init), so that each area's
// cases sit beside each other and changes to different areas do not touch
// one long list.
var moreBadCases []func() []badCase

func runBadCase(t *testing.T, c badCase) {
	e := &badEnv{t: t, dir: t.TempDir(), fake: forgetest.New(t), stdin: []byte(c.stdin)}
	e.env = map[string]string{
		"HOME":            e.path("home"),
		"XDG_CONFIG_HOME": e.path("home/.config"),
		"NIX_STORE_DIR":   e.path("store"),
		"NIX_CONF_DIR":    e.path("etc/nix"),
		"XDG_CONFIG_DIRS": e.path("etc/xdg"),
	}
	for k, v := range c.env {
		e.env[k] = strings.ReplaceAll(v, "$D", e.dir)
	}
	// A plain, valid config: what a command must leave alone when it
	// fails. Cases about nix.conf replace it.
	e.nixConf("experimental-features = nix-command flakes\n")
	e.secrets = append(e.secrets, c.secrets...)
	if c.setup != nil {
		c.setup(e)
	}
	args := make([]string, len(c.args))
	for i, a := range c.args {
		args[i] = strings.ReplaceAll(a, "$D", e.dir)
	}

	before := treeSnapshot(t, e.dir)
	var out, errOut bytes.Buffer
	client := e.fake.Client()
	f := &Factory{
		IO:         &IOStreams{In: bytes.NewReader(e.stdin), Out: &out, ErrOut: &errOut},
		HTTPClient: func() *http.Client { return client },
		Getenv:     func(k string) string { return e.env[k] },
		LookupEnv:  func(k string) (string, bool) { v, ok := e.env[k]; return v, ok },
		Now:        time.Now,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := Run(ctx, f, args)
	after := treeSnapshot(t, e.dir)

	// Failure messages show the output with every secret masked: a
	// leak is reported, never repeated.
	stdout, stderr := out.String(), errOut.String()
	shown := func(s string) string {
		s = strings.ReplaceAll(s, e.dir, "$D")
		for _, sec := range e.secrets {
			s = strings.ReplaceAll(s, sec, "<SECRET>")
		}
		return s
	}
	report := func(format string, a ...any) {
		t.Helper()
		t.Errorf("%s\nargs: %s\nstdout:\n%s\nstderr:\n%s", fmt.Sprintf(format, a...), shown(fmt.Sprintf("%q", args)), shown(stdout), shown(stderr))
	}

	for i, sec := range e.secrets {
		if strings.Contains(stdout, sec) || strings.Contains(stderr, sec) {
			report("secret #%d appears in the output", i)
		}
	}
	if code != c.code {
		report("exit code %d, want %d", code, c.code)
	}
	if before != after {
		report("files changed:\nbefore:\n%s\nafter:\n%s", shown(before), shown(after))
	}
	for _, r := range e.fake.Requests() {
		if r.Host == forgetest.RedirectHost {
			report("a request followed a redirect to %s", r.Host)
		}
	}

	if !utf8.ValidString(stdout) || !utf8.ValidString(stderr) {
		report("the output is not valid UTF-8: input bytes were echoed")
	}
	if strings.ContainsFunc(stdout+stderr, func(r rune) bool { return r != '\n' && r != '\t' && termsafe.MustEscape(r) }) {
		report("the output has a control or format character: something untrusted reached the terminal raw")
	}
	if len(stderr) > 8<<10 {
		report("stderr is %d bytes: input was echoed", len(stderr))
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if !c.progress {
		for _, l := range lines {
			if !strings.HasPrefix(l, "nix-auth: ") {
				report("stderr line %q is not nix-auth's: an injected line break?", shown(l))
			}
		}
	}
	errLine := ""
	for i, l := range lines {
		if strings.HasPrefix(l, errPrefix) {
			errLine = l
			break
		}
		if !c.progress || i == len(lines)-1 {
			break
		}
	}
	if errLine == "" {
		report("stderr does not start with %q", errPrefix)
		return
	}
	if c.file != "" && !strings.Contains(errLine, e.path(c.file)) {
		report("the error line does not name %s", c.file)
	}
	if !strings.Contains(errLine, c.want) {
		report("the error line does not say %q", c.want)
	}
	if c.hint != "" {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, hintPrefix) && strings.Contains(l, c.hint)
		}
		if !found {
			report("no hint line says %q", c.hint)
		}
	}
}

// Paths the cases name.
const (
	nixConfPath = "$D/home/.config/nix/nix.conf"
	keyPass1    = "../testdata/crypt/keys/pass1" // ssh ed25519 key, passphrase "hunter2"
	tenMB       = 10 << 20
)

// Secrets the cases feed in; none may be printed.
const (
	tokConf  = "ghp_confSECRET0123456789abcdefghijklmn"
	tokStdin = "ghp_stdinSECRET0123456789abcdefghijkl"
	tokForge = "codebergSECRET0123456789abcdef"
)

// withToken registers tokStdin and tokForge at the fake forge (so a wrong
// answer cannot come from a wrong token) and pipes tokStdin in.
func withToken(e *badEnv) {
	e.fake.AddToken(forgetest.Token{Value: tokStdin, User: "octocat", Scopes: []string{"repo"}})
	e.fake.AddToken(forgetest.Token{Value: tokForge, User: "octocat"})
	e.stdin = []byte(tokStdin + "\n")
}

// then runs the setups one after another.
func then(fs ...func(e *badEnv)) func(e *badEnv) {
	return func(e *badEnv) {
		for _, f := range fs {
			f(e)
		}
	}
}

// confNoSpaces is a line Nix refuses ("illegal configuration line"):
// Nix splits on whitespace and wants "=" as the second word.
func confNoSpaces(e *badEnv) {
	e.nixConf("experimental-features = nix-command\naccess-tokens=github.com=" + tokConf + "\n")
}

func confCycle(e *badEnv) {
	e.nixConf("access-tokens = github.com=" + tokConf + "\ninclude a.conf\n")
	e.write("home/.config/nix/a.conf", []byte("include nix.conf\n"))
}

func confMissingInclude(e *badEnv) {
	e.nixConf("access-tokens = github.com=" + tokConf + "\ninclude missing.conf\n")
}

// confInStore makes nix.conf a symlink into the (fake) Nix store, as
// home-manager does.
func confInStore(e *badEnv) {
	target := e.write("store/0123456789abcdfghijklmnpqrsvwxyz-nix.conf",
		[]byte("experimental-features = nix-command\naccess-tokens = github.com="+tokConf+"\n"))
	conf := e.path(nixConfPath)
	if err := os.Remove(conf); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Symlink(target, conf); err != nil {
		e.t.Fatal(err)
	}
}

func sopsStore(e *badEnv) { e.store("tokens.yaml") }
func ageStore(e *badEnv)  { e.store("tokens.age") }

func copyPass1(e *badEnv) {
	data, err := os.ReadFile(keyPass1)
	if err != nil {
		e.t.Fatal(err)
	}
	e.write("pass1", data)
}

func truncate(name string) func(e *badEnv) {
	return func(e *badEnv) { e.edit(name, func(b []byte) []byte { return b[:len(b)/2] }) }
}

func forgeFail(host, path string, f forgetest.Failure) func(e *badEnv) {
	return func(e *badEnv) { e.fake.Fail(host, path, f) }
}

func device(host, step string) func(e *badEnv) {
	return func(e *badEnv) { e.fake.ScriptDevice(host, forgetest.DeviceScript{Steps: []string{step}}) }
}

func badCases() []badCase {
	render := func(store string, extra ...string) []string {
		return append([]string{"render", store, "--output", "$D/out/access-tokens.conf"}, extra...)
	}
	return []badCase{
		// nix.conf that Nix itself refuses or cannot read.
		{name: "status/nixconf-name=value", args: []string{"status"}, setup: confNoSpaces,
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf}},
		{name: "set-token/nixconf-name=value", args: []string{"set-token", "example.org", "--no-validate"}, setup: then(confNoSpaces, withToken),
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf, tokStdin}},
		{name: "login/nixconf-name=value-before-device-flow", args: []string{"login", "github", "--no-browser"},
			setup: then(confNoSpaces, func(e *badEnv) {
				e.fake.ScriptDevice("github.com", forgetest.DeviceScript{Token: forgetest.Token{Value: tokStdin, User: "octocat"}})
			}),
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf, tokStdin}},
		{name: "logout/nixconf-name=value", args: []string{"logout", "github.com"}, setup: confNoSpaces,
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf}},
		{name: "render/nixconf-name=value", args: []string{"render", "$D/tokens.yaml", "--identity", "$D/good.key"}, setup: then(sopsStore, confNoSpaces),
			code: 1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf}},
		{name: "status/include-cycle", args: []string{"status"}, setup: confCycle,
			code: 1, file: "$D/home/.config/nix/a.conf:1", want: "include cycle", hint: "remove one of these include lines", secrets: []string{tokConf}},
		{name: "login/include-cycle", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(confCycle, withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }),
			code:  1, file: "$D/home/.config/nix/a.conf:1", want: "include cycle", hint: "remove one of these include lines", secrets: []string{tokConf, tokForge}},
		{name: "status/include-missing", args: []string{"status"}, setup: confMissingInclude,
			code: 1, file: nixConfPath + ":2", want: "missing.conf not found", hint: "!include", secrets: []string{tokConf}},
		{name: "set-token/include-missing", args: []string{"set-token", "github.com"}, setup: then(confMissingInclude, withToken),
			code: 1, file: nixConfPath + ":2", want: "missing.conf not found", hint: "!include", secrets: []string{tokConf, tokStdin}},
		{name: "render/include-missing", args: []string{"render", "$D/tokens.yaml", "--identity", "$D/good.key"}, setup: then(sopsStore, confMissingInclude),
			code: 1, file: nixConfPath + ":2", want: "missing.conf not found", hint: "!include", secrets: []string{tokConf}},
		{name: "set-token/nixconf-in-store", args: []string{"set-token", "github.com"}, setup: then(confInStore, withToken),
			code: 1, file: nixConfPath, want: "is a symlink into", hint: "nix.extraOptions", secrets: []string{tokConf, tokStdin}},
		{name: "login/nixconf-in-store", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(confInStore, withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }),
			code:  1, file: nixConfPath, want: "is a symlink into", hint: "nix.extraOptions", secrets: []string{tokConf, tokForge}},
		{name: "logout/nixconf-in-store", args: []string{"logout", "github.com"}, setup: confInStore,
			code: 1, file: nixConfPath, want: "is a symlink into", hint: "nix.extraOptions", secrets: []string{tokConf}},
		{name: "render/nixconf-in-store", args: []string{"render", "$D/tokens.yaml", "--identity", "$D/good.key"}, setup: then(sopsStore, confInStore),
			code: 1, file: nixConfPath, want: "is a symlink into", hint: "nix.extraOptions", secrets: []string{tokConf}},
		{name: "status/nixconf-10MB-line", args: []string{"status"},
			setup: func(e *badEnv) { e.nixConf(strings.Repeat("x", tenMB) + "\n") },
			code:  1, file: nixConfPath + ":1", want: "not a `name = value` line", hint: "spaces around '='"},
		{name: "status/nixconf-non-utf8", args: []string{"status"},
			setup: func(e *badEnv) { e.nixConf("access-tokens = github.com=" + tokConf + "\n\xff\xfe\xc3\x28 \x80\n") },
			code:  1, file: nixConfPath + ":2", want: "not a `name = value` line", hint: "spaces around '='", secrets: []string{tokConf}},

		// Encrypted stores: damaged, tampered, or not for our keys.
		{name: "render/sops-mac-tampered", args: render("$D/tokens.yaml", "--identity", "$D/good.key"),
			setup: then(sopsStore, func(e *badEnv) {
				e.edit("tokens.yaml", func(b []byte) []byte { return swapAfter(e.t, b, "mac: ENC[AES256_GCM,data:", 5) })
			}),
			code: 1, file: "$D/tokens.yaml", want: "MAC mismatch", hint: "restore it from version control"},
		{name: "status-file/sops-metadata-tampered", args: []string{"status", "--file", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(sopsStore, func(e *badEnv) {
				e.edit("tokens.yaml", func(b []byte) []byte { return replaceOnce(e.t, b, "user: octocat", "user: mallory") })
			}),
			code: 1, file: "$D/tokens.yaml", want: "MAC mismatch", hint: "restore it from version control"},
		{name: "login-encrypted/sops-mac-tampered", args: []string{"login", "codeberg", "--token-stdin", "--encrypt-to", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(sopsStore, withToken, func(e *badEnv) {
				e.stdin = []byte(tokForge)
				e.edit("tokens.yaml", func(b []byte) []byte { return swapAfter(e.t, b, "mac: ENC[AES256_GCM,data:", 5) })
			}),
			code: 1, file: "$D/tokens.yaml", want: "MAC mismatch", hint: "restore it from version control", secrets: []string{tokForge}},
		{name: "rekey/sops-mac-tampered", args: []string{"rekey", "$D/tokens.yaml", "--identity", "$D/good.key", "--recipient", "$D/wrong.pub"},
			setup: then(sopsStore, func(e *badEnv) {
				e.write("wrong.pub", []byte(badKeys()[1].Recipient().String()+"\n"))
				e.edit("tokens.yaml", func(b []byte) []byte { return swapAfter(e.t, b, "mac: ENC[AES256_GCM,data:", 5) })
			}),
			code: 1, file: "$D/tokens.yaml", want: "MAC mismatch", hint: "restore it from version control"},
		{name: "render/sops-value-tampered", args: render("$D/tokens.yaml", "--identity", "$D/good.key"),
			setup: then(sopsStore, func(e *badEnv) {
				e.edit("tokens.yaml", func(b []byte) []byte { return swapAfter(e.t, b, "token: ENC[AES256_GCM,data:", 3) })
			}),
			code: 1, file: "$D/tokens.yaml", want: "changed without its key", hint: "restore it from version control"},
		{name: "render/age-payload-byte-flipped", args: render("$D/tokens.age", "--identity", "$D/good.key"),
			setup: then(ageStore, func(e *badEnv) {
				e.edit("tokens.age", func(b []byte) []byte { return rearmor(e.t, b, flipNearEnd) })
			}),
			code: 1, file: "$D/tokens.age", want: "fails authentication", hint: "restore it from version control"},
		{name: "status-file/age-header-mac-flipped", args: []string{"status", "--file", "$D/tokens.age", "--identity", "$D/good.key"},
			setup: then(ageStore, func(e *badEnv) {
				e.edit("tokens.age", func(b []byte) []byte {
					return rearmor(e.t, b, func(bin []byte) { swapAfter(e.t, bin, "\n--- ", 6) })
				})
			}),
			code: 1, file: "$D/tokens.age", want: "fails authentication", hint: "restore it from version control"},
		{name: "status-file/sops-wrong-identity", args: []string{"status", "--file", "$D/tokens.yaml", "--identity", "$D/wrong.key"}, setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "none of the identities", hint: "wrong.key"},
		{name: "status-file/passphrase-key-no-terminal", args: []string{"status", "--file", "$D/tokens.yaml", "--identity", "$D/pass1"},
			setup: then(sopsStore, copyPass1),
			code:  1, file: "$D/pass1", want: "no terminal to ask for it", hint: "use a key without a passphrase"},
		{name: "status-file/unknown-extension", args: []string{"status", "--file", "$D/tokens.sops"},
			setup: func(e *badEnv) { e.write("tokens.sops", []byte("hosts: {}\n")) },
			code:  2, file: "$D/tokens.sops", want: "unknown encrypted store format", hint: "secrets/tokens.yaml"},
		{name: "rekey/age-byte-flipped", args: []string{"rekey", "$D/tokens.age", "--identity", "$D/good.key", "--recipient", "$D/wrong.pub"},
			setup: then(ageStore, func(e *badEnv) {
				e.write("wrong.pub", []byte(badKeys()[1].Recipient().String()+"\n"))
				e.edit("tokens.age", func(b []byte) []byte { return rearmor(e.t, b, flipNearEnd) })
			}),
			code: 1, file: "$D/tokens.age", want: "fails authentication", hint: "restore it from version control"},
		{name: "render/sops-truncated", args: render("$D/tokens.yaml", "--identity", "$D/good.key"),
			setup: then(sopsStore, truncate("tokens.yaml")),
			code:  1, file: "$D/tokens.yaml", want: "truncated or damaged", hint: "restore it from version control"},
		{name: "status-file/sops-truncated", args: []string{"status", "--file", "$D/tokens.yaml"},
			setup: then(sopsStore, truncate("tokens.yaml")),
			code:  1, file: "$D/tokens.yaml", want: "truncated or damaged", hint: "restore it from version control"},
		{name: "render/age-truncated", args: render("$D/tokens.age", "--identity", "$D/good.key"),
			setup: then(ageStore, truncate("tokens.age")),
			code:  1, file: "$D/tokens.age", want: "truncated", hint: "restore it from version control"},
		{name: "set-token-encrypted/age-binary-truncated", args: []string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/tokens.age", "--identity", "$D/good.key"},
			setup: then(ageStore, func(e *badEnv) {
				e.edit("tokens.age", func(b []byte) []byte { bin := unarmor(e.t, b); return bin[:len(bin)-20] })
			}, withToken),
			code: 1, file: "$D/tokens.age", want: "truncated", hint: "restore it from version control", secrets: []string{tokStdin}},
		{name: "render/sops-wrong-identity", args: render("$D/tokens.yaml", "--identity", "$D/wrong.key"), setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "none of the identities", hint: "wrong.key"},
		{name: "logout-encrypted/age-wrong-identity", args: []string{"logout", "github.com", "--encrypt-to", "$D/tokens.age"},
			env: map[string]string{"SOPS_AGE_KEY_FILE": "$D/wrong.key"}, setup: ageStore,
			code: 1, file: "$D/tokens.age", want: "none of the identities", hint: "wrong.key"},
		{name: "set-token-encrypted/sops-wrong-identity", args: []string{"set-token", "github.com", "--encrypt-to", "$D/tokens.yaml"},
			env: map[string]string{"SOPS_AGE_KEY_FILE": "$D/wrong.key"}, setup: then(sopsStore, withToken),
			code: 1, file: "$D/tokens.yaml", want: "none of the identities", hint: "wrong.key", secrets: []string{tokStdin}},
		{name: "render/passphrase-key-no-terminal", args: render("$D/tokens.yaml", "--identity", "$D/pass1"), setup: then(sopsStore, copyPass1),
			code: 1, file: "$D/pass1", want: "no terminal to ask for it", hint: "use a key without a passphrase"},
		{name: "logout-encrypted/passphrase-key-no-terminal", args: []string{"logout", "github.com", "--encrypt-to", "$D/tokens.age", "--identity", "$D/pass1"},
			setup: then(ageStore, copyPass1),
			code:  1, file: "$D/pass1", want: "no terminal to ask for it", hint: "use a key without a passphrase"},
		{name: "set-token-encrypted/unknown-extension", args: []string{"set-token", "github.com", "--encrypt-to", "$D/tokens.txt"}, setup: withToken,
			code: 2, file: "$D/tokens.txt", want: "unknown encrypted store format", hint: "secrets/tokens.yaml", secrets: []string{tokStdin}},
		{name: "render/unknown-extension", args: render("$D/tokens.toml"),
			setup: func(e *badEnv) { e.write("tokens.toml", []byte("github.com = \""+tokConf+"\"\n")) },
			code:  2, file: "$D/tokens.toml", want: "unknown encrypted store format", hint: "secrets/tokens.yaml", secrets: []string{tokConf}},
		{name: "set-token-encrypted/sops-yaml-no-matching-rule", args: []string{"set-token", "github.com", "--encrypt-to", "$D/new.yaml"},
			env: map[string]string{"SOPS_CONFIG": "$D/.sops.yaml"},
			setup: then(withToken, func(e *badEnv) {
				e.write(".sops.yaml", []byte("creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: "+badKeys()[0].Recipient().String()+"\n"))
			}),
			code: 1, file: "$D/.sops.yaml", want: "new.yaml", hint: "path_regex", secrets: []string{tokStdin}},
		{name: "set-token-encrypted/sops-rule-without-keys", args: []string{"set-token", "github.com", "--encrypt-to", "$D/new.yaml"},
			env: map[string]string{"SOPS_CONFIG": "$D/.sops.yaml"},
			setup: then(withToken, func(e *badEnv) {
				e.write(".sops.yaml", []byte("creation_rules:\n  - path_regex: .*\\.yaml$\n"))
			}),
			code: 1, file: "$D/.sops.yaml", want: "names no keys", hint: "add age: keys", secrets: []string{tokStdin}},
		{name: "login-encrypted/recipient-empty-file", args: []string{"login", "codeberg", "--token-stdin", "--encrypt-to", "$D/new.age", "--recipient", "$D/empty.pub"},
			setup: then(withToken, func(e *badEnv) { e.write("empty.pub", nil); e.stdin = []byte(tokForge) }),
			code:  1, file: "$D/empty.pub", want: "no recipients", hint: "age1... or ssh-ed25519 key per line", secrets: []string{tokForge}},
		{name: "rekey/recipient-empty-file", args: []string{"rekey", "$D/tokens.yaml", "--identity", "$D/good.key", "--recipient", "$D/empty.pub"},
			setup: then(sopsStore, func(e *badEnv) { e.write("empty.pub", nil) }),
			code:  1, file: "$D/empty.pub", want: "no recipients", hint: "age1... or ssh-ed25519 key per line"},

		// Hosts and tokens that would inject settings into nix.conf.
		{name: "set-token/host-space", args: []string{"set-token", "bad host", "--no-validate"}, setup: withToken,
			code: 2, want: `"bad host" is not a host name`, hint: "", secrets: []string{tokStdin}},
		{name: "login/host-equals", args: []string{"login", "github.com=x", "--token-stdin"}, setup: withToken,
			code: 2, want: "'='", hint: "", secrets: []string{tokStdin}},
		{name: "set-token/host-hash", args: []string{"set-token", "example.org#x", "--no-validate"}, setup: withToken,
			code: 2, want: `"example.org#x" is not a host name`, hint: "", secrets: []string{tokStdin}},
		{name: "set-token/host-newline", args: []string{"set-token", "example.org\nextra-substituters = https://evil.example.com", "--no-validate"}, setup: withToken,
			code: 2, want: `"example.org\nextra-substituters = https://evil.example.com": expected a host`, hint: "", secrets: []string{tokStdin}},
		{name: "logout/host-space", args: []string{"logout", "github.com x"},
			code: 2, want: `"github.com x" is not a host name`, hint: ""},
		{name: "set-token/token-hash", args: []string{"set-token", "example.org", "--no-validate"}, stdin: "abcdef#extraSECRETpart\n",
			code: 1, want: "'#' at byte 7", hint: "exactly as the forge shows it", secrets: []string{"extraSECRETpart"}},
		{name: "set-token/token-space", args: []string{"set-token", "example.org", "--no-validate"}, stdin: "abcdef extraSECRETpart\n",
			code: 1, want: "whitespace at byte 7", hint: "exactly as the forge shows it", secrets: []string{"extraSECRETpart"}},
		{name: "set-token/token-newline", args: []string{"set-token", "example.org", "--no-validate"}, stdin: "abcdefSECRETline1\nextra-substituters = https://evil.example.com\n",
			code: 1, want: "2 lines", hint: "single token", secrets: []string{"abcdefSECRETline1", "evil.example.com"}},
		{name: "login/token-escape-sequence", args: []string{"login", "codeberg", "--token-stdin"}, stdin: "abc\x1b]0;SECRETtitle\x07def\n",
			code: 1, want: "control character (0x1b) at byte 4", hint: "exactly as the forge shows it", secrets: []string{"SECRETtitle", "\x1b"}},
		{name: "set-token/token-on-argv", args: []string{"set-token", "github.com", tokStdin},
			code: 2, want: "refusing to take a token from the command line", hint: "pipe it instead", secrets: []string{tokStdin}},
		{name: "set-token/token-in-unknown-flag", args: []string{"set-token", "github.com", "--token=" + tokStdin},
			code: 2, want: "unknown flag", hint: "", secrets: []string{tokStdin}},
		{name: "set-token/stdin-10MB", args: []string{"set-token", "github.com"},
			setup: func(e *badEnv) { e.stdin = bytes.Repeat([]byte("ghp_"+tokStdin[4:]+"\n"), tenMB/len(tokStdin)) },
			code:  1, want: "larger than 16 KiB", hint: "pipe just the token", secrets: []string{tokStdin}},
		{name: "set-token/token-non-utf8", args: []string{"set-token", "example.org", "--no-validate"}, stdin: "abc\xff\xfeSECRETbytes\n",
			code: 1, want: "not valid UTF-8", hint: "exactly as the forge shows it", secrets: []string{"SECRETbytes"}},

		// The forge says no, or is not the forge.
		{name: "login/device-code-expired", args: []string{"login", "github", "--no-browser"}, setup: device("github.com", "expired_token"),
			code: 1, progress: true, want: "the one-time code expired", hint: "enter the code before it expires"},
		{name: "login/device-access-denied", args: []string{"login", "gitlab", "--no-browser"}, setup: device("gitlab.com", "access_denied"),
			code: 1, progress: true, want: "denied", hint: "approve the request"},
		{name: "set-token/forge-500", args: []string{"set-token", "github.com"}, setup: then(withToken, forgeFail("api.github.com", "/user", forgetest.Fail500)),
			code: 1, want: "could not validate", hint: "--no-validate", secrets: []string{tokStdin}},
		{name: "set-token/forge-html", args: []string{"set-token", "github.com"}, setup: then(withToken, forgeFail("api.github.com", "/user", forgetest.FailHTML)),
			code: 1, want: "could not validate", hint: "--no-validate", secrets: []string{tokStdin}},
		{name: "set-token/forge-redirect", args: []string{"set-token", "github.com"}, setup: then(withToken, forgeFail("api.github.com", "/user", forgetest.FailRedirect)),
			code: 1, want: "could not validate", hint: "--no-validate", secrets: []string{tokStdin}},
		{name: "login/forge-500", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }, forgeFail("codeberg.org", "/api/v1/user", forgetest.Fail500)),
			code:  1, want: "codeberg.org answered 500", hint: "try again later", secrets: []string{tokForge}},
		{name: "login/forge-html", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }, forgeFail("codeberg.org", "/api/v1/user", forgetest.FailHTML)),
			code:  1, want: "with a web page instead of the API's JSON", hint: "login portal", secrets: []string{tokForge}},
		{name: "login/forge-redirect", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }, forgeFail("codeberg.org", "/api/v1/user", forgetest.FailRedirect)),
			code:  1, want: "redirected to elsewhere.example.com", hint: "use that host", secrets: []string{tokForge}},

		// render's plain input and its usage.
		{name: "render/plain-injected-token", args: []string{"render", "--plain", "$D/plain.yaml", "--output", "$D/out/access-tokens.conf"},
			setup: func(e *badEnv) {
				e.write("plain.yaml", []byte("hosts:\n    github.com:\n        token: \"ghp_plainSECRET\\nextra-substituters = https://evil.example.com\"\n"))
			},
			code: 1, file: "$D/plain.yaml", want: "the token for github.com", hint: "fix the store", secrets: []string{"ghp_plainSECRET", "evil.example.com"}},
		{name: "render/plain-10MB", args: []string{"render", "--plain", "$D/plain.conf", "--output", "$D/out/access-tokens.conf"},
			setup: func(e *badEnv) {
				e.write("plain.conf", append([]byte("access-tokens = github.com="+tokConf+"\n"), bytes.Repeat([]byte("#\n"), tenMB/2)...))
			},
			code: 1, file: "$D/plain.conf", want: "too large", hint: "--plain takes", secrets: []string{tokConf}},
		{name: "render/plain-still-encrypted", args: []string{"render", "--plain", "$D/tokens.yaml", "--output", "$D/out/access-tokens.conf"}, setup: sopsStore,
			code: 1, file: "$D/tokens.yaml", want: "still sops-encrypted", hint: "nix-auth render"},
		{name: "render/no-input", args: []string{"render", "--output", "$D/out/access-tokens.conf"},
			code: 2, want: "give exactly one input", hint: ""},
		{name: "render/two-inputs", args: render("$D/tokens.yaml", "--plain", "$D/plain.conf"), setup: sopsStore,
			code: 2, want: "give exactly one input", hint: ""},
	}
}
