package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/nixconf"
)

const cacheTok = "eyJhbGciOiJIUzI1NiJ9.cache0123456789"

func netrcEntries() []crypt.Entry {
	return []crypt.Entry{
		{Host: "codeberg.org", Token: cbTok, Provider: "forgejo", User: "ferris", Use: crypt.UseBoth, Login: "ferris"},
		{Host: "github.com", Token: ghTok, Provider: "github"},
		{Host: "cache.example.com:8443/main", Token: cacheTok, Provider: "cache", Use: crypt.UseNetrc, Login: "x-access-token"},
		{Host: "old-cache.example.com", Token: cacheTok, Provider: "cache", Use: crypt.UseNetrc, Login: "x", Expires: now.Add(-time.Hour)},
	}
}

// TestRenderNetrc: both store formats carry netrc credentials, and render
// writes them with the access tokens.
func TestRenderNetrc(t *testing.T) {
	for _, name := range []string{"tokens.age", "tokens.yaml"} {
		t.Run(name, func(t *testing.T) { testRenderNetrc(t, name) })
	}
}

func testRenderNetrc(t *testing.T, name string) {
	store, id := newStore(t, name, netrcEntries()...)
	dir := t.TempDir()
	out, netrc := filepath.Join(dir, "access-tokens.conf"), filepath.Join(dir, "netrc")
	l := &logs{t: t}
	o := l.opts(Options{Store: store, Identities: []age.Identity{id}, Output: out, NetrcOutput: netrc, Mode: 0o640})
	res, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	l.noSecrets()
	if strings.Contains(l.lines.String(), cacheTok) {
		t.Fatal("the cache token leaked into the log")
	}
	if got, want := settingLine(t, out), "extra-access-tokens = codeberg.org="+cbTok+" github.com="+ghTok; got != want {
		t.Errorf("access tokens %q, want %q", got, want)
	}
	// In the store's order: an .age store's in the order written, a sops
	// store's sorted by host.
	cb := "machine codeberg.org login ferris password " + cbTok + "\n"
	cache := "machine cache.example.com login x-access-token password " + cacheTok + "\n"
	hosts := "codeberg.org,cache.example.com"
	want := nixconf.RenderHeader(store) + cb + cache
	if name == "tokens.yaml" {
		hosts = "cache.example.com,codeberg.org"
		want = nixconf.RenderHeader(store) + cache + cb
	}
	if got := readFile(t, netrc); got != want {
		t.Errorf("netrc:\n%s\nwant\n%s", got, want)
	}
	if fi, _ := os.Stat(netrc); fi.Mode().Perm() != 0o640 {
		t.Errorf("netrc mode %v", fi.Mode())
	}
	if !res.Changed || !res.NetrcChanged || strings.Join(res.NetrcHosts, ",") != hosts ||
		strings.Join(res.Expired, ",") != "old-cache.example.com" {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(l.lines.String(), "cache.example.com (netrc, login x-access-token) …6789 expires never\n") {
		t.Errorf("log:\n%s", l.lines.String())
	}
	for host, want := range map[string]nixconf.NetrcCredential{
		"codeberg.org":      {Login: "ferris", Password: cbTok},
		"cache.example.com": {Login: "x-access-token", Password: cacheTok},
	} {
		got, ok, err := nixconf.NetrcLookup([]byte(readFile(t, netrc)), netrc, host)
		if err != nil || !ok || got != want {
			t.Errorf("curl reads %v %v %v for %s", got, ok, err, host)
		}
	}

	// Again: nothing rewritten, the mtimes kept; --check agrees.
	fi1, _ := os.Stat(netrc)
	time.Sleep(10 * time.Millisecond)
	res, err = Render(o)
	if err != nil || res.Changed || res.NetrcChanged {
		t.Fatalf("second render: %+v %v", res, err)
	}
	if fi2, _ := os.Stat(netrc); !fi2.ModTime().Equal(fi1.ModTime()) {
		t.Error("an unchanged netrc was rewritten")
	}
	o.Check = true
	if _, err := Render(o); err != nil {
		t.Fatalf("check of an up-to-date netrc: %v", err)
	}
	os.Remove(netrc)
	if _, err := Render(o); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), netrc) {
		t.Fatalf("check of a missing netrc: %v", err)
	}
	if _, err := os.Stat(netrc); err == nil {
		t.Fatal("--check wrote the netrc")
	}
}

func TestRenderNetrcRefuses(t *testing.T) {
	store, id := newStore(t, "tokens.age", netrcEntries()...)
	dir := t.TempDir()
	out := filepath.Join(dir, "access-tokens.conf")
	mine := filepath.Join(dir, "my-netrc")
	os.WriteFile(mine, []byte("machine x.example.com login me password mine\n"), 0o600)
	cases := []struct {
		name, netrc, want string
	}{
		{"same as output", out, "name the same file"},
		{"the user's netrc", mine, "does not write over a file it did not make"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &logs{t: t}
			_, err := Render(l.opts(Options{Store: store, Identities: []age.Identity{id}, Output: out, NetrcOutput: c.netrc}))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want %q", err, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("the output was written")
			}
		})
	}
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "elsewhere"), link)
	l := &logs{t: t}
	if _, err := Render(l.opts(Options{Store: store, Identities: []age.Identity{id}, Output: out, NetrcOutput: link})); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("a symlink as netrc output: %v", err)
	}

	// Without --netrc-output the netrc credentials are left out, with a
	// warning naming them.
	l = &logs{t: t}
	if _, err := Render(l.opts(Options{Store: store, Identities: []age.Identity{id}, Output: out})); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(l.warns, "\n"); !strings.Contains(w, "netrc credentials for codeberg.org, cache.example.com:8443/main are left out") {
		t.Errorf("warnings:\n%s", w)
	}

	// One machine, two credentials: curl would send the first to both.
	store2, id2 := newStore(t, "two.age",
		crypt.Entry{Host: "cache.example.com", Token: "tokA", Use: crypt.UseNetrc, Login: "a"},
		crypt.Entry{Host: "cache.example.com:8443", Token: "tokB", Use: crypt.UseNetrc, Login: "a"})
	l = &logs{t: t}
	_, err := Render(l.opts(Options{Store: store2, Identities: []age.Identity{id2}, Output: filepath.Join(dir, "o2"), NetrcOutput: filepath.Join(dir, "n2")}))
	if err == nil || !strings.Contains(err.Error(), "same netrc machine, cache.example.com") {
		t.Fatalf("two credentials for one machine: %v", err)
	}
}

// TestRenderNetrcPlain: what sops-nix and agenix deploy carries netrc
// credentials too; a bad one is refused before anything is written.
func TestRenderNetrcPlain(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree.yaml")
	os.WriteFile(tree, []byte("hosts:\n  cache.example.com:\n    token: \""+cacheTok+"\"\n    use: netrc\n    login: alice\n  github.com:\n    token: "+ghTok+"\n"), 0o600)
	frag := filepath.Join(dir, "frag")
	os.WriteFile(frag, []byte("# nix-auth: host=cache.example.com use=netrc login=alice token="+cacheTok+"\naccess-tokens = github.com="+ghTok+"\n"), 0o600)
	for _, in := range []string{tree, frag} {
		out, netrc := filepath.Join(dir, filepath.Base(in)+".conf"), filepath.Join(dir, filepath.Base(in)+".netrc")
		l := &logs{t: t}
		if _, err := Render(l.opts(Options{Plain: in, Output: out, NetrcOutput: netrc})); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := readFile(t, netrc); !strings.HasSuffix(got, "\nmachine cache.example.com login alice password "+cacheTok+"\n") {
			t.Errorf("%s rendered:\n%s", in, got)
		}
		if got := settingLine(t, out); got != "extra-access-tokens = github.com="+ghTok {
			t.Errorf("%s access tokens %q", in, got)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("hosts:\n  cache.example.com:\n    token: \"has\\\"quote\"\n    use: netrc\n    login: alice\n"), 0o600)
	l := &logs{t: t}
	_, err := Render(l.opts(Options{Plain: bad, Output: filepath.Join(dir, "bad.conf"), NetrcOutput: filepath.Join(dir, "bad.netrc")}))
	if err == nil || !strings.Contains(err.Error(), "quote") {
		t.Fatalf("a netrc password with a quote: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.netrc")); err == nil {
		t.Fatal("a refused input was written")
	}
}

// TestRenderNetrcNixConf: render leaves netrc-file to the configuration
// that owns it, and says when nix.conf does not name its output.
func TestRenderNetrcNixConf(t *testing.T) {
	store, id := newStore(t, "tokens.age", netrcEntries()...)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nix.conf")
	os.WriteFile(conf, []byte("experimental-features = nix-command\n"), 0o644)
	netrc := filepath.Join(dir, "netrc")
	l := &logs{t: t}
	o := l.opts(Options{Store: store, Identities: []age.Identity{id}, Output: filepath.Join(dir, "out.conf"), NetrcOutput: netrc, NixConf: conf})
	if _, err := Render(o); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(l.warns, "\n"); !strings.Contains(w, "sets no netrc-file") || !strings.Contains(w, "`netrc-file = "+netrc+"`") {
		t.Errorf("warnings:\n%s", w)
	}
	if strings.Contains(readFile(t, conf), "netrc-file") {
		t.Error("render edited netrc-file")
	}
	os.WriteFile(conf, []byte("netrc-file = "+netrc+"\n!include out.conf\n"), 0o644)
	l = &logs{t: t}
	if _, err := Render(l.opts(o)); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(l.warns, "\n"); strings.Contains(w, "netrc-file") {
		t.Errorf("warned though nix.conf names the netrc:\n%s", w)
	}
}
