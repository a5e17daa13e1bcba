package nixconf

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-auth/nix-auth/internal/tooltest"
)

// nixBinary finds the real nix, which CI must have (issue: "in CI the test
// fails when nix is missing").
func nixBinary(t *testing.T) string {
	t.Helper()
	return requireBinary(t, "nix", "CI installs it with `apt-get install -y --no-install-recommends nix-bin`")
}

// requireBinary finds the program name, an oracle the tests run: in CI a
// missing one fails (ci says how CI gets it), elsewhere the test skips.
func requireBinary(t *testing.T, name, ci string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; %s", name, ci)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// nixAccessTokens runs the real nix with home as its only config
// (home/nix/nix.conf through XDG_CONFIG_HOME; no system config) and returns
// the access-tokens map it would use. On Nix 2.8 `show-config --json`
// prints {"access-tokens": {"value": {host: token}, ...}, ...}.
func nixAccessTokens(t *testing.T, nix, home string) (map[string]string, error) {
	t.Helper()
	return tooltest.NixAccessTokens(nix, []string{"NIX_CONF_DIR=" + t.TempDir(), "XDG_CONFIG_DIRS=/nonexistent",
		"XDG_CONFIG_HOME=" + home, "HOME=" + home})
}

// TestParserAgreesWithNix runs every rule case through the real nix: our
// parser must find exactly the tokens Nix finds, and refuse what Nix
// refuses.
func TestParserAgreesWithNix(t *testing.T) {
	nix := nixBinary(t)
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			writeTree(t, filepath.Join(home, "nix"), tc.files)
			got, err := nixAccessTokens(t, nix, home)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("nix accepted the config (tokens %v); we refuse it", maskMap(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("nix: %v", err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("nix sees %v, we expect %v", got, tc.want)
			}
		})
	}
}

func maskMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = maskTok(v)
	}
	return out
}

// TestRealNixSeesTokens: after Set, nix shows exactly the expected tokens
// through the include, including a migration out of an existing nix.conf.
func TestRealNixSeesTokens(t *testing.T) {
	nix := nixBinary(t)
	home := t.TempDir()
	writeTree(t, home, map[string]string{"nix/nix.conf": "# mine\nkeep-outputs = true\naccess-tokens = old.example=OLDTOKEN1234567 github.com=stale\n"})
	paths, err := Locate("", mapEnv(map[string]string{"XDG_CONFIG_HOME": home, "HOME": "/nonexistent"}))
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{Paths: paths}
	tokens := map[string]string{
		"github.com":         "ghp_0123456789abcdefghijABCDEFGHIJ012345",
		"gitlab.example.com": "PAT:glpat-0123456789abcdefghij",
		"github.com/org":     "github_pat_11AAAAAAA0aBcDeFgHiJkL_mnopqrstuvwxyz",
	}
	for _, h := range []string{"github.com", "gitlab.example.com", "github.com/org"} {
		if _, err := s.Set(h, tokens[h]); err != nil {
			t.Fatal(err)
		}
	}
	tokens["old.example"] = "OLDTOKEN1234567"
	got, err := nixAccessTokens(t, nix, home)
	if err != nil {
		t.Fatalf("nix: %v", err)
	}
	if !maps.Equal(got, tokens) {
		t.Fatalf("nix sees %v, want %v", maskMap(got), maskMap(tokens))
	}
	if _, err := s.Remove("old.example"); err != nil {
		t.Fatal(err)
	}
	delete(tokens, "old.example")
	if got, err = nixAccessTokens(t, nix, home); err != nil || !maps.Equal(got, tokens) {
		t.Fatalf("after Remove nix sees %v (err %v), want %v", maskMap(got), err, maskMap(tokens))
	}
}

// TestRealNixIgnoresUnreadableInclude: Nix skips an included file it
// cannot read, with include as well as !include, and so does Load. Only a
// non-root user can be denied a read.
func TestRealNixIgnoresUnreadableInclude(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read every file")
	}
	nix := nixBinary(t)
	home := t.TempDir()
	writeTree(t, home, map[string]string{
		"nix/nix.conf": "access-tokens = a.com=1\ninclude secret.conf\n!include secret2.conf\n",
	})
	for _, f := range []string{"secret.conf", "secret2.conf"} {
		p := filepath.Join(home, "nix", f)
		if err := os.WriteFile(p, []byte("access-tokens = b.com=2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := nixAccessTokens(t, nix, home)
	if err != nil {
		t.Fatalf("nix: %v", err)
	}
	want := map[string]string{"a.com": "1"}
	if !maps.Equal(got, want) {
		t.Fatalf("nix sees %v, want %v", got, want)
	}
	cfg, err := Load(filepath.Join(home, "nix", "nix.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if ours := tokensOf(cfg); !maps.Equal(ours, want) || len(cfg.Skipped) != 2 {
		t.Fatalf("Load sees %v, skipped %v", ours, cfg.Skipped)
	}
}

// nixLayered runs the real nix with the system config, user config and
// NIX_CONFIG of s (as layeredNix makes it) and returns its access-tokens.
func nixLayered(t *testing.T, nix string, s *Store) map[string]string {
	t.Helper()
	env := []string{
		"NIX_CONF_DIR=" + filepath.Dir(s.Paths.System),
		"XDG_CONFIG_DIRS=" + filepath.Dir(filepath.Dir(s.Paths.Before[0])),
		"XDG_CONFIG_HOME=" + filepath.Dir(filepath.Dir(s.Paths.NixConf)),
		"HOME=/nonexistent",
	}
	if s.Paths.NixConfig != "" {
		env = append(env, "NIX_CONFIG="+s.Paths.NixConfig)
	}
	got, err := tooltest.NixAccessTokens(nix, env)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// layeredNix lays out a system config dir, an XDG_CONFIG_DIRS dir and a
// user config dir as Nix finds them, and a Store over them made by Locate.
func layeredNix(t *testing.T, system, xdg, user map[string]string, nixConfig string) *Store {
	t.Helper()
	root := t.TempDir()
	writeTree(t, filepath.Join(root, "etc"), system)
	writeTree(t, filepath.Join(root, "xdg", "nix"), xdg)
	writeTree(t, filepath.Join(root, "home", "nix"), user)
	env := map[string]string{
		"NIX_CONF_DIR": filepath.Join(root, "etc"), "XDG_CONFIG_DIRS": filepath.Join(root, "xdg"),
		"XDG_CONFIG_HOME": filepath.Join(root, "home"), "HOME": "/nonexistent",
	}
	if nixConfig != "" {
		env["NIX_CONFIG"] = nixConfig
	}
	paths, err := Locate("", mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	return &Store{Paths: paths}
}

// TestRealNixLayers: what nix-auth believes Nix uses, and what it writes,
// is what the real Nix uses, with a system config, an XDG_CONFIG_DIRS
// file, the login and render files, and NIX_CONFIG.
func TestRealNixLayers(t *testing.T) {
	nix := nixBinary(t)
	render := RenderHeader("tokens.yaml") + "extra-access-tokens = render.com=R shared.com=RENDER\n"
	type step struct {
		host, token string // Set (token "" : Remove)
		refused     string // the error it must give, if any
	}
	cases := []struct {
		name              string
		system, xdg, user map[string]string
		env               string
		steps             []step
		want              map[string]string
	}{
		{name: "system tokens kept by a user login",
			system: map[string]string{"nix.conf": "access-tokens = sys.com=S both.com=SYS\n"},
			user:   map[string]string{"nix.conf": "keep-outputs = true\n"},
			steps:  []step{{"me.com", "M", ""}, {"both.com", "MINE", ""}},
			want:   map[string]string{"sys.com": "S", "both.com": "SYS", "me.com": "M"}},
		{name: "a replacing user line is converted, its own tokens kept",
			system: map[string]string{"nix.conf": "extra-access-tokens = sys.com=S\n"},
			xdg:    map[string]string{"nix.conf": "extra-access-tokens = xdg.com=X\n"},
			user:   map[string]string{"nix.conf": "access-tokens = old.com=O\n"},
			steps:  []step{{"me.com", "M", ""}},
			want:   map[string]string{"sys.com": "S", "xdg.com": "X", "old.com": "O", "me.com": "M"}},
		{name: "login file and render file, render included first",
			system: map[string]string{"nix.conf": "extra-access-tokens = sys.com=S\n"},
			user:   map[string]string{"nix.conf": "!include " + RenderFileName + "\n", RenderFileName: render},
			// The rendered file names shared.com first: login's token would
			// never be used, and is refused before anything is written.
			steps: []step{{"me.com", "M", ""}, {"shared.com", "LOGIN", RenderFileName + ":2"}},
			want:  map[string]string{"sys.com": "S", "render.com": "R", "shared.com": "RENDER", "me.com": "M"}},
		{name: "login file and render file, login included first",
			user:  map[string]string{"nix.conf": "keep-outputs = true\n", RenderFileName: render},
			steps: []step{{"me.com", "M", ""}, {"shared.com", "LOGIN", ""}},
			want:  map[string]string{"render.com": "R", "shared.com": "LOGIN", "me.com": "M"}},
		{name: "NIX_CONFIG adds after the files",
			system: map[string]string{"nix.conf": "access-tokens = sys.com=S\n"},
			user:   map[string]string{"nix.conf": "keep-outputs = true\n"},
			env:    "extra-access-tokens = me.com=ENV env.com=E",
			steps:  []step{{"me.com", "M", ""}, {"sys.com", "", "does not manage"}},
			want:   map[string]string{"sys.com": "S", "me.com": "M", "env.com": "E"}},
		{name: "NIX_CONFIG replaces the files",
			user: map[string]string{"nix.conf": "keep-outputs = true\n"},
			env:  "access-tokens = env.com=E",
			want: map[string]string{"env.com": "E"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := layeredNix(t, tc.system, tc.xdg, tc.user, tc.env)
			for _, st := range tc.steps {
				var err error
				if st.token == "" {
					_, err = s.Remove(st.host)
				} else {
					_, err = s.Set(st.host, st.token)
				}
				if st.refused != "" && (err == nil || !strings.Contains(err.Error(), st.refused)) {
					t.Fatalf("%+v: %v, want an error about %s", st, err, st.refused)
				}
				if st.refused == "" && err != nil {
					t.Fatalf("%+v: %v", st, err)
				}
			}
			if strings.Contains(tc.name, "login included first") {
				// The render's include comes after the one login added.
				data := read(t, s.Paths.NixConf) + "!include " + RenderFileName + "\n"
				if err := os.WriteFile(s.Paths.NixConf, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := nixLayered(t, nix, s)
			if !maps.Equal(got, tc.want) {
				t.Errorf("nix sees %v, want %v", got, tc.want)
			}
			ours, err := s.Tokens()
			if err != nil {
				t.Fatal(err)
			}
			if m := tokenMap(ours); !maps.Equal(m, got) {
				t.Errorf("nix-auth believes %v, nix sees %v", m, got)
			}
		})
	}
}
