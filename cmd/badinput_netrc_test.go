package cmd

import (
	"os"
	"syscall"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/nixconf"
)

func init() { moreBadCases = append(moreBadCases, netrcBadCases) }

// Secrets of the netrc cases; none may be printed.
const (
	netrcCacheTok = "cacheSECRET.0123456789abcdef"
	netrcMine     = "mineSECRET0123456789"
	netrcPath     = "$D/home/.config/nix/my-netrc"
)

// netrcCache makes cache.example.com a cache that takes netrcCacheTok and
// pipes that token in.
func netrcCache(e *badEnv) {
	e.fake.AddCache("cache.example.com", forgetest.CacheCredential{Password: netrcCacheTok})
	e.stdin = []byte(netrcCacheTok + "\n")
}

// netrcNamed makes nix.conf name my-netrc, with data in it.
func netrcNamed(data string) func(e *badEnv) {
	return func(e *badEnv) {
		e.nixConf("netrc-file = " + e.path(netrcPath) + "\n")
		if data != "" {
			e.write(netrcPath, []byte(data))
		}
	}
}

// netrcLink makes my-netrc a symlink to a netrc file.
func netrcLink(e *badEnv) {
	target := e.write("home/.config/nix/real-netrc", []byte("machine example.org login me password "+netrcMine+"\n"))
	if err := os.Symlink(target, e.path(netrcPath)); err != nil {
		e.t.Fatal(err)
	}
}

// netrcFIFO makes my-netrc a FIFO: reading it would block.
func netrcFIFO(e *badEnv) {
	if err := syscall.Mkfifo(e.path(netrcPath), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// netrcUnreadable makes my-netrc a file its owner cannot read (root reads
// it all the same, so the case needs another user).
func netrcUnreadable(e *badEnv) {
	if os.Geteuid() == 0 {
		e.t.Skip("root reads a file whatever its mode")
	}
	p := e.write(netrcPath, []byte("machine example.org login me password "+netrcMine+"\n"))
	if err := os.Chmod(p, 0); err != nil {
		e.t.Fatal(err)
	}
}

// netrcHostileAge is tokens.age with a plaintext nobody authenticated: a
// netrc credential whose token has a quote, which curl would read as the
// start of a quoted string.
var netrcHostileAge = ageStoreWithPlaintext("# nix-auth: host=cache.example.com use=netrc login=a token=" + netrcMine + "%22evil\n")

// netrcBadCases: bad netrc values, files nix-auth must not edit, caches
// that refuse, and render's netrc output where it must not go. Nothing
// is ever written, and no token or password is printed.
func netrcBadCases() []badCase {
	cache := []string{"set-token", "cache.example.com", "--provider", "cache"}
	forge := []string{"set-token", "codeberg.org"}
	sopsRender := []string{"render", "$D/tokens.yaml", "--identity", "$D/good.key", "--output", "$D/out/access-tokens.conf", "--netrc-output", "$D/out/netrc"}
	const sopsRule = "encrypted_regex: ^(token|refresh_token)$"
	forgeToken := func(e *badEnv) {
		e.fake.AddToken(forgetest.Token{Value: tokForge, User: "ferris"})
		e.stdin = []byte(tokForge + "\n")
	}
	return []badCase{
		{name: "netrc/cache-token-whitespace", args: cache, setup: func(e *badEnv) { netrcCache(e); e.stdin = []byte("cache SECRET0123\n") },
			code: 1, want: "whitespace", hint: "on one line", secrets: []string{"SECRET0123"}},
		{name: "netrc/cache-token-quote", args: cache, setup: func(e *badEnv) { netrcCache(e); e.stdin = []byte("cache\"SECRET0123\n") },
			code: 1, want: "quote", hint: "on one line", secrets: []string{"SECRET0123"}},
		{name: "netrc/cache-token-backslash", args: cache, setup: func(e *badEnv) { netrcCache(e); e.stdin = []byte("cache\\SECRET0123\n") },
			code: 1, want: "backslash", hint: "on one line", secrets: []string{"SECRET0123"}},
		{name: "netrc/cache-token-control", args: cache, setup: func(e *badEnv) { netrcCache(e); e.stdin = []byte("cache\x1bSECRET0123\n") },
			code: 1, want: "control character", hint: "on one line", secrets: []string{"SECRET0123"}},
		{name: "netrc/cache-token-keyword", args: cache, setup: func(e *badEnv) { netrcCache(e); e.stdin = []byte("machine\n") },
			code: 1, want: "netrc keywords", hint: "on one line"},
		{name: "netrc/cache-user-whitespace", args: append(cache, "--user", "al ice"), setup: netrcCache,
			code: 2, want: "whitespace", secrets: []string{netrcCacheTok}},
		{name: "netrc/cache-user-quote", args: append(cache, "--user", "al\"ice"), setup: netrcCache,
			code: 2, want: "quote", secrets: []string{netrcCacheTok}},
		{name: "netrc/cache-ipv6", args: []string{"set-token", "[::1]:8443", "--provider", "cache"}, setup: netrcCache,
			code: 2, want: "host name or IPv4", secrets: []string{netrcCacheTok}},
		{name: "netrc/cache-401", args: cache, setup: func(e *badEnv) { netrcCache(e); e.stdin = []byte("wrongSECRET0123456789\n") },
			code: 1, want: "cache.example.com refuses the token", hint: "--user NAME", secrets: []string{"wrongSECRET0123456789"}},
		{name: "netrc/cache-is-a-forge", args: []string{"set-token", "codeberg.org", "--provider", "cache"}, setup: netrcCache,
			code: 1, want: "no binary cache there", hint: "--provider cache", secrets: []string{netrcCacheTok}},
		{name: "netrc/cache-portal", args: cache, setup: func(e *badEnv) {
			netrcCache(e)
			e.fake.Fail("cache.example.com", "/nix-cache-info", forgetest.FailHTML)
		}, code: 1, want: "not a nix-cache-info file", hint: "--no-validate", secrets: []string{netrcCacheTok}},
		{name: "netrc/cache-redirect", args: cache, setup: func(e *badEnv) {
			netrcCache(e)
			e.fake.Fail("cache.example.com", "/nix-cache-info", forgetest.FailRedirect)
		}, code: 1, want: "refused a redirect", hint: "--no-validate", secrets: []string{netrcCacheTok}},
		// A sops store's use and login fields: the MAC holds (the real sops
		// wrote them), the schema does not.
		{name: "netrc/render-sops-use-unknown", args: sopsRender,
			setup: sopsEncrypted(sopsRule, "hosts:\n    cache.example.com:\n        token: "+netrcCacheTok+"\n        use: sometimes\n        login: alice\n"),
			code:  1, file: "$D/tokens.yaml", want: "cache.example.com: use is unknown: use must be access-tokens, netrc or both", hint: "sops edit",
			secrets: []string{netrcCacheTok}},
		{name: "netrc/render-sops-login-on-access-token", args: sopsRender,
			setup: sopsEncrypted(sopsRule, "hosts:\n    codeberg.org:\n        token: "+netrcCacheTok+"\n        login: alice\n"),
			code:  1, file: "$D/tokens.yaml", want: "has a login but goes to access-tokens only", hint: "sops edit",
			secrets: []string{netrcCacheTok}},
		{name: "netrc/render-plain-use-not-a-string", args: []string{"render", "--plain", "$D/plain.yaml", "--output", "$D/out/access-tokens.conf", "--netrc-output", "$D/out/netrc"},
			setup: func(e *badEnv) {
				e.write("plain.yaml", []byte("hosts:\n    cache.example.com:\n        token: "+netrcCacheTok+"\n        use: [netrc]\n        login: alice\n"))
			},
			code: 1, file: "$D/plain.yaml", want: "use is a list, not a string", hint: "sops edit", secrets: []string{netrcCacheTok}},

		{name: "netrc/named-symlink", args: cache, setup: then(netrcNamed(""), netrcLink, netrcCache),
			code: 1, file: netrcPath, want: "symbolic link", secrets: []string{netrcCacheTok, netrcMine}},
		{name: "netrc/named-fifo", args: cache, setup: then(netrcNamed(""), netrcFIFO, netrcCache),
			code: 1, file: netrcPath, want: "not a regular file", secrets: []string{netrcCacheTok}},
		{name: "netrc/named-directory", args: cache, setup: then(netrcNamed(""), func(e *badEnv) { os.Mkdir(e.path(netrcPath), 0o700) }, netrcCache),
			code: 1, file: netrcPath, want: "not a regular file", secrets: []string{netrcCacheTok}},
		{name: "netrc/named-unreadable", args: cache, setup: then(netrcNamed(""), netrcUnreadable, netrcCache),
			code: 1, file: netrcPath, want: "cannot read", secrets: []string{netrcCacheTok, netrcMine}},
		{name: "netrc/named-below-a-file", args: cache, setup: then(func(e *badEnv) {
			e.write("home/.config/nix/plain-file", []byte("x\n"))
			e.nixConf("netrc-file = " + e.path("home/.config/nix/plain-file/netrc") + "\n")
		}, netrcCache), code: 1, file: "$D/home/.config/nix/plain-file", want: "is not a directory", secrets: []string{netrcCacheTok}},
		{name: "netrc/named-relative", args: cache, setup: then(func(e *badEnv) { e.nixConf("netrc-file = my-netrc\n") }, netrcCache),
			code: 1, file: nixConfPath + ":1", want: "relative path", hint: "netrc-file = ", secrets: []string{netrcCacheTok}},
		{name: "netrc/named-empty", args: cache, setup: then(func(e *badEnv) { e.nixConf("netrc-file =\n") }, netrcCache),
			code: 1, file: nixConfPath + ":1", want: "to nothing", hint: "remove that line", secrets: []string{netrcCacheTok}},
		{name: "netrc/named-by-render", args: forge, setup: then(netrcNamed(nixconf.RenderHeader("tokens.age")+"machine x.example.com login a password "+netrcMine+"\n"), forgeToken),
			code: 1, file: netrcPath, want: "written by `nix-auth render`", hint: "--encrypt-to STORE", secrets: []string{tokForge, netrcMine}},
		{name: "netrc/named-quote-unclosed", args: forge, setup: then(netrcNamed("machine example.org login me password \""+netrcMine+"\n"), forgeToken),
			code: 1, file: netrcPath + ":1", want: "no closing quote", hint: "close the quote", secrets: []string{tokForge, netrcMine}},
		{name: "netrc/named-nul", args: cache, setup: then(netrcNamed("machine example.org login me password "+netrcMine+"\x00\n"), netrcCache),
			code: 1, file: netrcPath + ":1", want: "NUL byte", secrets: []string{netrcCacheTok, netrcMine}},
		{name: "netrc/nixconf-in-store", args: cache, setup: then(confInStore, netrcCache),
			code: 1, file: nixConfPath, want: "cannot add \"netrc-file = ", hint: "nix.extraOptions", secrets: []string{netrcCacheTok, tokConf}},
		{name: "netrc/nixconfig-names-later", args: cache, env: map[string]string{"NIX_CONFIG": "netrc-file = $D/home/.config/nix/env-netrc\n"},
			setup: then(func(e *badEnv) { os.Mkdir(e.path("home/.config/nix/env-netrc"), 0o700) }, netrcCache),
			code:  1, file: "$D/home/.config/nix/env-netrc", want: "not a regular file", secrets: []string{netrcCacheTok}},
		{name: "netrc/logout-quote-unclosed", args: []string{"logout", "codeberg.org"}, setup: func(e *badEnv) {
			e.nixConf("netrc-file = " + e.path(netrcPath) + "\naccess-tokens = codeberg.org=" + tokForge + "\n")
			e.write(netrcPath, []byte("machine codeberg.org login me password "+netrcMine+"\nmachine x.example.com password \"open\n"))
		}, code: 1, file: netrcPath + ":2", want: "no closing quote", secrets: []string{tokForge, netrcMine}},

		{name: "netrc/render-output-symlink", args: []string{"render", "$D/tokens.age", "--identity", "$D/good.key", "--output", "$D/out.conf", "--netrc-output", "$D/link"},
			setup: then(ageStore, func(e *badEnv) { os.Symlink(e.path("elsewhere"), e.path("link")) }),
			code:  1, file: "$D/link", want: "symbolic link"},
		{name: "netrc/render-output-twice", args: []string{"render", "$D/tokens.age", "--identity", "$D/good.key", "--output", "$D/out.conf", "--netrc-output", "$D/out.conf"},
			setup: ageStore, code: 1, file: "$D/out.conf", want: "name the same file", hint: "a name of its own"},
		{name: "netrc/render-hostile-store", args: []string{"render", "$D/tokens.age", "--identity", "$D/good.key", "--output", "$D/out.conf", "--netrc-output", "$D/netrc"},
			setup: netrcHostileAge, code: 1, file: "$D/tokens.age", want: "quote", hint: "deploy it again", secrets: []string{netrcMine}},
	}
}
