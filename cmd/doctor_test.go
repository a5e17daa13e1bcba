package cmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/nix-auth/nix-auth/internal/tooltest"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/nixconf"
)

// Tokens of the doctor fixtures; none may be printed.
const (
	docGitHub   = "ghp_DOCTORsecret0123456789abcdefABCD"
	docGitLab   = "glpat-DOCTORsecret0123456789"
	docCodeberg = "0123456789abcdef0123456789abcdefDOCTOR01"
	docCache    = "cacheDOCTORsecret0123456789"
)

var docSecrets = []string{docGitHub, docGitLab, docCodeberg, docCache}

// doctorEnv is one doctor run's world, below dir: home, the system's
// config (etc/nix), XDG_CONFIG_DIRS (etc/xdg) and a Nix store (store).
type doctorEnv struct {
	t    *testing.T
	dir  string
	env  map[string]string
	fake *forgetest.Server
}

func newDoctorEnv(t *testing.T) *doctorEnv {
	e := &doctorEnv{t: t, dir: t.TempDir()}
	// TempDir makes 0700 directories, which keep other users out of
	// everything below: doctor sees that a file's mode alone does not.
	for _, d := range []string{e.dir, filepath.Dir(e.dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"home/.config/nix", "etc/nix", "etc/xdg", "store", "bin"} {
		if err := os.MkdirAll(e.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.env = map[string]string{
		"HOME":            e.path("home"),
		"XDG_CONFIG_HOME": e.path("home/.config"),
		"NIX_CONF_DIR":    e.path("etc/nix"),
		"XDG_CONFIG_DIRS": e.path("etc/xdg"),
		"NIX_STORE_DIR":   e.path("store"),
		// No nix: the cases that need one put it on PATH.
		"PATH": e.path("bin"),
		// No nix-daemon unless a case says so.
		"NIX_REMOTE": "local",
	}
	return e
}

func (e *doctorEnv) path(rel string) string { return filepath.Join(e.dir, rel) }

// write writes rel with mode ($D in data is the world's directory).
func (e *doctorEnv) write(rel, data string, mode os.FileMode) string {
	p := e.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(data, "$D", e.dir)), mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *doctorEnv) link(rel, target string) {
	if err := os.Symlink(strings.ReplaceAll(target, "$D", e.dir), e.path(rel)); err != nil {
		e.t.Fatal(err)
	}
}

// run runs nix-auth with args and returns its output and exit code,
// failing the test when a secret shows.
func (e *doctorEnv) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:        &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv:    func(k string) string { return e.env[k] },
		LookupEnv: func(k string) (string, bool) { v, ok := e.env[k]; return v, ok },
		Now:       func() time.Time { return time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC) },
	}
	if e.fake != nil {
		c := e.fake.Client()
		f.HTTPClient = func() *http.Client { return c }
	} else {
		f.HTTPClient = func() *http.Client { e.t.Fatal("doctor used the network offline"); return nil }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = Run(ctx, f, args)
	stdout, stderr = out.String(), errOut.String()
	for i, s := range docSecrets {
		if strings.Contains(stdout+stderr, s) {
			e.t.Errorf("secret #%d appears in the output of %q", i, args)
		}
	}
	return stdout, stderr, code
}

// report runs doctor --json.
func (e *doctorEnv) report(args ...string) (doctorReport, int) {
	e.t.Helper()
	stdout, stderr, code := e.run(append([]string{"doctor", "--json"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		e.t.Fatalf("doctor --json printed no JSON: %v\n%s\n%s", err, stdout, stderr)
	}
	return rep, code
}

func (rep doctorReport) find(code string) *finding {
	for i := range rep.Findings {
		if rep.Findings[i].Code == code {
			return &rep.Findings[i]
		}
	}
	return nil
}

// A fixture per finding code: what the files hold, and the finding that
// must explain it.
func TestDoctorFindings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(e *doctorEnv)
		code     string
		severity string
		host     string
		file     string // $D-relative
	}{
		{
			name: "world-readable",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "access-tokens = github.com="+docGitHub+"\n", 0o644)
			},
			code: codeWorldReadable, severity: sevError, host: "github.com", file: "home/.config/nix/nix.conf",
		},
		{
			name: "in-nix-store",
			setup: func(e *doctorEnv) {
				e.write("store/0123abcd-secrets.conf", "extra-access-tokens = github.com="+docGitHub+"\n", 0o444)
				e.write("home/.config/nix/nix.conf", "!include $D/store/0123abcd-secrets.conf\n", 0o644)
			},
			code: codeInNixStore, severity: sevError, host: "github.com", file: "store/0123abcd-secrets.conf",
		},
		{
			name: "world-readable-netrc",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "netrc-file = $D/home/.config/nix/netrc\n", 0o644)
				e.write("home/.config/nix/netrc", "machine cache.example.com login x-access-token password "+docCache+"\n", 0o644)
			},
			code: codeWorldReadable, severity: sevError, host: "cache.example.com", file: "home/.config/nix/netrc",
		},
		{
			name: "in-nix-store-home-manager",
			setup: func(e *doctorEnv) {
				// nix.extraOptions with a token read from a secrets file at
				// evaluation: home-manager's nix.conf holds it, in the store.
				e.write("store/abcd0123-home-manager-files/nix.conf", "access-tokens = github.com="+docGitHub+"\n", 0o444)
				e.link("home/.config/nix/nix.conf", "$D/store/abcd0123-home-manager-files/nix.conf")
			},
			code: codeInNixStore, severity: sevError, host: "github.com", file: "home/.config/nix/nix.conf",
		},
		{
			name: "shadowed",
			setup: func(e *doctorEnv) {
				e.write("etc/nix/nix.conf", "access-tokens = github.com="+docGitHub+"\n", 0o600)
				e.write("home/.config/nix/nix.conf", "access-tokens = gitlab.com=PAT:"+docGitLab+"\n", 0o600)
			},
			code: codeShadowed, severity: sevWarning, host: "github.com", file: "home/.config/nix/nix.conf",
		},
		{
			name: "unreadable-include",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "!include tokens.conf\n", 0o644)
				e.link("home/.config/nix/tokens.conf", "/run/secrets/nonexistent-token")
			},
			code: codeUnreadableInclude, severity: sevWarning, file: "home/.config/nix/tokens.conf",
		},
		{
			name: "gitlab-no-prefix",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "!include access-tokens.conf\n", 0o644)
				e.write("home/.config/nix/access-tokens.conf", "extra-access-tokens = gitlab.com="+docGitLab+"\n", 0o600)
			},
			code: codeGitLabNoPrefix, severity: sevError, host: "gitlab.com", file: "home/.config/nix/access-tokens.conf",
		},
		{
			name: "gitlab-no-prefix-self-hosted",
			setup: func(e *doctorEnv) {
				// No host to know it by: the token's glpat- says GitLab.
				e.write("home/.config/nix/nix.conf", "extra-access-tokens = git.corp.example="+docGitLab+"\n", 0o600)
			},
			code: codeGitLabNoPrefix, severity: sevError, host: "git.corp.example", file: "home/.config/nix/nix.conf",
		},
		{
			name: "no-fetcher-uses-it",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "extra-access-tokens = codeberg.org="+docCodeberg+"\n", 0o600)
			},
			code: codeNoFetcher, severity: sevWarning, host: "codeberg.org", file: "home/.config/nix/nix.conf",
		},
		{
			name: "expired",
			setup: func(e *doctorEnv) {
				// A store's plaintext as agenix deploys it, included.
				e.write("home/.config/nix/nix.conf", "!include $D/run/agenix/nix-tokens\n", 0o644)
				e.write("run/agenix/nix-tokens", "# nix-auth: host=github.com provider=github user=octocat expires=2026-01-01T00:00:00Z\n"+
					"access-tokens = github.com="+docGitHub+"\n", 0o400)
			},
			code: codeExpired, severity: sevError, host: "github.com", file: "run/agenix/nix-tokens",
		},
		{
			name: "expired-render",
			setup: func(e *doctorEnv) {
				// render's output names its store, whose metadata (readable
				// without a key) says when the token expires.
				store, err := os.ReadFile("../testdata/crypt/stores/sops-encrypt-regex.yaml")
				if err != nil {
					e.t.Fatal(err)
				}
				src := e.write("fleet/tokens.yaml", string(store), 0o644)
				e.write("etc/nix/nix.conf", "!include access-tokens.rendered.conf\n", 0o644)
				e.write("etc/nix/access-tokens.rendered.conf", nixconf.RenderHeader(src)+"extra-access-tokens = gitlab.com=OAuth2:"+docGitLab+"\n", 0o600)
			},
			code: codeExpired, severity: sevError, host: "gitlab.com", file: "etc/nix/access-tokens.rendered.conf",
		},
		{
			name: "nix-config-env",
			setup: func(e *doctorEnv) {
				e.env["NIX_CONFIG"] = "extra-access-tokens = github.com=" + docGitHub
			},
			code: codeNixConfigEnv, severity: sevWarning, host: "github.com", file: "NIX_CONFIG",
		},
		{
			name: "managed-readonly",
			setup: func(e *doctorEnv) {
				e.write("store/abcd0123-home-manager-files/nix.conf", "experimental-features = nix-command flakes\n", 0o444)
				e.link("home/.config/nix/nix.conf", "$D/store/abcd0123-home-manager-files/nix.conf")
			},
			code: codeManagedReadOnly, severity: sevWarning, file: "home/.config/nix/nix.conf",
		},
		{
			name: "daemon-cannot-read",
			setup: func(e *doctorEnv) {
				e.env["NIX_REMOTE"] = "daemon"
				e.write("home/.config/nix/nix.conf", "netrc-file = $D/home/.config/nix/netrc\nextra-substituters = https://cache.example.com\n", 0o644)
				e.write("home/.config/nix/netrc", "machine cache.example.com login x-access-token password "+docCache+"\n", 0o600)
			},
			code: codeDaemonCannotRead, severity: sevWarning, host: "cache.example.com", file: "home/.config/nix/netrc",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDoctorEnv(t)
			tc.setup(e)
			rep, code := e.report()
			fd := rep.find(tc.code)
			if fd == nil {
				t.Fatalf("no %s finding: %+v", tc.code, rep.Findings)
			}
			file := e.path(tc.file)
			if tc.file == "NIX_CONFIG" {
				file = tc.file
			}
			if fd.Severity != tc.severity || fd.Host != tc.host || fd.File != file || fd.Message == "" || fd.Fix == "" {
				t.Errorf("finding %+v, want severity %s host %q file %s", *fd, tc.severity, tc.host, file)
			}
			wantCode := 0
			for _, f := range rep.Findings {
				if f.Severity == sevError {
					wantCode = 1
				}
			}
			if code != wantCode {
				t.Errorf("exit %d, want %d (%+v)", code, wantCode, rep.Findings)
			}
			if rep.find(codeNixMissing) == nil || rep.Nix.Found {
				t.Errorf("no nix on PATH, but the report says %+v", rep.Nix)
			}
			// The human output names the same finding.
			stdout, _, hcode := e.run("doctor")
			if hcode != code || !strings.Contains(stdout, "["+tc.code+"]") || !strings.Contains(stdout, "fix: ") {
				t.Errorf("human output (exit %d):\n%s", hcode, stdout)
			}
		})
	}
}

// A sound setup has nothing to say but where each credential comes from.
func TestDoctorClean(t *testing.T) {
	e := newDoctorEnv(t)
	e.write("etc/nix/nix.conf", "!include access-tokens.rendered.conf\n", 0o644)
	e.write("etc/nix/access-tokens.rendered.conf", "extra-access-tokens = github.com="+docGitHub+"\n", 0o600)
	e.write("home/.config/nix/nix.conf", "!include access-tokens.conf\n", 0o644)
	e.write("home/.config/nix/access-tokens.conf", "extra-access-tokens = gitlab.com=PAT:"+docGitLab+"\n", 0o600)
	rep, code := e.report()
	if code != 0 || len(rep.Findings) != 1 || rep.Findings[0].Code != codeNixMissing {
		t.Fatalf("exit %d, findings %+v", code, rep.Findings)
	}
	if len(rep.Credentials) != 2 {
		t.Fatalf("credentials %+v", rep.Credentials)
	}
	gh, gl := rep.Credentials[0], rep.Credentials[1]
	if gh.Host != "github.com" || gh.File != e.path("etc/nix/access-tokens.rendered.conf") || gh.Source != "a file the system's config includes" ||
		gh.Token != "ghp_…ABCD" || !gh.Used {
		t.Errorf("github.com: %+v", gh)
	}
	if gl.Host != "gitlab.com" || gl.File != e.path("home/.config/nix/access-tokens.conf") || gl.Source != "a file your nix.conf includes" || gl.Line != 1 {
		t.Errorf("gitlab.com: %+v", gl)
	}
	stdout, _, _ := e.run("doctor")
	if !strings.Contains(stdout, "No problems found.") || !strings.Contains(stdout, "nix is not installed") {
		t.Errorf("human output:\n%s", stdout)
	}
}

// A file Nix refuses is an error naming its line, never quoting it; the
// netrc file is still read.
func TestDoctorConfigError(t *testing.T) {
	e := newDoctorEnv(t)
	e.write("home/.config/nix/nix.conf", "access-tokens github.com="+docGitHub+"\n", 0o600)
	rep, code := e.report()
	fd := rep.find(codeConfigError)
	if code != 1 || fd == nil || fd.File != e.path("home/.config/nix/nix.conf") || !strings.Contains(fd.Message, ":1:") {
		t.Fatalf("exit %d, findings %+v", code, rep.Findings)
	}
}

// --online asks the forge: a token it refuses is a finding.
func TestDoctorOnline(t *testing.T) {
	e := newDoctorEnv(t)
	e.fake = forgetest.New(t)
	e.write("home/.config/nix/nix.conf", "extra-access-tokens = github.com="+docGitHub+"\n", 0o600)
	rep, code := e.report("--online")
	fd := rep.find(codeInvalid)
	if code != 1 || fd == nil || fd.Host != "github.com" {
		t.Fatalf("exit %d, findings %+v", code, rep.Findings)
	}
	// Offline, the forge is never asked.
	n := len(e.fake.Requests())
	if _, code := e.report(); code != 0 || len(e.fake.Requests()) != n {
		t.Errorf("offline: exit %d, %d requests", code, len(e.fake.Requests())-n)
	}
}

// needNix returns a PATH with a real nix first: Debian's nix-bin (Nix
// 2.8) or the offline kit's Nix 2.26, found as nix/eval_test.go finds the
// kit. In CI a missing one fails.
func needNix(t *testing.T, which string) string {
	t.Helper()
	dir := "/usr/bin"
	if which == "kit" {
		prefix := os.Getenv("NIXEVAL_PREFIX")
		if prefix == "" {
			prefix = "/opt/nixeval"
		}
		dir = filepath.Join(prefix, "bin")
		if _, err := os.Stat(filepath.Join(prefix, "env")); err != nil {
			dir = ""
		}
	}
	if dir != "" {
		if fi, err := os.Stat(filepath.Join(dir, "nix")); err == nil && fi.Mode()&0o111 != 0 {
			return dir + ":/usr/bin:/bin"
		}
	}
	msg := "nix is not installed (.ci/run installs nix-bin)"
	if which == "kit" {
		msg = "the offline evaluation kit is not installed; run ../shared/nixeval/install.sh"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// doctor asks the real nix, old (show-config) and new (config show), and
// attributes each token it uses to its file.
func TestDoctorRealNix(t *testing.T) {
	for _, tc := range []struct {
		name, which, command, version string
	}{
		{"nix-2.8", "debian", "nix show-config --json", "2.8."},
		{"nix-2.26", "kit", "nix config show --json", "2.26."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDoctorEnv(t)
			e.env["PATH"] = needNix(t, tc.which)
			if tc.which == "kit" {
				// The kit's wrapper sets NIX_CONF_DIR to its own config;
				// doctor reads what the wrapper's nix reads.
				e.env["NIX_CONF_DIR"] = filepath.Join(filepath.Dir(strings.Split(e.env["PATH"], ":")[0]), "conf")
			} else {
				e.write("etc/nix/nix.conf", "access-tokens = github.com="+docGitHub+"\n", 0o600)
			}
			e.write("home/.config/nix/nix.conf", "!include access-tokens.conf\nnetrc-file = $D/home/.config/nix/netrc\n", 0o644)
			e.write("home/.config/nix/access-tokens.conf", "extra-access-tokens = gitlab.com="+docGitLab+"\n", 0o600)
			e.env["NIX_CONFIG"] = "extra-access-tokens = codeberg.org=" + docCodeberg
			rep, code := e.report()
			if !rep.Nix.Found || rep.Nix.Command != tc.command || !strings.HasPrefix(rep.Nix.Version, tc.version) {
				t.Fatalf("nix: %+v (findings %+v)", rep.Nix, rep.Findings)
			}
			if rep.NetrcFile != e.path("home/.config/nix/netrc") {
				t.Errorf("netrc file %s", rep.NetrcFile)
			}
			got := map[string]string{}
			for _, c := range rep.Credentials {
				got[c.Host] = c.File
			}
			want := map[string]string{
				"gitlab.com":   e.path("home/.config/nix/access-tokens.conf"),
				"codeberg.org": "NIX_CONFIG",
			}
			if tc.which != "kit" {
				want["github.com"] = e.path("etc/nix/nix.conf")
			}
			for h, f := range want {
				if got[h] != f {
					t.Errorf("%s comes from %q, want %q", h, got[h], f)
				}
			}
			codes := map[string]bool{}
			for _, f := range rep.Findings {
				codes[f.Code] = true
			}
			for _, c := range []string{codeGitLabNoPrefix, codeNoFetcher, codeNixConfigEnv} {
				if !codes[c] {
					t.Errorf("no %s finding: %+v", c, rep.Findings)
				}
			}
			if codes[codeNixDisagrees] || codes[codeNixFailed] || code != 1 {
				t.Errorf("exit %d, findings %+v", code, rep.Findings)
			}
		})
	}
}

// A file only its owner's directory lets through is not world-readable,
// whatever its mode.
func TestDoctorPrivateDirectory(t *testing.T) {
	e := newDoctorEnv(t)
	e.write("home/.config/nix/nix.conf", "access-tokens = github.com="+docGitHub+"\n", 0o644)
	if err := os.Chmod(e.path("home"), 0o700); err != nil {
		t.Fatal(err)
	}
	if rep, code := e.report(); code != 0 || rep.find(codeWorldReadable) != nil {
		t.Fatalf("exit %d, findings %+v", code, rep.Findings)
	}
}

// A nix whose wrapper reads another config than the environment names
// (as the offline kit's does) is caught: its tokens are in no file doctor
// reads.
func TestDoctorNixDisagrees(t *testing.T) {
	e := newDoctorEnv(t)
	path := needNix(t, "debian")
	other := e.write("other/nix.conf", "extra-access-tokens = wrapped.example=wrappedTOKEN0123456789\n", 0o600)
	e.write("bin/nix", "#!/bin/sh\nNIX_CONF_DIR="+filepath.Dir(other)+" exec /usr/bin/nix \"$@\"\n", 0o755)
	e.env["PATH"] = e.path("bin") + ":" + path
	e.write("home/.config/nix/nix.conf", "extra-access-tokens = gitlab.com=PAT:"+docGitLab+"\n", 0o600)
	rep, _ := e.report()
	fd := rep.find(codeNixDisagrees)
	if fd == nil || fd.Host != "wrapped.example" {
		t.Fatalf("findings %+v", rep.Findings)
	}
	if out, _, _ := e.run("doctor"); strings.Contains(out, "wrappedTOKEN0123456789") {
		t.Errorf("the wrapper's token is printed:\n%s", out)
	}
}

// A token saved where its host goes (a pasted line without "host=") is
// masked in every message that names the host.
func TestDoctorTokenAsHost(t *testing.T) {
	e := newDoctorEnv(t)
	e.write("home/.config/nix/nix.conf", "access-tokens = "+docGitHub+"=x "+docGitLab+"=y\n", 0o644)
	rep, code := e.report()
	fd := rep.find(codeWorldReadable)
	if code != 1 || fd == nil || !strings.Contains(fd.Message, "ghp_…ABCD") {
		t.Fatalf("exit %d, findings %+v", code, rep.Findings)
	}
	e.run("doctor") // checks that no secret is printed
}

// What login keeps and render writes, offline: the state file's expiry
// and forge for the plain config, a render output with token files beside
// its store, and a netrc file rendered from a git-crypt store.
func TestDoctorKnownOffline(t *testing.T) {
	stateFile := func(e *doctorEnv, host, token, extra string) {
		sum := sha256.Sum256([]byte(token))
		e.write("home/.config/nix/nix-auth-state.json", fmt.Sprintf(`{"version": 1, "hosts": {%q: {%s, "token_sha256": %q}}}`+"\n",
			host, extra, hex.EncodeToString(sum[:])), 0o600)
	}
	for _, tc := range []struct {
		name     string
		setup    func(e *doctorEnv)
		code     string
		host     string
		file     string // $D-relative
		fixHas   string
		notFound bool
	}{
		{
			name: "expired-state",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "!include access-tokens.conf\n", 0o644)
				e.write("home/.config/nix/access-tokens.conf", "extra-access-tokens = gitlab.com=OAuth2:"+docGitLab+"\n", 0o600)
				stateFile(e, "gitlab.com", "OAuth2:"+docGitLab, `"provider": "gitlab", "expires": "2026-11-28T22:00:00Z", "refresh_token": "refresh-DOCTOR"`)
			},
			code: codeExpired, host: "gitlab.com", file: "home/.config/nix/access-tokens.conf", fixHas: "nix-auth refresh",
		},
		{
			// The record is of another token: the one in the file was
			// replaced by hand, and nothing is known of its expiry.
			name: "state-of-another-token",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "!include access-tokens.conf\n", 0o644)
				e.write("home/.config/nix/access-tokens.conf", "extra-access-tokens = gitlab.com=OAuth2:"+docGitLab+"\n", 0o600)
				stateFile(e, "gitlab.com", "OAuth2:other", `"provider": "gitlab", "expires": "2026-11-28T22:00:00Z"`)
			},
			code: codeExpired, notFound: true,
		},
		{
			// A self-hosted GitLab whose token has no glpat-: the forge
			// login recorded says what it is.
			name: "gitlab-no-prefix-from-state",
			setup: func(e *doctorEnv) {
				e.write("home/.config/nix/nix.conf", "!include access-tokens.conf\n", 0o644)
				e.write("home/.config/nix/access-tokens.conf", "extra-access-tokens = git.corp.example="+docCodeberg+"\n", 0o600)
				stateFile(e, "git.corp.example", "another token", `"provider": "gitlab"`)
			},
			code: codeGitLabNoPrefix, host: "git.corp.example", file: "home/.config/nix/access-tokens.conf",
		},
		{
			name: "expired-render-with-token-files",
			setup: func(e *doctorEnv) {
				store, err := os.ReadFile("../testdata/crypt/stores/sops-encrypt-regex.yaml")
				if err != nil {
					e.t.Fatal(err)
				}
				src := e.write("fleet/tokens.yaml", string(store), 0o644)
				tf := e.write("run/secrets/github", docGitHub+"\n", 0o400)
				e.write("etc/nix/nix.conf", "!include access-tokens.rendered.conf\n", 0o644)
				e.write("etc/nix/access-tokens.rendered.conf", nixconf.RenderHeader(src+", "+tf)+
					"extra-access-tokens = gitlab.com=OAuth2:"+docGitLab+" github.com="+docGitHub+"\n", 0o600)
			},
			code: codeExpired, host: "gitlab.com", file: "etc/nix/access-tokens.rendered.conf",
		},
		{
			name: "expired-netrc-from-git-crypt-store",
			setup: func(e *doctorEnv) {
				git := tooltest.Installed(e.t, "git")
				e.link("bin/git", git)
				e.write("fleet/.gitattributes", "secrets/** filter=git-crypt diff=git-crypt\n", 0o644)
				if out, err := exec.Command(git, "init", "-q", e.path("fleet")).CombinedOutput(); err != nil {
					e.t.Fatalf("git init: %v: %s", err, out)
				}
				src := e.write("fleet/secrets/tokens.json", `{"hosts": {"cache.example.com": {"token": "`+docCache+
					`", "provider": "cache", "use": "netrc", "login": "x-access-token", "expires": "2026-11-01T00:00:00Z"}}}`+"\n", 0o600)
				e.write("etc/nix/nix.conf", "netrc-file = $D/run/nix-auth/netrc\n", 0o644)
				e.write("run/nix-auth/netrc", nixconf.RenderHeader(src)+"machine cache.example.com login x-access-token password "+docCache+"\n", 0o600)
			},
			code: codeExpired, host: "cache.example.com", file: "run/nix-auth/netrc",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDoctorEnv(t)
			tc.setup(e)
			rep, _ := e.report()
			fd := rep.find(tc.code)
			if tc.notFound {
				if fd != nil {
					t.Errorf("a %s finding: %+v", tc.code, *fd)
				}
				return
			}
			if fd == nil {
				t.Fatalf("no %s finding: %+v", tc.code, rep.Findings)
			}
			if fd.Severity != sevError || fd.Host != tc.host || fd.File != e.path(tc.file) || !strings.Contains(fd.Fix, tc.fixHas) {
				t.Errorf("finding %+v, want host %q file %s, a fix naming %q", *fd, tc.host, e.path(tc.file), tc.fixHas)
			}
		})
	}
}
