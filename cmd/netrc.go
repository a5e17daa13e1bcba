package cmd

// Where a credential goes, and what the plain sink says about its netrc
// entry. Nix sends access-tokens to its github:, gitlab: and sourcehut:
// fetchers only; every other download (archives, builtins.fetchTarball,
// binary caches) gets the Basic credential netrc gives curl. So Gitea,
// Forgejo and Codeberg tokens go to both files, as `machine HOST login
// USER password TOKEN`, and a binary cache's to netrc alone.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// userFlagHelp is --user's help on login and set-token.
const userFlagHelp = "login sent with the token where it goes to netrc (a binary cache: --provider cache; Gitea, Forgejo, Codeberg); default: the cache's current one, the forge's account, else " + providers.DefaultNetrcLogin

// removeUse is where logout removes host's credential from: where UseOf
// puts it, and for a host whose forge is not known offline (a self-hosted
// Gitea, a binary cache) wherever it may be.
func removeUse(kind providers.Kind, host string) crypt.Use {
	if kind == "" && nixconf.NetrcMachine(host) != "" {
		return crypt.UseBoth
	}
	return crypt.UseOf(kind, host)
}

// checkUser refuses --user where it has no use, or as netrc cannot write it.
func checkUser(user string, use crypt.Use, host string) error {
	switch {
	case user == "":
		return nil
	case !use.Netrc():
		return usagef("--user is the login of a netrc credential, and the token for %s goes to access-tokens only", host)
	}
	if err := nixconf.ValidateNetrcValue("login", user); err != nil {
		return &usageError{err}
	}
	return nil
}

// netrcLogin is the login of a forge's netrc entry: the account name the
// forge said (user) when netrc can carry it, else the default.
func netrcLogin(user string) string {
	if user == "" || nixconf.ValidateNetrcValue("login", user) != nil {
		return providers.DefaultNetrcLogin
	}
	return user
}

// printNetrcChange says what a save did to the netrc file.
func printNetrcChange(f *Factory, ch *nixconf.NetrcChange, nixConf, machine, login string, dryRun bool) {
	out := f.IO.Out
	if dryRun {
		termsafe.Fprintf(out, "Dry run: would write the netrc entry for %s (login %s) to %s", machine, login, ch.File)
		if ch.SettingAdded {
			termsafe.Fprintf(out, " and add \"netrc-file = %s\" to %s", ch.File, nixConf)
		}
		termsafe.Fprintln(out, "; nothing was written.")
		return
	}
	verb := "Saved"
	if ch.Found {
		verb = "Replaced"
	}
	termsafe.Fprintf(out, "%s the netrc entry for %s (login %s) in %s.\n", verb, machine, login, ch.File)
	if ch.SettingAdded {
		termsafe.Fprintf(out, "Added \"netrc-file = %s\" to %s.\n", ch.File, nixConf)
	}
	if ch.ModeFixed {
		termsafe.Fprintf(out, "Made %s private: other users could read it.\n", ch.File)
	}
	if ch.Dropped != "" {
		f.warn(fmt.Sprintf("your nix read netrc credentials for %s from %s; it reads %s instead now (the nix-daemon still reads %s)",
			strings.Join(ch.DroppedHosts, ", "), ch.Dropped, ch.File, ch.Dropped))
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: if your own nix commands need them, copy those entries into %s\n", ch.File)
	}
}

// printNetrcRemoval says what a removal did to the netrc file.
func printNetrcRemoval(f *Factory, ch *nixconf.NetrcChange, machine string, dryRun bool) {
	switch {
	case !ch.Found:
	case dryRun:
		termsafe.Fprintf(f.IO.Out, "Dry run: would remove the netrc entry for %s from %s; nothing was written.\n", machine, ch.File)
	default:
		termsafe.Fprintf(f.IO.Out, "Removed the netrc entry for %s from %s.\n", machine, ch.File)
	}
	if ch.Still != "" {
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: curl still sends %s a credential from %s (a \"default\" entry, or a file nix-auth does not manage)\n", machine, ch.Still)
	}
}

// netrcNotes say, after a save to netrc, which fetches the credential
// serves: a forge's archives; a cache's substitutions by the user's own
// nix, not the nix-daemon's, and only once Nix's config names the cache.
func netrcNotes(f *Factory, store *nixconf.Store, e crypt.Entry, dryRun bool) {
	machine := nixconf.NetrcMachine(e.Host)
	if fg, _ := providers.ForgeOf(providers.Kind(e.Provider)); fg.Netrc != providers.OnlyNetrc {
		if !dryRun {
			termsafe.Fprintf(f.IO.Out, "Nix's downloader sends it for archives and tarballs from %s (builtins.fetchTarball, https://%s/OWNER/REPO/archive/REF.tar.gz).\n", machine, machine)
		}
		return
	}
	termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: %s\n", daemonNote)
	if cfg, err := store.Config(); err == nil && !slices.Contains(substituterKeys(cfg), e.Host) {
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: Nix does not use the cache yet: add it with `extra-substituters = https://%s` and its key with extra-trusted-public-keys (NixOS: nix.settings)\n", e.Host)
	}
}
