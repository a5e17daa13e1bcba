package nix

import (
	"slices"
	"strings"
	"testing"
)

// darwinSystem is a nix-darwin scenario's summary (darwinSummary in
// testdata/scenarios.nix).
type darwinSystem struct {
	Assertions, Warnings []string
	Daemon               *launchdJob
	CheckDaemon          *launchdJob
	Plist                *string
	ExtraOptions         *string
	Activation           string
	RecipientCheck       *string
	NixConfDrv           *string
	LaunchdDrv           *string
	NetrcFile            *string
}

type launchdJob struct {
	Label                 string
	ProgramArguments      []string
	RunAtLoad             *bool
	KeepAlive             map[string]any
	WatchPaths            []string
	StartCalendarInterval []map[string]int
	Umask                 *int
}

func TestDarwin(t *testing.T) {
	t.Parallel()
	others := scenarios(t, "others")
	var all map[string]darwinSystem
	scenario(t, others, "darwin", &all)
	get := func(t *testing.T, name string) darwinSystem {
		t.Helper()
		s, ok := all[name]
		if !ok {
			t.Fatalf("no scenario %q", name)
		}
		if len(s.Assertions) > 0 {
			t.Fatalf("failed assertions: %q", s.Assertions)
		}
		if s.Daemon == nil || s.LaunchdDrv == nil {
			t.Fatal("no nix-auth launchd daemon")
		}
		// nix-darwin's toplevel needs Haskell's shellcheck, which the kit
		// lacks: the daemons' plists are instantiated instead.
		instantiated(t, "the launchd plists", *s.LaunchdDrv)
		d := s.Daemon
		if d.Label != "org.nixos.nix-auth" || d.RunAtLoad == nil || !*d.RunAtLoad || d.KeepAlive["SuccessfulExit"] != false ||
			d.Umask == nil || *d.Umask != 0o077 {
			t.Errorf("daemon %+v", *d)
		}
		if len(d.ProgramArguments) < 2 || !strings.HasSuffix(d.ProgramArguments[0], "-nix-auth-eval-test/bin/nix-auth") || d.ProgramArguments[1] != "render" {
			t.Errorf("daemon runs %q", d.ProgramArguments)
		}
		return s
	}
	const netrc = "/var/run/nix-auth/netrc"
	tail := []string{"--output", "/var/run/nix-auth/access-tokens.conf", "--mode", "0440", "--owner", "root", "--group", "wheel", "--setting", "extra-access-tokens",
		"--netrc-output", netrc}

	t.Run("secretsFile with hostPublicKey and the check", func(t *testing.T) {
		s := get(t, "secrets")
		noWarnings(t, s.Warnings)
		args := s.Daemon.ProgramArguments[2:]
		if len(args) != 3+len(tail) || !strings.HasSuffix(args[0], "-tokens.yaml") || args[1] != "--identity" ||
			args[2] != hostKey || !slices.Equal(args[3:], tail) {
			t.Errorf("render %q", args)
		}
		if s.ExtraOptions == nil || *s.ExtraOptions != "!include /var/run/nix-auth/access-tokens.conf\n" {
			t.Errorf("nix.extraOptions %v", s.ExtraOptions)
		}
		if s.NetrcFile == nil || *s.NetrcFile != netrc {
			t.Errorf("nix.settings.netrc-file = %v, want %s", s.NetrcFile, netrc)
		}
		if s.NixConfDrv == nil {
			t.Fatal("no /etc/nix/nix.conf")
		}
		instantiated(t, "/etc/nix/nix.conf", *s.NixConfDrv)
		if s.Plist == nil || !strings.Contains(*s.Plist, "<string>render</string>") {
			t.Errorf("plist %v", s.Plist)
		}
		if s.RecipientCheck == nil || *s.RecipientCheck != "nix-auth-recipient-check" {
			t.Errorf("the system does not depend on the recipient check: %v", s.RecipientCheck)
		}
		// A store path changes the plist, which nix-darwin reloads.
		if strings.Contains(s.Activation, "kickstart") {
			t.Errorf("a kickstart on every activation for a store in the Nix store: %q", s.Activation)
		}
		c := s.CheckDaemon
		if c == nil || len(c.ProgramArguments) != 6 ||
			!slices.Equal(c.ProgramArguments[1:], []string{"status", "--plain", "/var/run/nix-auth/access-tokens.conf", "--warn-expiring", "168h"}) ||
			len(c.StartCalendarInterval) != 1 {
			t.Errorf("check daemon %+v", c)
		}
	})

	t.Run("plainFile: watched, kicked on every activation", func(t *testing.T) {
		s := get(t, "plain")
		noWarnings(t, s.Warnings)
		if !slices.Equal(s.Daemon.ProgramArguments[2:], append([]string{"--plain", "/run/agenix/nix-tokens"}, tail...)) {
			t.Errorf("render %q", s.Daemon.ProgramArguments[2:])
		}
		if !slices.Equal(s.Daemon.WatchPaths, []string{"/run/agenix/nix-tokens"}) {
			t.Errorf("WatchPaths %q", s.Daemon.WatchPaths)
		}
		if !strings.Contains(s.Activation, "launchctl kickstart -k system/org.nixos.nix-auth") {
			t.Errorf("activation %q", s.Activation)
		}
	})

	t.Run("netrc: the user's netrc-file kept with a warning; off", func(t *testing.T) {
		s := get(t, "netrc-own")
		if s.NetrcFile == nil || *s.NetrcFile != "/etc/nix/my-netrc" {
			t.Errorf("nix.settings.netrc-file = %v, want the user's", s.NetrcFile)
		}
		oneWarning(t, s.Warnings, `^services.nix-auth.netrc: nix.settings.netrc-file is /etc/nix/my-netrc, so Nix does not read the netrc credentials nix-auth renders to `+netrc)
		s = get(t, "netrc-off")
		noWarnings(t, s.Warnings)
		if s.NetrcFile != nil || slices.Contains(s.Daemon.ProgramArguments, "--netrc-output") {
			t.Errorf("netrc off: netrc-file %v, render %q", s.NetrcFile, s.Daemon.ProgramArguments)
		}
	})

	t.Run("nix.enable off: a warning, no include", func(t *testing.T) {
		s := get(t, "nix-disabled")
		oneWarning(t, s.Warnings, `^services.nix-auth: nix.enable is false, .*and .netrc-file = /var/run/nix-auth/netrc. .*Determinate Nix: /etc/nix/nix.custom.conf`)
		if s.ExtraOptions != nil {
			t.Errorf("nix.extraOptions %q with nix.enable off", *s.ExtraOptions)
		}
	})
}
