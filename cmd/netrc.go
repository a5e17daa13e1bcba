package cmd

// The netrc destination of login, set-token and logout (integration
// point): each of them calls these after its own save, one line each,
// until the one login/save flow (the token sink) takes them in. Gitea,
// Forgejo and Codeberg tokens also go to the netrc file Nix's downloader
// reads, as `machine HOST login USER password TOKEN`: Nix sends
// access-tokens to its github:, gitlab: and sourcehut: fetchers only, so
// their archives (builtins.fetchTarball, tarball inputs) authenticate
// through netrc alone.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// defaultNetrcLogin is the login written with a token when the account
// name is unknown: Gitea, Forgejo and token caches (Attic, Cachix) take any
// login with a token as password, and curl needs one (it drops a
// password-only entry once another entry follows it).
const defaultNetrcLogin = "x-access-token"

// forgeNetrc reports whether a forge's token also goes to netrc.
func forgeNetrc(kind providers.Kind) bool {
	return kind == providers.Gitea || kind == providers.Forgejo
}

// netrcLogin is the login for a forge's netrc entry: the account name
// when the forge said it, else defaultNetrcLogin.
func netrcLogin(user string) string {
	if user == "" || nixconf.ValidateNetrcValue("login", user) != nil {
		return defaultNetrcLogin
	}
	return user
}

func openNetrc(f *Factory, config string, dryRun bool) (*nixconf.NetrcStore, error) {
	paths, err := nixconf.Locate(config, f.lookupEnv)
	if err != nil {
		return nil, err
	}
	return &nixconf.NetrcStore{Paths: paths, DryRun: dryRun, StoreDir: f.Getenv("NIX_STORE_DIR"), Warn: f.warn}, nil
}

// checkNetrc is saveNetrc's preflight, run before a token is read or a
// browser flow started: the netrc file can take the entry.
func checkNetrc(f *Factory, config string, kind providers.Kind, host string, dryRun bool) error {
	machine := nixconf.NetrcMachine(host)
	if !forgeNetrc(kind) || machine == "" {
		return nil
	}
	ns, err := openNetrc(f, config, dryRun)
	if err != nil {
		return err
	}
	return ns.CheckSet(machine, defaultNetrcLogin)
}

// saveNetrc writes a forge token's netrc entry, after the token itself was
// saved to access-tokens.conf.
func saveNetrc(f *Factory, config string, kind providers.Kind, host, user, token string, dryRun bool) error {
	machine := nixconf.NetrcMachine(host)
	if !forgeNetrc(kind) || machine == "" {
		return nil
	}
	if err := nixconf.ValidateNetrcValue("password", token); err != nil {
		f.warn(fmt.Sprintf("the token is not written to netrc (%v): archives from %s will not authenticate", err, machine))
		return nil
	}
	ns, err := openNetrc(f, config, dryRun)
	if err != nil {
		return err
	}
	cred := nixconf.NetrcCredential{Login: netrcLogin(user), Password: token}
	ch, err := ns.Set(machine, cred)
	if err != nil {
		return &hintError{msg: err.Error(), hints: append(hintsOf(err),
			"the token itself was saved for Nix's fetchers; run the command again once this is fixed, to add it to netrc")}
	}
	printNetrcChange(f, ch, machine, cred.Login, dryRun)
	if !dryRun {
		termsafe.Fprintf(f.IO.Out, "Nix's downloader sends it for archives and tarballs from %s (builtins.fetchTarball, https://%s/OWNER/REPO/archive/REF.tar.gz).\n", machine, machine)
	}
	return nil
}

// ensureNetrc gives a forge's valid token, kept by a repeated login, its
// netrc entry when curl would not send it yet (a login from before
// nix-auth wrote netrc).
func ensureNetrc(f *Factory, config string, kind providers.Kind, host, user, token string, dryRun bool) error {
	machine := nixconf.NetrcMachine(host)
	if !forgeNetrc(kind) || machine == "" {
		return nil
	}
	ns, err := openNetrc(f, config, dryRun)
	if err != nil {
		return err
	}
	if _, cred, ok, err := ns.Lookup(machine); err != nil || ok && cred.Password == token {
		return err
	}
	return saveNetrc(f, config, kind, host, user, token, dryRun)
}

// printNetrcChange says what a netrc edit did.
func printNetrcChange(f *Factory, ch *nixconf.NetrcChange, machine, login string, dryRun bool) {
	out := f.IO.Out
	if dryRun {
		termsafe.Fprintf(out, "Dry run: would write the netrc entry for %s (login %s) to %s", machine, login, ch.File)
		if ch.SettingAdded {
			termsafe.Fprintf(out, " and add \"netrc-file = %s\" to %s", ch.File, ch.NixConf)
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
		termsafe.Fprintf(out, "Added \"netrc-file = %s\" to %s.\n", ch.File, ch.NixConf)
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

// netrcEntry makes a forge's entry in an encrypted store carry its netrc
// credential too, when the store can hold one: render writes it with
// --netrc-output.
func netrcEntry(e *crypt.Entry, kind providers.Kind, enc *crypt.File, user string) {
	if !forgeNetrc(kind) || !enc.CarriesNetrc() || nixconf.NetrcMachine(e.Host) == "" ||
		nixconf.ValidateNetrcValue("password", e.Token) != nil {
		return
	}
	e.Use, e.Login = crypt.UseBoth, netrcLogin(user)
}

// logoutNetrcFirst runs before logout removes a host's access token: it
// checks that the host's netrc entry can go too, and logs out a host that
// has a netrc entry and no access token (a binary cache) on its own; only
// is true when that was all there was to do.
func logoutNetrcFirst(f *Factory, config string, store *nixconf.Store, host string, dryRun bool) (only bool, err error) {
	machine := nixconf.NetrcMachine(host)
	if machine == "" || strings.Contains(host, "/") {
		return false, nil
	}
	ns, err := openNetrc(f, config, dryRun)
	if err != nil {
		return false, err
	}
	file, entries, err := ns.Entries()
	if err != nil {
		return false, err
	}
	if !slices.ContainsFunc(entries, func(e nixconf.NetrcEntry) bool { return strings.EqualFold(e.Host, machine) }) {
		return false, nil
	}
	if err := ns.CheckRemove(machine); err != nil {
		return false, err
	}
	tokens, err := store.Tokens()
	if err != nil {
		return false, err
	}
	for _, e := range tokens {
		if e.Host == host {
			return false, nil
		}
	}
	ch, err := ns.Remove(machine)
	if err != nil || !ch.Found {
		// Nothing of nix-auth's to remove (the entry is in a file it
		// does not manage): logout says there is no token.
		return false, err
	}
	printNetrcRemoval(f, ch, machine, file, dryRun)
	if !dryRun {
		termsafe.Fprintln(f.IO.Out, "The credential is still valid at the server until you revoke it there.")
	}
	return true, nil
}

// logoutNetrcAfter removes the host's netrc entry after logout removed its
// access token.
func logoutNetrcAfter(f *Factory, config, host string, dryRun bool) error {
	machine := nixconf.NetrcMachine(host)
	if machine == "" || strings.Contains(host, "/") {
		return nil
	}
	ns, err := openNetrc(f, config, dryRun)
	if err != nil {
		return err
	}
	ch, err := ns.Remove(machine)
	if err != nil {
		return &hintError{msg: err.Error(), hints: append(hintsOf(err),
			"the access token was removed; run `nix-auth logout "+host+"` again once this is fixed, to remove the netrc entry")}
	}
	if ch.Found || ch.Still != "" {
		printNetrcRemoval(f, ch, machine, ch.File, dryRun)
	}
	return nil
}

func printNetrcRemoval(f *Factory, ch *nixconf.NetrcChange, machine, file string, dryRun bool) {
	switch {
	case !ch.Found:
	case dryRun:
		termsafe.Fprintf(f.IO.Out, "Dry run: would remove the netrc entry for %s from %s; nothing was written.\n", machine, file)
	default:
		termsafe.Fprintf(f.IO.Out, "Removed the netrc entry for %s from %s.\n", machine, file)
	}
	if ch.Still != "" {
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: curl still sends %s a credential from %s (a \"default\" entry, or a file nix-auth does not manage)\n", machine, ch.Still)
	}
}
