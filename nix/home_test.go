package nix

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// userUnit is a home-manager systemd user unit, as the module defines it.
type userUnit struct {
	Unit struct {
		After, PartOf []string
	}
	Service struct {
		ExecStart       []string
		Type            string
		RemainAfterExit bool
	}
	Timer   map[string]any
	Install struct{ WantedBy []string }
}

// homeConfig is a home-manager scenario's summary (hmSummary in
// testdata/scenarios.nix).
type homeConfig struct {
	Assertions, Warnings []string
	Unit                 *userUnit
	UnitFile             *string
	CheckUnit            *userUnit
	CheckTimer           *userUnit
	Activation           *string
	ActivationAfter      []string
	ExtraOptions         string
	Output               string
	RenderScript         *string
	CheckScript          *string
	AgentScript          *string
	Agent                map[string]any
	CheckAgent           map[string]any
	RefreshUnit          *userUnit
	RefreshTimer         *userUnit
	RefreshAgent         map[string]any
	ActivationPackage    *string
	NetrcFile            *string
}

const (
	aliceOutput = "/home/alice/.config/nix/access-tokens.rendered.conf"
	aliceNetrc  = "/home/alice/.config/nix/netrc.rendered"
)

func TestHomeManager(t *testing.T) {
	t.Parallel()
	others := scenarios(t, "others")
	var hm map[string]homeConfig
	scenario(t, others, "hm", &hm)
	get := func(t *testing.T, name string) homeConfig {
		t.Helper()
		c, ok := hm[name]
		if !ok {
			t.Fatalf("no scenario %q", name)
		}
		if len(c.Assertions) > 0 {
			t.Fatalf("failed assertions: %q", c.Assertions)
		}
		if name != "netrc-own" {
			noWarnings(t, c.Warnings)
		}
		if name != "darwin" {
			if c.ActivationPackage == nil {
				t.Fatal("the home configuration did not evaluate")
			}
			instantiated(t, "activationPackage", *c.ActivationPackage)
		}
		return c
	}
	var scripts []string
	for _, c := range hm {
		for _, s := range []*string{c.RenderScript, c.CheckScript, c.AgentScript} {
			if s != nil {
				scripts = append(scripts, *s)
			}
		}
	}
	env := drvEnv(t, scripts...)
	text := func(t *testing.T, drv *string) string {
		t.Helper()
		if drv == nil {
			t.Fatal("no script")
		}
		return env[*drv]["text"]
	}

	t.Run("secretsFile: user unit under XDG_RUNTIME_DIR", func(t *testing.T) {
		c := get(t, "secrets")
		if c.Unit == nil || c.UnitFile == nil {
			t.Fatal("no nix-auth user unit")
		}
		if len(c.Unit.Unit.After)+len(c.Unit.Unit.PartOf) > 0 || !slices.Equal(c.Unit.Install.WantedBy, []string{"default.target"}) ||
			c.Unit.Service.Type != "oneshot" || !c.Unit.Service.RemainAfterExit {
			t.Errorf("unit %+v", *c.Unit)
		}
		has(t, "the render script", text(t, c.RenderScript),
			`(?m)^/nix/store/[0-9a-z]{32}-nix-auth-eval-test/bin/nix-auth render '?/nix/store/[0-9a-z]{32}-tokens.yaml'? --output "\$XDG_RUNTIME_DIR/nix-auth/access-tokens.rendered.conf" --mode 0600 --setting extra-access-tokens$`,
			`ln -sfn "\$XDG_RUNTIME_DIR/nix-auth/access-tokens.rendered.conf" `+aliceOutput)
		if c.Output != aliceOutput || c.ExtraOptions != "!include "+aliceOutput+"\n" {
			t.Errorf("output %q, nix.extraOptions %q", c.Output, c.ExtraOptions)
		}
		// netrc is opt-in for a user.
		hasNot(t, "the render script", text(t, c.RenderScript), `netrc`)
		if c.NetrcFile != nil {
			t.Errorf("nix.settings.netrc-file = %q without netrc.enable", *c.NetrcFile)
		}
		// A store path changes the unit, which home-manager restarts.
		if c.Activation != nil {
			t.Errorf("a restart on every switch for a store in the Nix store: %q", *c.Activation)
		}
	})

	t.Run("plainFile from sops-nix: after its unit, with the check", func(t *testing.T) {
		c := get(t, "sops-nix")
		decrypters := []string{"sops-nix.service", "agenix.service"}
		if c.Unit == nil || !slices.Equal(c.Unit.Unit.After, decrypters) || !slices.Equal(c.Unit.Unit.PartOf, decrypters) {
			t.Fatalf("unit %+v: want After and PartOf %q", c.Unit, decrypters)
		}
		has(t, "the render script", text(t, c.RenderScript),
			`nix-auth render --plain "/home/alice/.config/sops-nix/secrets/nix-tokens" --output "\$XDG_RUNTIME_DIR/nix-auth/access-tokens.rendered.conf"`)
		if c.Activation == nil || !slices.Equal(c.ActivationAfter, []string{"reloadSystemd"}) {
			t.Fatalf("activation %v after %q: want a restart after reloadSystemd", c.Activation, c.ActivationAfter)
		}
		has(t, "the activation", *c.Activation, `run .*systemctl --user restart nix-auth.service`, `warnEcho`)
		if c.CheckUnit == nil || c.CheckTimer == nil {
			t.Fatal("no check unit or timer")
		}
		if !slices.Equal(c.CheckUnit.Unit.After, []string{"nix-auth.service"}) || len(c.CheckUnit.Install.WantedBy) > 0 {
			t.Errorf("check unit %+v", *c.CheckUnit)
		}
		if c.CheckTimer.Timer["OnCalendar"] != "daily" || c.CheckTimer.Timer["Persistent"] != true ||
			!slices.Equal(c.CheckTimer.Install.WantedBy, []string{"timers.target"}) {
			t.Errorf("check timer %+v", *c.CheckTimer)
		}
		// The decrypted input still has what render left out (expired
		// tokens) and the metadata.
		has(t, "the check script", text(t, c.CheckScript),
			`(?m)^exec /nix/store/[0-9a-z]{32}-nix-auth-eval-test/bin/nix-auth status --plain "/home/alice/.config/sops-nix/secrets/nix-tokens" --warn-expiring '?168h'?$`)
	})

	t.Run("plainFile from agenix: the script renders and links, netrc too", func(t *testing.T) {
		c := get(t, "agenix")
		script := text(t, c.RenderScript)
		// agenix's path is for the shell to expand.
		has(t, "the render script", script, `--plain "\$\{XDG_RUNTIME_DIR\}/agenix/nix-tokens"`,
			`--netrc-output "\$XDG_RUNTIME_DIR/nix-auth/netrc.rendered"`)
		if c.NetrcFile == nil || *c.NetrcFile != aliceNetrc {
			t.Errorf("nix.settings.netrc-file = %v, want %s", c.NetrcFile, aliceNetrc)
		}

		// Run it as the user unit would, with this tree's nix-auth, in a
		// scratch home and runtime directory.
		dir := t.TempDir()
		home, rt := filepath.Join(dir, "home"), filepath.Join(dir, "run")
		script = regexp.MustCompile(`/nix/store/[0-9a-z]{32}-nix-auth-eval-test/bin/nix-auth`).ReplaceAllLiteralString(script, builtNixAuth(t))
		script = strings.ReplaceAll(script, "/home/alice", home)
		path := filepath.Join(dir, "render.sh")
		if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{filepath.Join(rt, "agenix"), filepath.Join(home, ".config", "nix")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		write := func(p, s string) {
			if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(filepath.Join(rt, "agenix", "nix-tokens"), "# nix-auth: host=cache.example.com provider=cache use=netrc login=alice token=hmtest-cache-0002\n"+
			"extra-access-tokens = github.com=hmtest-token-0001\n")
		link := filepath.Join(home, ".config", "nix", "access-tokens.rendered.conf")
		write(link, "access-tokens = github.com=old-plaintext-on-disk\n") // what the module rendered before
		for range 2 {
			cmd := exec.Command("bash", path)
			cmd.Env = append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+rt)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the render script failed: %v\n%s", err, out)
			}
		}
		target, err := os.Readlink(link)
		if err != nil || target != filepath.Join(rt, "nix-auth", "access-tokens.rendered.conf") {
			t.Fatalf("%s links to %q (%v), want the rendered file in XDG_RUNTIME_DIR", link, target, err)
		}
		got, err := os.ReadFile(link)
		if err != nil || !strings.Contains(string(got), "\nextra-access-tokens = github.com=hmtest-token-0001\n") {
			t.Errorf("rendered %q (%v)", got, err)
		}
		if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("rendered file: %v, %v", fi, err)
		}
		netrc := filepath.Join(home, ".config", "nix", "netrc.rendered")
		if target, err := os.Readlink(netrc); err != nil || target != filepath.Join(rt, "nix-auth", "netrc.rendered") {
			t.Fatalf("%s links to %q (%v), want the rendered netrc in XDG_RUNTIME_DIR", netrc, target, err)
		}
		got, err = os.ReadFile(netrc)
		if err != nil || !strings.HasSuffix(string(got), "\nmachine cache.example.com login alice password hmtest-cache-0002\n") {
			t.Errorf("rendered netrc %q (%v)", got, err)
		}
		if fi, err := os.Stat(filepath.Join(rt, "nix-auth", "netrc.rendered")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("rendered netrc: %v, %v", fi, err)
		}
	})

	t.Run("netrc: the user's own netrc-file is kept, with a warning", func(t *testing.T) {
		c := get(t, "netrc-own")
		if c.NetrcFile == nil || *c.NetrcFile != "/home/alice/.netrc" {
			t.Errorf("nix.settings.netrc-file = %v, want the user's", c.NetrcFile)
		}
		oneWarning(t, c.Warnings, `^services.nix-auth.netrc: nix.settings.netrc-file is /home/alice/.netrc, so Nix does not read the netrc credentials nix-auth renders to `+aliceNetrc+`; nix-auth keeps your setting\.`)
		if len(c.Warnings) != 1 {
			t.Errorf("warnings %q", c.Warnings)
		}
	})

	t.Run("refresh: a user timer, login's tokens file included", func(t *testing.T) {
		c := get(t, "refresh")
		if c.Unit != nil || c.RefreshUnit == nil || c.RefreshTimer == nil {
			t.Fatalf("render unit %v, refresh unit %v, timer %v: want the refresh timer only", c.Unit != nil, c.RefreshUnit != nil, c.RefreshTimer != nil)
		}
		exec := strings.Join(c.RefreshUnit.Service.ExecStart, " ")
		has(t, "the refresh unit", exec, `^'?/nix/store/[0-9a-z]{32}-nix-auth-eval-test/bin/nix-auth'? refresh --within 1h$`)
		if c.RefreshUnit.Service.Type != "oneshot" || len(c.RefreshUnit.Install.WantedBy) > 0 {
			t.Errorf("refresh unit %+v", *c.RefreshUnit)
		}
		if c.RefreshTimer.Timer["OnCalendar"] != "*:0/30" || c.RefreshTimer.Timer["Persistent"] != true ||
			!slices.Equal(c.RefreshTimer.Install.WantedBy, []string{"timers.target"}) {
			t.Errorf("refresh timer %+v", *c.RefreshTimer)
		}
		if c.ExtraOptions != "!include /home/alice/.config/nix/access-tokens.conf\n" {
			t.Errorf("nix.extraOptions %q", c.ExtraOptions)
		}
	})

	t.Run("macOS: a launchd agent", func(t *testing.T) {
		c := get(t, "darwin")
		if c.Unit != nil || c.Agent == nil || c.CheckAgent == nil {
			t.Fatalf("unit %v, agent %v, check agent %v: want launchd agents only", c.Unit != nil, c.Agent != nil, c.CheckAgent != nil)
		}
		if c.Agent["Label"] != "org.nix-community.home.nix-auth" || c.Agent["RunAtLoad"] != true ||
			c.Agent["KeepAlive"].(map[string]any)["SuccessfulExit"] != false {
			t.Errorf("agent %v", c.Agent)
		}
		if _, ok := c.CheckAgent["StartCalendarInterval"]; !ok {
			t.Errorf("check agent %v", c.CheckAgent)
		}
		args, _ := c.RefreshAgent["ProgramArguments"].([]any)
		if c.RefreshAgent["StartInterval"] != float64(1800) || c.RefreshAgent["RunAtLoad"] != true || len(args) != 4 ||
			args[1] != "refresh" || args[2] != "--within" || args[3] != "1h" {
			t.Errorf("refresh agent %v", c.RefreshAgent)
		}
		// No runtime directory on macOS: the output is the rendered file.
		script := text(t, c.AgentScript)
		has(t, "the agent's script", script, `--output '?/Users/alice/.config/nix/access-tokens.rendered.conf'? --mode 0600`,
			`--netrc-output '?/Users/alice/.config/nix/netrc.rendered'?`)
		if c.NetrcFile == nil || *c.NetrcFile != "/Users/alice/.config/nix/netrc.rendered" {
			t.Errorf("nix.settings.netrc-file = %v", c.NetrcFile)
		}
		hasNot(t, "the agent's script", script, `XDG_RUNTIME_DIR`, `ln -s`)
	})
}
