package cmd

// Binary caches in status: a netrc credential whose host has no access
// token is a cache's (login and set-token save them through the sink, as
// the forge table's cache row says: to netrc alone), checked the way Nix
// sends it (GET /nix-cache-info with Basic auth).

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// daemonNote is where the netrc credential of a cache works.
const daemonNote = "this serves your own nix commands (nix store ping, fetches, a single-user nix). " +
	"The nix-daemon substitutes as root and reads its own netrc-file (/etc/nix/netrc unless the system's nix.conf names another), " +
	"not yours unless you are a trusted user: for builds through the daemon, keep the credential in an encrypted store and let render " +
	"write the system's netrc (--netrc-output; on NixOS, name it with nix.settings.netrc-file)"

// substituterKeys are the caches Nix's config names (substituters,
// extra-substituters, trusted-substituters), as host[:port][/path].
func substituterKeys(cfg *nixconf.Config) []string { return substituterHosts(cfg.Substituters()) }

// substituterHosts are the http(s) caches of a list of substituter URLs,
// as host[:port][/path].
func substituterHosts(urls []string) []string {
	var keys []string
	for _, s := range urls {
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
	_, entries, err := store.NetrcEntries()
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
	return checkRows(len(caches), func(i int, row *statusHost) {
		c := caches[i]
		*row = statusHost{Host: c.cache, Provider: string(providers.Cache), User: c.entry.Login, Scopes: []string{},
			Token: providers.MaskToken(c.entry.Password), Source: from(c.entry.File, c.entry.Line)}
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
	})
}

// storeCaches takes the binary caches' credentials (use netrc alone) out
// of the selected entries of a store or decrypted file (es, at path).
func storeCaches(es []crypt.Entry, path string, entries []nixconf.Entry) (rest []nixconf.Entry, caches []statusCache) {
	for _, ne := range entries {
		i := slices.IndexFunc(es, func(e crypt.Entry) bool { return e.Host == ne.Host })
		if i < 0 || es[i].Use.AccessTokens() {
			rest = append(rest, ne)
			continue
		}
		e := es[i]
		caches = append(caches, statusCache{cache: e.Host, check: true,
			entry: nixconf.NetrcEntry{Host: nixconf.NetrcMachine(e.Host), Login: e.Login, Password: e.Token, File: path}})
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
