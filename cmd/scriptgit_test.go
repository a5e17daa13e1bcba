package cmd

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

// gitFakes holds each script's fake git endpoint: script commands have no
// testing.TB to hang it on, and ts.Value reads only what Setup stored.
var gitFakes sync.Map // *testscript.TestScript -> *forgetest.GitServer

func gitFake(ts *testscript.TestScript) *forgetest.GitServer {
	g, ok := gitFakes.Load(ts)
	if !ok {
		ts.Fatalf("no fake git endpoint: run git-serve first")
	}
	return g.(*forgetest.GitServer)
}

// Script commands for the git credential scripts:
//
//	git-serve                    start a fake git smart-HTTP endpoint and point git at it
//	git-host HOST KIND           a host of the fake git endpoint
//	git-token VALUE [oauth]      a token it accepts (oauth: a GitLab OAuth token)
//	git-requests                 print what it received: SCHEME HOST PATH STATUS [AUTH [USER:PASSWORD]]
func init() {
	scriptCmds["git-serve"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: git-serve")
		}
		if _, err := exec.LookPath("git"); err != nil {
			ts.Fatalf("git is not installed: the git scripts run the real git client")
		}
		dir := ts.MkAbs(".gitfake")
		ts.Check(os.MkdirAll(dir, 0o755))
		g, err := forgetest.StartGitServer(dir)
		ts.Check(err)
		gitFakes.Store(ts, g)
		ts.Defer(func() {
			g.Close()
			gitFakes.Delete(ts)
		})
		for _, kv := range g.GitEnv() {
			k, v, _ := strings.Cut(kv, "=")
			ts.Setenv(k, v)
		}
	}
	scriptCmds["git-host"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: git-host HOST KIND")
		}
		gitFake(ts).AddForge(args[0], args[1])
	}
	scriptCmds["git-token"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "oauth" {
			ts.Fatalf("usage: git-token VALUE [oauth]")
		}
		gitFake(ts).AddToken(forgetest.Token{Value: args[0], OAuth: len(args) == 2})
	}
	scriptCmds["git-requests"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: git-requests")
		}
		for _, r := range gitFake(ts).Requests() {
			line := fmt.Sprintf("%s %s %s %d", r.Scheme, r.Host, r.Path, r.Status)
			if r.Auth != "" {
				line += " " + r.Auth
			}
			if r.Auth == "basic" {
				line += " " + r.User + ":" + r.Password
			}
			fmt.Fprintln(ts.Stdout(), line)
		}
	}
}
