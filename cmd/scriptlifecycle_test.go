package cmd

import "github.com/rogpeppe/go-internal/testscript"

// Script commands for the token lifecycle:
//
//	forge-revoked VALUE      the fake forge revoked the token VALUE (! : it did not)
func init() {
	scriptCmds["forge-revoked"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: forge-revoked VALUE")
		}
		if forge(ts).Revoked(args[0]) == neg {
			ts.Fatalf("the forge revoked %s: %v", args[0], !neg)
		}
	}
}
