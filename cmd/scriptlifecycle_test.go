package cmd

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nix-auth/nix-auth/internal/tooltest"
)

// Script commands for the token lifecycle:
//
//	forge-revoked VALUE      the fake forge revoked the token VALUE (! : it did not)
//	age-plugin-path          put the pinned age-plugin-batchpass on PATH, for age and nix-auth
func init() {
	scriptCmds["forge-revoked"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: forge-revoked VALUE")
		}
		if forge(ts).Revoked(args[0]) == neg {
			ts.Fatalf("the forge revoked %s: %v", args[0], !neg)
		}
	}
	scriptCmds["age-plugin-path"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: age-plugin-path")
		}
		// The pinned plugin (tools/go.mod), as the age and sops commands
		// run the pinned CLIs: a script needing it fails without it.
		bin, err := tooltest.Path("age-plugin-batchpass")
		if err != nil {
			ts.Fatalf("%v", err)
		}
		ts.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+ts.Getenv("PATH"))
	}
}
