package cmd

// Binary caches (--provider cache on login and set-token): Attic, Cachix,
// Harmonia, nix-serve, any HTTP cache behind Basic auth or a bearer token
// it also takes as a Basic password. Nix sends a cache only what netrc
// gives curl, so the credential goes to netrc alone, checked the way Nix
// will send it (GET /nix-cache-info with Basic auth).

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// isCacheProvider reports whether --provider names a binary cache.
func isCacheProvider(p string) bool {
	return strings.EqualFold(strings.TrimSpace(p), string(providers.Cache))
}

// cacheOptions are login's and set-token's flags for a cache.
type cacheOptions struct {
	target, user string
	// login: `nix-auth login` (keeps a valid credential unless force);
	// else set-token (noValidate skips the check).
	login, force, noValidate bool
	tokenStdin, dryRun       bool
	encryptTo                string
	keys                     *keyOptions
}

// userFlagHelp is --user's help on login and set-token.
const userFlagHelp = "login name sent with the token to a binary cache (--provider cache); default: the one it has, else " + defaultNetrcLogin

// runCache logs in to a binary cache: the token read from standard input
// or a hidden prompt, validated, and saved in the netrc file Nix reads
// (or an encrypted store, for render's --netrc-output).
func runCache(ctx context.Context, f *Factory, config string, o cacheOptions) error {
	_, cache, _, err := resolveArg(o.target, "")
	if err != nil {
		return err
	}
	if err := nixconf.ValidateHost(cache); err != nil {
		return &usageError{err}
	}
	machine := nixconf.NetrcMachine(cache)
	if machine == "" {
		return usagef("%s: netrc names a cache by host name or IPv4 address; use the cache's host name", cache)
	}
	if o.user != "" {
		if err := nixconf.ValidateNetrcValue("login", o.user); err != nil {
			return &usageError{err}
		}
	}
	// Where the credential goes is checked before the token is read.
	var ns *nixconf.NetrcStore
	var enc *crypt.File
	var current nixconf.NetrcCredential
	var has bool
	if o.encryptTo != "" {
		if enc, err = f.openEncrypted(o.encryptTo, o.keys); err != nil {
			return err
		}
		if !enc.CarriesNetrc() {
			return &hintError{
				msg:   o.encryptTo + ": a sops store cannot hold a binary cache's credential yet (its schema has no use and login fields); nothing was written",
				hints: []string{"keep it in an .age store (--encrypt-to secrets/caches.age), which render writes to netrc with --netrc-output"},
			}
		}
		if e, ok := enc.Entry(cache); ok && e.Use.Netrc() {
			current, has = nixconf.NetrcCredential{Login: e.Login, Password: e.Token}, true
		}
	} else {
		if ns, err = openNetrc(f, config, o.dryRun); err != nil {
			return err
		}
		if _, current, has, err = ns.Lookup(machine); err != nil {
			return err
		}
	}
	login := o.user
	if login == "" {
		login = defaultNetrcLogin
		if has && current.Login != "" && nixconf.ValidateNetrcValue("login", current.Login) == nil {
			login = current.Login
		}
	}
	if ns != nil {
		if err := ns.CheckSet(machine, login); err != nil {
			return err
		}
	}
	if o.login && !o.force && has && current.Login == login {
		if st, err := validateCache(ctx, f, cache, login, current.Password); err == nil && st.Valid {
			termsafe.Fprintf(f.IO.Out, "Already logged in to the cache %s (login %s).\n", cache, login)
			termsafe.Fprintln(f.IO.Out, "Use --force to replace the token.")
			return nil
		}
	}

	raw, err := f.readSecret(fmt.Sprintf("Token for the cache %s (input is hidden): ", cache), o.tokenStdin)
	if err != nil {
		return err
	}
	tok := strings.TrimSpace(raw)
	if err := nixconf.ValidateToken(tok); err != nil {
		return badToken(err)
	}
	if err := nixconf.ValidateNetrcValue("password", tok); err != nil {
		return badToken(err)
	}
	if !o.noValidate {
		st, err := validateCache(ctx, f, cache, login, tok)
		if err != nil {
			hints := []string{"retry when the cache is reachable"}
			if !o.login {
				hints = append(hints, "or save it anyway with --no-validate")
			}
			return &hintError{msg: fmt.Sprintf("could not check the token with %s: %v; nothing was written", cache, err), hints: append(hintsOf(err), hints...)}
		}
		if !st.Valid {
			return &hintError{
				msg:   fmt.Sprintf("%s refuses the token (login %s): %s; nothing was written", cache, login, st.Problem),
				hints: []string{"check that the token was copied whole, is for this cache and may read it; a cache behind a password file needs its user: --user NAME"},
			}
		}
		termsafe.Fprintf(f.IO.Out, "The cache %s accepts the token (login %s, token %s).\n", cache, login, providers.MaskToken(tok))
	}

	if enc != nil {
		e := crypt.Entry{Host: cache, Token: tok, Provider: string(providers.Cache), Use: crypt.UseNetrc, Login: login,
			Created: f.Now().UTC().Truncate(time.Second)}
		ch, err := (&storeSink{file: enc, dryRun: o.dryRun}).Save(e)
		if err != nil {
			return err
		}
		ch.report(f, cache, tok)
		if !o.dryRun {
			termsafe.Fprintf(f.IO.Out, "It reaches Nix through `nix-auth render %s --netrc-output FILE` (the NixOS module's netrc file): a netrc credential has no nix.conf form, so an agenix include of the store does not carry it.\n", enc.Path())
		}
		return nil
	}
	ch, err := ns.Set(machine, nixconf.NetrcCredential{Login: login, Password: tok})
	if err != nil {
		return err
	}
	printNetrcChange(f, ch, machine, login, o.dryRun)
	cacheNotes(f, ns, cache)
	return nil
}

// cacheNotes says who the credential serves: the user's own nix commands,
// not the nix-daemon's substitutions; and that Nix must know the cache.
func cacheNotes(f *Factory, ns *nixconf.NetrcStore, cache string) {
	termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: %s\n", daemonNote)
	store := &nixconf.Store{Paths: ns.Paths, StoreDir: ns.StoreDir}
	if cfg, err := store.Config(); err == nil && !slices.Contains(substituterKeys(cfg), cache) {
		termsafe.Fprintf(f.IO.ErrOut, "nix-auth: hint: Nix does not use the cache yet: add it with `extra-substituters = https://%s` and its key with extra-trusted-public-keys (NixOS: nix.settings)\n", cache)
	}
}

// daemonNote is where the netrc credential of a cache works.
const daemonNote = "this serves your own nix commands (nix store ping, fetches, a single-user nix). " +
	"The nix-daemon substitutes as root and reads its own netrc-file (/etc/nix/netrc unless the system's nix.conf names another), " +
	"not yours unless you are a trusted user: for builds through the daemon, keep the credential in an encrypted store and let render " +
	"write the system's netrc (--netrc-output; the NixOS module sets nix.settings.netrc-file)"

// substituterKeys are the caches Nix's config names (substituters,
// extra-substituters, trusted-substituters), as host[:port][/path].
func substituterKeys(cfg *nixconf.Config) []string {
	var keys []string
	for _, s := range cfg.Substituters() {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		keys = append(keys, strings.ToLower(u.Host)+strings.TrimRight(u.Path, "/"))
	}
	return keys
}

// statusCache is a netrc credential status checks as a binary cache's: an
// entry whose host has no access token.
type statusCache struct {
	// cache is where it is checked: the substituter for the host, else
	// the host itself.
	cache string
	entry nixconf.NetrcEntry
	// check: the credential is sent to the cache. Only to a substituter
	// Nix's config names, or a host the user named: a netrc file may hold
	// passwords for other services, which status must not send around.
	check bool
}

// netrcCaches lists the netrc credentials status shows besides the access
// tokens, those of the named hosts when hosts are given; rest are the
// hosts left for the access tokens, and none is true when hosts named
// caches only.
func netrcCaches(f *Factory, store *nixconf.Store, cfg *nixconf.Config, hosts []string) (caches []statusCache, rest []string, none bool, err error) {
	ns := &nixconf.NetrcStore{Paths: store.Paths, StoreDir: store.StoreDir}
	_, entries, err := ns.Entries()
	if err != nil {
		return nil, nil, false, err
	}
	forge := map[string]bool{}
	for _, e := range cfg.AccessTokens() {
		forge[nixconf.NetrcMachine(e.Host)] = true
	}
	subs := substituterKeys(cfg)
	var all []statusCache
	seen := map[string]bool{}
	for _, e := range entries {
		m := strings.ToLower(e.Host)
		if forge[m] || seen[m] {
			continue
		}
		seen[m] = true
		c := statusCache{cache: m, entry: e}
		for _, s := range subs {
			if nixconf.NetrcMachine(s) == m {
				c.cache, c.check = s, true
				break
			}
		}
		all = append(all, c)
	}
	if len(hosts) == 0 {
		return all, nil, false, nil
	}
	for _, h := range hosts {
		_, host, _, err := resolveArg(h, "")
		if err != nil {
			return nil, nil, false, err
		}
		i := slices.IndexFunc(all, func(c statusCache) bool { return c.cache == host || strings.ToLower(c.entry.Host) == host })
		if i < 0 {
			rest = append(rest, h)
			continue
		}
		all[i].check = true
		caches = append(caches, all[i])
	}
	return caches, rest, len(rest) == 0, nil
}

// checkCaches validates every cache credential at once.
func checkCaches(ctx context.Context, f *Factory, caches []statusCache) []statusHost {
	rows := make([]statusHost, len(caches))
	var wg sync.WaitGroup
	for i, c := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			row := statusHost{Host: c.cache, Provider: string(providers.Cache), User: c.entry.Login, Scopes: []string{},
				Token: providers.MaskToken(c.entry.Password), Source: from(c.entry.File, c.entry.Line)}
			defer func() {
				if r := recover(); r != nil {
					row.State, row.Problem = stateError, fmt.Sprintf("internal error (a bug in nix-auth): %v", r)
				}
				rows[i] = row
			}()
			if !c.check {
				row.State, row.Problem = stateUnchecked, "not a substituter in Nix's config; `nix-auth status "+c.cache+"` checks it as a binary cache"
				return
			}
			st, err := validateCache(ctx, f, c.cache, c.entry.Login, c.entry.Password)
			switch {
			case errors.Is(err, providers.ErrNotCache):
				row.State, row.Problem = stateUnchecked, "no binary cache answers at https://"+c.cache+"/nix-cache-info"
			case err != nil:
				row.State, row.Problem = stateError, err.Error()
			case !st.Valid:
				row.State, row.Problem = stateInvalid, st.Problem
			default:
				row.State = stateValid
			}
		}()
	}
	wg.Wait()
	return rows
}

// storeCaches takes the binary caches' credentials (use netrc alone) out
// of an encrypted store's selected entries.
func storeCaches(file *crypt.File, entries []nixconf.Entry) (rest []nixconf.Entry, caches []statusCache) {
	for _, ne := range entries {
		e, ok := file.Entry(ne.Host)
		if !ok || e.Use.AccessTokens() {
			rest = append(rest, ne)
			continue
		}
		caches = append(caches, statusCache{cache: e.Host, check: true,
			entry: nixconf.NetrcEntry{Host: nixconf.NetrcMachine(e.Host), Login: e.Login, Password: e.Token, File: file.Path()}})
	}
	return rest, caches
}

// cacheSources are the cache rows as entries for printSources.
func cacheSources(caches []statusCache) []nixconf.Entry {
	out := make([]nixconf.Entry, len(caches))
	for i, c := range caches {
		out[i] = nixconf.Entry{Host: c.cache, File: c.entry.File, Line: c.entry.Line}
	}
	return out
}

// validateCache checks a cache's credential with the table's cache
// provider.
func validateCache(ctx context.Context, f *Factory, cache, login, password string) (*providers.Status, error) {
	o := providerOptions(f, "")
	o.Login = login
	p, err := providers.New(providers.Cache, cache, o)
	if err != nil {
		return nil, err
	}
	return p.Validate(ctx, password)
}
