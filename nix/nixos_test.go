package nix

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// nixosSystem is a NixOS scenario's summary (nixosSummary in
// testdata/scenarios.nix).
type nixosSystem struct {
	Assertions      []string
	Warnings        []string
	Toplevel        *string
	HasUnit         bool
	Unit            string
	CheckUnit       *string
	CheckTimer      *string
	ExtraOptions    string
	Activation      *string
	Tmpfiles        []string
	Package         string
	PackageSystem   string
	IdentityPaths   []string
	RecipientChecks []struct {
		Drv, Store, Key, Command, ToolSystem string
	}
	EtcTokens *string
	NetrcFile *string
}

const renderedNetrc = "/run/nix-auth/netrc"

func TestNixOS(t *testing.T) {
	t.Parallel()
	all := scenarios(t, "nixos")
	get := func(t *testing.T, name string) nixosSystem {
		t.Helper()
		var s nixosSystem
		scenario(t, all, name, &s)
		if name != "neither" && name != "tokenfiles-bad" {
			if len(s.Assertions) > 0 {
				t.Fatalf("failed assertions: %q", s.Assertions)
			}
			if s.Toplevel == nil {
				t.Fatal("the system did not evaluate")
			}
			instantiated(t, "system.build.toplevel", *s.Toplevel)
			instantiated(t, "the package", s.Package)
		}
		return s
	}

	t.Run("sops store", func(t *testing.T) {
		s := get(t, "sops")
		noWarnings(t, s.Warnings)
		has(t, "nix-auth.service", s.Unit,
			`(?m)^ExecStart=`+exeRE+` "render" "/nix/store/[0-9a-z]{32}-tokens.yaml" "--identity" "`+hostKey+`" "--output" "`+renderedPath+`" "--mode" "0440" "--owner" "root" "--group" "root" "--setting" "extra-access-tokens" "--netrc-output" "`+renderedNetrc+`"$`,
			// The Nix clients that read access-tokens wait for them, the
			// daemon (which never reads them) does not.
			`(?m)^Before=systemd-user-sessions.service nixos-upgrade.service$`,
			`(?m)^After=sshd-keygen.service$`,
			`(?m)^WantedBy=multi-user.target$`,
			// A new store content is a new store path: the unit restarts.
			`(?m)^X-Restart-Triggers=/nix/store/`,
			`(?m)^PrivateNetwork=true$`, `(?m)^RestrictAddressFamilies=AF_UNIX$`, `(?m)^ProtectSystem=strict$`,
			`(?m)^RuntimeDirectory=nix-auth$`, `(?m)^RuntimeDirectoryPreserve=true$`)
		hasNot(t, "nix-auth.service", s.Unit, `nix-daemon`, `ReadWritePaths`)
		if s.IdentityPaths[0] != hostKey || len(s.IdentityPaths) != 1 {
			t.Errorf("identityPaths = %q, want the openssh ed25519 host key", s.IdentityPaths)
		}
		if s.ExtraOptions != "!include "+renderedPath+"\n" {
			t.Errorf("nix.extraOptions = %q", s.ExtraOptions)
		}
		if s.Activation != nil || s.CheckUnit != nil || s.CheckTimer != nil || len(s.RecipientChecks) > 0 || len(s.Tmpfiles) > 0 {
			t.Errorf("unasked extras: activation %v, check %v/%v, recipient checks %v, tmpfiles %q",
				s.Activation != nil, s.CheckUnit != nil, s.CheckTimer != nil, len(s.RecipientChecks), s.Tmpfiles)
		}
		if s.PackageSystem != "x86_64-linux" {
			t.Errorf("package for %s", s.PackageSystem)
		}
		// The daemon substitutes with the system's netrc-file: the rendered one.
		if s.NetrcFile == nil || *s.NetrcFile != renderedNetrc {
			t.Errorf("nix.settings.netrc-file = %v, want %s", s.NetrcFile, renderedNetrc)
		}
	})

	t.Run("netrc: the user's own netrc-file is kept, with a warning", func(t *testing.T) {
		s := get(t, "netrc-own")
		if s.NetrcFile == nil || *s.NetrcFile != "/etc/nix/my-netrc" {
			t.Errorf("nix.settings.netrc-file = %v, want the user's", s.NetrcFile)
		}
		oneWarning(t, s.Warnings, `^services.nix-auth.netrc: nix.settings.netrc-file is /etc/nix/my-netrc, so Nix does not read the netrc credentials nix-auth renders to `+renderedNetrc+`; nix-auth keeps your setting\. To use them, set it to `+renderedNetrc+`, or move its credentials into the store .*services.nix-auth.netrc.enable = false\.$`)
		has(t, "nix-auth.service", s.Unit, `"--netrc-output" "`+renderedNetrc+`"`)

		s = get(t, "netrc-extra")
		oneWarning(t, s.Warnings, `^services.nix-auth.netrc: nix.extraOptions sets netrc-file, .*set netrc-file to `+renderedNetrc+` there`)

		s = get(t, "netrc-etc")
		oneWarning(t, s.Warnings, `^services.nix-auth.netrc: environment.etc."nix/netrc" provides /etc/nix/netrc, Nix's default netrc-file, which Nix no longer reads`)
		if len(s.Warnings) != 1 {
			t.Errorf("warnings: %q", s.Warnings)
		}
	})

	t.Run("netrc off", func(t *testing.T) {
		s := get(t, "netrc-off")
		noWarnings(t, s.Warnings)
		hasNot(t, "nix-auth.service", s.Unit, `--netrc-output`)
		if s.NetrcFile != nil {
			t.Errorf("nix.settings.netrc-file = %q with netrc off", *s.NetrcFile)
		}
	})

	t.Run("age store without openssh", func(t *testing.T) {
		s := get(t, "age")
		if len(s.IdentityPaths) != 0 {
			t.Errorf("identityPaths = %q without openssh, want none", s.IdentityPaths)
		}
		oneWarning(t, s.Warnings, `^services.nix-auth.identityPaths is empty .*name the host's key in identityPaths\.$`)
		has(t, "nix-auth.service", s.Unit, `(?m)^ExecStart=`+exeRE+` "render" "/nix/store/[0-9a-z]{32}-tokens.age" "--output"`)
		hasNot(t, "nix-auth.service", s.Unit, `--identity`, `sshd-keygen`)

		s = get(t, "age-with-key")
		noWarnings(t, s.Warnings)
		has(t, "nix-auth.service", s.Unit, `"--identity" "/var/lib/keys/host.agekey"`)
	})

	plain := func(t *testing.T, name, path string) {
		s := get(t, name)
		noWarnings(t, s.Warnings)
		has(t, "nix-auth.service", s.Unit,
			`(?m)^ExecStart=`+exeRE+` "render" "--plain" "`+regexp.QuoteMeta(path)+`" "--output" "`+renderedPath+`" .*"--netrc-output" "`+renderedNetrc+`"$`,
			`(?m)^After=sops-install-secrets.service agenix-install-secrets.service$`)
		hasNot(t, "nix-auth.service", s.Unit, `X-Restart-Triggers`, `--identity`)
		// The decrypted file keeps its path: every switch renders again.
		if s.Activation == nil || !strings.Contains(*s.Activation, "echo nix-auth.service >>/run/nixos/activation-restart-list") {
			t.Errorf("no restart on switch: %v", s.Activation)
		}
	}
	t.Run("plainFile from sops-nix", func(t *testing.T) { plain(t, "sops-nix", "/run/secrets/nix-tokens") })
	t.Run("plainFile from agenix", func(t *testing.T) { plain(t, "agenix", "/run/agenix/nix-tokens") })

	t.Run("health check timer", func(t *testing.T) {
		s := get(t, "check")
		if s.CheckUnit == nil || s.CheckTimer == nil {
			t.Fatal("no nix-auth-check service or timer")
		}
		has(t, "nix-auth-check.service", *s.CheckUnit,
			`(?m)^ExecStart=`+exeRE+` "status" "--plain" "`+renderedPath+`" "--warn-expiring" "72h"$`,
			`(?m)^After=nix-auth.service network-online.target$`, `(?m)^Wants=network-online.target$`,
			`(?m)^RestrictAddressFamilies=AF_INET6?$`, `(?m)^Environment="https_proxy=http://proxy.example:3128"$`,
			`(?m)^CapabilityBoundingSet=CAP_DAC_READ_SEARCH$`, `(?m)^ProtectSystem=strict$`, `(?m)^Type=oneshot$`)
		hasNot(t, "nix-auth-check.service", *s.CheckUnit, `PrivateNetwork`, `CAP_CHOWN`, `WantedBy`)
		has(t, "nix-auth-check.timer", *s.CheckTimer,
			`(?m)^OnCalendar=hourly$`, `(?m)^Persistent=true$`, `(?m)^RandomizedDelaySec=`, `(?m)^WantedBy=timers.target$`)
	})

	// The build-time recipient check, run as its derivation's builder would
	// run it, with the nix-auth of this tree: it passes for the host's key
	// and fails for another.
	recipientCheck := func(t *testing.T, name, storeSuffix string) {
		s := get(t, name)
		if len(s.RecipientChecks) != 1 {
			t.Fatalf("%d nix-auth checks in system.checks, want 1", len(s.RecipientChecks))
		}
		c := s.RecipientChecks[0]
		instantiated(t, "the recipient check", c.Drv)
		if !strings.HasSuffix(c.Store, storeSuffix) || !strings.HasPrefix(c.Key, "ssh-ed25519 AAAA") {
			t.Fatalf("check of %q for %q", c.Store, c.Key)
		}
		has(t, "the check's command", c.Command, `--offline --expect-recipient "\$key"`)
		for _, key := range []string{c.Key, otherAgeKey} {
			out := t.TempDir()
			cmd := exec.Command("bash", "-euc", c.Command)
			cmd.Env = append(os.Environ(), "store="+storePath(c.Store), "key="+key, "out="+filepath.Join(out, "out"),
				"PATH="+filepath.Dir(builtNixAuth(t))+":"+os.Getenv("PATH"))
			got, err := cmd.CombinedOutput()
			switch {
			case key == c.Key && err != nil:
				t.Errorf("the check fails for the host's own key: %v\n%s", err, got)
			case key != c.Key && err == nil:
				t.Errorf("the check passes for a key the store is not encrypted to:\n%s", got)
			case key != c.Key:
				has(t, "the failing check's output", string(got), `is not encrypted to|cannot tell whether`)
			}
		}
	}
	t.Run("hostPublicKey with a sops store", func(t *testing.T) { recipientCheck(t, "hostkey-sops", "-tokens.yaml") })
	t.Run("hostPublicKey with an age store", func(t *testing.T) { recipientCheck(t, "hostkey-age", "-tokens.age") })
	t.Run("hostPublicKey with nothing to check", func(t *testing.T) {
		s := get(t, "hostkey-plain")
		oneWarning(t, s.Warnings, `^services.nix-auth.hostPublicKey is set, but only a secretsFile given as a Nix path can be checked`)
		if len(s.RecipientChecks) != 0 {
			t.Error("a recipient check without a store")
		}
	})

	t.Run("cross-compiled host", func(t *testing.T) {
		s := get(t, "cross")
		if s.PackageSystem != "aarch64-linux" {
			t.Errorf("the package is for %s, want the host's aarch64-linux", s.PackageSystem)
		}
		if len(s.RecipientChecks) != 1 || s.RecipientChecks[0].ToolSystem != "x86_64-linux" {
			t.Errorf("the recipient check must run a nix-auth for the build machine: %+v", s.RecipientChecks)
		}
	})

	t.Run("output under an immutable /etc overlay", func(t *testing.T) {
		s := get(t, "etc-overlay")
		if s.EtcTokens == nil || *s.EtcTokens != renderedPath {
			t.Errorf("/etc/nix/access-tokens.conf links to %v, want %s", s.EtcTokens, renderedPath)
		}
		has(t, "nix-auth.service", s.Unit, `"--output" "`+renderedPath+`"`)
		hasNot(t, "nix-auth.service", s.Unit, `ReadWritePaths`, `/etc/nix`)
		if s.ExtraOptions != "!include /etc/nix/access-tokens.conf\n" {
			t.Errorf("nix.extraOptions = %q", s.ExtraOptions)
		}
	})

	t.Run("output in another directory", func(t *testing.T) {
		s := get(t, "own-dir")
		if len(s.Tmpfiles) != 1 || s.Tmpfiles[0] != "d /var/lib/nix-auth - - - -" {
			t.Errorf("tmpfiles rules %q", s.Tmpfiles)
		}
		// "-": a directory that is not there yet must not keep the unit
		// from starting.
		has(t, "nix-auth.service", s.Unit, `(?m)^ReadWritePaths=-/var/lib/nix-auth$`, `"--output" "/var/lib/nix-auth/tokens.conf"`)
	})

	t.Run("warnings: nix.enable off, a key nothing creates", func(t *testing.T) {
		s := get(t, "warnings")
		oneWarning(t, s.Warnings, `^services.nix-auth: nix.enable is false, .* add .!include `+renderedPath+`. and .netrc-file = `+renderedNetrc+`.`)
		oneWarning(t, s.Warnings, `^services.nix-auth.identityPaths: `+hostKey+` is an openssh host key, but services.openssh is disabled`)
		if len(s.Warnings) != 2 {
			t.Errorf("warnings: %q", s.Warnings)
		}
		// A string secretsFile is read at run time: render on every switch.
		has(t, "nix-auth.service", s.Unit, `"render" "/etc/nix-auth/tokens.yaml"`)
		if s.Activation == nil {
			t.Error("no restart on switch for a string secretsFile")
		}
	})

	t.Run("the VM test instantiates", func(t *testing.T) {
		var vm struct{ Drv *string }
		scenario(t, all, "vm-test", &vm)
		if vm.Drv == nil {
			t.Fatal("nix/vm-test.nix does not evaluate")
		}
		instantiated(t, "the VM test", *vm.Drv)
	})

	t.Run("neither input: the assertion speaks", func(t *testing.T) {
		s := get(t, "neither")
		if len(s.Assertions) != 1 || s.Assertions[0] != "services.nix-auth: set secretsFile, plainFile or tokenFiles: there is nothing to render." {
			t.Errorf("assertions %q", s.Assertions)
		}
		if s.Toplevel != nil || s.HasUnit {
			t.Errorf("toplevel %v, unit defined %v: want the assertion to stop the build, and no unit", s.Toplevel, s.HasUnit)
		}
	})
}
