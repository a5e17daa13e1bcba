package cmd

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

// Script commands for the netrc scripts:
//
//	cache-host HOST [USER:]TOKEN   a binary cache that takes the credential, on the
//	                               fake forge (nix-auth's check) and, after git-serve,
//	                               on the proxied fake (the real nix's downloads)
//	nix-fetch URL                  the real nix evaluates import (builtins.fetchTarball URL)
//	nix-ping URL                   the real nix runs nix store ping --store URL
//
// Both nix commands run with the script's config (HOME, XDG_*,
// NIX_CONF_DIR) and reach the fake through its proxy, trusting its CA
// (NIX_SSL_CERT_FILE): Nix's curl reads the netrc file nix.conf names.
// git-requests prints what the fake received, decoded Basic credential
// included. In CI a missing nix fails the script (scriptCondition).
func init() {
	scriptCmds["cache-host"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: cache-host HOST [USER:]TOKEN")
		}
		cred := forgetest.CacheCredential{Password: args[1]}
		if u, p, ok := strings.Cut(args[1], ":"); ok {
			cred = forgetest.CacheCredential{User: u, Password: p}
		}
		forge(ts).AddCache(args[0], cred)
		if g, ok := gitFakes.Load(ts); ok {
			g.(*forgetest.GitServer).AddCache(args[0], cred)
		}
	}
	scriptCmds["nix-fetch"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: nix-fetch URL")
		}
		expr := fmt.Sprintf("import (builtins.fetchTarball %q)", args[0])
		runNix(ts, neg, "nix-instantiate", "--eval", "--store", ts.MkAbs(".nixstore"), "-E", expr)
	}
	scriptCmds["nix-ping"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: nix-ping URL")
		}
		runNix(ts, neg, "nix", "--extra-experimental-features", "nix-command", "store", "ping", "--store", args[0])
	}
}

// runNix runs a real nix command against the fake; neg: it must fail.
func runNix(ts *testscript.TestScript, neg bool, name string, args ...string) {
	bin, err := exec.LookPath(name)
	if err != nil {
		ts.Fatalf("%s is not installed (guard the script with [nix])", name)
	}
	g := gitFake(ts)
	cmd := exec.Command(bin, args...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = append(nixEnv(ts), "XDG_CACHE_HOME="+ts.MkAbs(".cache"), "NIX_SSL_CERT_FILE="+g.CAFile(),
		"https_proxy="+g.ProxyURL(), "http_proxy="+g.ProxyURL(), "no_proxy=")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	fmt.Fprint(ts.Stdout(), stdout.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s: %v", name, err)
	case err == nil && neg:
		ts.Fatalf("%s succeeded unexpectedly", name)
	}
}
