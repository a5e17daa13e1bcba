package cmd

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
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
	batchpass := goTool("age-plugin-batchpass")
	scriptCmds["age-plugin-path"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: age-plugin-path")
		}
		bin, err := batchpass()
		if err != nil {
			ts.Fatalf("go tool -n age-plugin-batchpass: %v", err)
		}
		ts.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+ts.Getenv("PATH"))
	}
}
