package nixconf

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nixBinary finds the real nix, which CI must have (issue: "in CI the test
// fails when nix is missing").
func nixBinary(t *testing.T) string {
	t.Helper()
	nix, err := exec.LookPath("nix")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix is not installed; CI installs it with `apt-get install -y --no-install-recommends nix-bin`")
		}
		t.Skip("nix is not installed")
	}
	return nix
}

// nixAccessTokens runs the real nix with home as its only config
// (home/nix/nix.conf through XDG_CONFIG_HOME; no system config) and returns
// the access-tokens map it would use. On Nix 2.8 `show-config --json`
// prints {"access-tokens": {"value": {host: token}, ...}, ...}.
func nixAccessTokens(t *testing.T, nix, home string) (map[string]string, error) {
	t.Helper()
	empty := t.TempDir()
	cmd := exec.Command(nix, "--extra-experimental-features", "nix-command", "show-config", "--json")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"NIX_CONF_DIR=" + empty,
		"XDG_CONFIG_DIRS=/nonexistent",
		"XDG_CONFIG_HOME=" + home,
		"HOME=" + home,
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &nixError{err: err, stderr: stderr.String()}
	}
	var cfg struct {
		AccessTokens struct {
			Value map[string]string `json:"value"`
		} `json:"access-tokens"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("nix printed something that is not its JSON config: %v", err)
	}
	return cfg.AccessTokens.Value, nil
}

type nixError struct {
	err    error
	stderr string
}

func (e *nixError) Error() string { return e.err.Error() + ": " + e.stderr }

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
		out[k] = MaskToken(v)
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
