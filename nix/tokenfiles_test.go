package nix

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTokenFiles: services.nix-auth.tokenFiles in the NixOS module, with
// the secrets of the real sops-nix and agenix modules, alone or beside
// the other inputs, and its eval-time assertions.
func TestTokenFiles(t *testing.T) {
	t.Parallel()
	all := scenarios(t, "nixos")
	get := func(t *testing.T, name string) nixosSystem {
		t.Helper()
		var s nixosSystem
		scenario(t, all, name, &s)
		return s
	}
	built := func(t *testing.T, s nixosSystem) {
		t.Helper()
		if len(s.Assertions) > 0 {
			t.Fatalf("failed assertions: %q", s.Assertions)
		}
		if s.Toplevel == nil {
			t.Fatal("the system did not evaluate")
		}
		instantiated(t, "system.build.toplevel", *s.Toplevel)
	}

	t.Run("from sops-nix and agenix, no secretsFile", func(t *testing.T) {
		s := get(t, "tokenfiles")
		built(t, s)
		noWarnings(t, s.Warnings)
		has(t, "nix-auth.service", s.Unit,
			`(?m)^ExecStart=`+exeRE+` "render" "--token-file" "github.com=/run/secrets/github/oauth_token" "--token-file" "gitlab.com=/run/agenix/gitlab-token" "--output" "`+renderedPath+`" "--mode" "0440"`,
			`(?m)^After=sops-install-secrets.service agenix-install-secrets.service$`,
			`(?m)^PrivateNetwork=true$`)
		hasNot(t, "nix-auth.service", s.Unit, `--identity`, `--plain`, `X-Restart-Triggers`, `sshd-keygen`)
		// The secrets keep their paths when their content changes: every
		// switch renders again.
		if s.Activation == nil || !strings.Contains(*s.Activation, "activation-restart-list") {
			t.Errorf("no render on switch: %v", s.Activation)
		}
		// The check reads what render wrote: it has every token file's.
		if s.CheckUnit == nil {
			t.Fatal("no check unit")
		}
		has(t, "nix-auth-check.service", *s.CheckUnit, `"status" "--plain" "`+renderedPath+`"`)
	})

	t.Run("beside a store, a path value", func(t *testing.T) {
		s := get(t, "tokenfiles-store")
		built(t, s)
		noWarnings(t, s.Warnings)
		has(t, "nix-auth.service", s.Unit,
			`"render" "/nix/store/[0-9a-z]{32}-tokens.yaml" "--identity" "`+hostKey+`" "--token-file" "codeberg.org=/run/agenix/codeberg" "--output"`,
			// codeberg.org's token goes to netrc too (render routes it by
			// the forge table): the system's netrc is rendered with it.
			`(?m)^ExecStart=.*"--token-file" "codeberg.org=/run/agenix/codeberg" .*"--netrc-output" "`+renderedNetrc+`"$`,
			`(?m)^After=sops-install-secrets.service agenix-install-secrets.service sshd-keygen.service$`)
		if s.Activation == nil {
			t.Error("no render on switch: the token file changes without the unit")
		}
	})

	t.Run("beside a plainFile", func(t *testing.T) {
		s := get(t, "tokenfiles-plain")
		built(t, s)
		has(t, "nix-auth.service", s.Unit,
			`"render" "--plain" "/run/secrets/nix-tokens" "--token-file" "git.example.com:8443/org=/run/secrets/example" "--output"`)
	})

	t.Run("bad hosts and a store path: assertions", func(t *testing.T) {
		s := get(t, "tokenfiles-bad")
		want := []string{
			`services.nix-auth.tokenFiles: "bad host" is not a host as access-tokens names it`,
			`services.nix-auth.tokenFiles: "github.com=x" is not a host as access-tokens names it`,
			`services.nix-auth.tokenFiles: "github.com/../x" is not a host as access-tokens names it`,
			`services.nix-auth.tokenFiles."gitlab.com": /nix/store/[0-9a-z]{32}-tokens.age is in the Nix store, which every user can read`,
		}
		if len(s.Assertions) != len(want) {
			t.Fatalf("assertions: %q", s.Assertions)
		}
		has(t, "the assertions", strings.Join(s.Assertions, "\n"), want...)
		if s.Toplevel != nil {
			t.Error("the system built despite the assertions")
		}
	})

	// What the unit runs, run: the built nix-auth renders the token files
	// it is given, as the module passes them.
	t.Run("the unit's render runs", func(t *testing.T) {
		s := get(t, "tokenfiles")
		dir := t.TempDir()
		gh, gl := filepath.Join(dir, "gh"), filepath.Join(dir, "gl")
		os.WriteFile(gh, []byte("ghp_0123456789abcdefghijklmnopqrstuvwxyz\n"), 0o400)
		os.WriteFile(gl, []byte("glpat-0123456789abcdefghij\n"), 0o400)
		out := filepath.Join(dir, "out.conf")
		line := s.Unit[strings.Index(s.Unit, "ExecStart="):]
		line = line[:strings.IndexByte(line, '\n')]
		line = strings.NewReplacer("/run/secrets/github/oauth_token", gh, "/run/agenix/gitlab-token", gl, renderedPath, out,
			`"--owner" "root" "--group" "root" `, "").Replace(line)
		args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(line, "ExecStart="), `"`, ""))
		cmd := exec.Command(builtNixAuth(t), args[1:]...)
		if got, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, got)
		}
		data, _ := os.ReadFile(out)
		has(t, "the output", string(data), `(?m)^extra-access-tokens = github.com=ghp_0123456789abcdefghijklmnopqrstuvwxyz gitlab.com=PAT:glpat-0123456789abcdefghij$`)
	})
}

// TestTokenFilesUser: tokenFiles in the home-manager module (the user unit
// renders them after sops-nix's and agenix's user units, the agenix path
// expanded by the shell) and in the nix-darwin module (the daemon watches
// them).
func TestTokenFilesUser(t *testing.T) {
	t.Parallel()
	others := scenarios(t, "others")
	var hm map[string]homeConfig
	scenario(t, others, "hm", &hm)
	var darwin map[string]darwinSystem
	scenario(t, others, "darwin", &darwin)

	t.Run("home-manager", func(t *testing.T) {
		c := hm["tokenfiles"]
		if len(c.Assertions) > 0 || c.ActivationPackage == nil {
			t.Fatalf("assertions %q, activation package %v", c.Assertions, c.ActivationPackage)
		}
		noWarnings(t, c.Warnings)
		instantiated(t, "activationPackage", *c.ActivationPackage)
		decrypters := []string{"sops-nix.service", "agenix.service"}
		if c.Unit == nil || !slices.Equal(c.Unit.Unit.After, decrypters) || !slices.Equal(c.Unit.Unit.PartOf, decrypters) {
			t.Fatalf("unit %+v: want After and PartOf %q", c.Unit, decrypters)
		}
		script := drvEnv(t, *c.RenderScript)[*c.RenderScript]["text"]
		has(t, "the render script", script,
			`(?m)nix-auth render --token-file "github.com=/home/alice/.config/sops-nix/secrets/github/oauth_token" --token-file "gitlab.com=\$\{XDG_RUNTIME_DIR\}/agenix/gitlab-token" --output "\$XDG_RUNTIME_DIR/nix-auth/access-tokens.rendered.conf" --mode 0600`)
		if c.Activation == nil {
			t.Error("no render on switch")
		}
	})

	t.Run("nix-darwin", func(t *testing.T) {
		s := darwin["tokenfiles"]
		if len(s.Assertions) > 0 || s.Daemon == nil || s.LaunchdDrv == nil {
			t.Fatalf("assertions %q, daemon %v", s.Assertions, s.Daemon)
		}
		instantiated(t, "the launchd plists", *s.LaunchdDrv)
		if got := strings.Join(s.Daemon.ProgramArguments[1:], " "); !strings.HasPrefix(got, "render --token-file github.com=/run/agenix/github-token --output ") {
			t.Errorf("daemon runs %q", got)
		}
		if !slices.Equal(s.Daemon.WatchPaths, []string{"/run/agenix/github-token"}) {
			t.Errorf("WatchPaths %q", s.Daemon.WatchPaths)
		}
	})
}
