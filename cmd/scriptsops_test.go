package cmd

import (
	"os"
	"slices"

	"filippo.io/age"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/tooltest"
)

// toolCmd is a script command running a tool pinned in tools/go.mod (the
// sops and age the project pins, not whatever is on PATH) with the script's
// environment and working directory; its output lands in stdout/stderr.
func toolCmd(name string) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		bin, err := tooltest.Path(name)
		if err != nil {
			ts.Fatalf("%v", err)
		}
		err = ts.Exec(bin, args...)
		if err != nil {
			ts.Logf("[%v]", err)
		}
		if (err != nil) != neg {
			ts.Fatalf("unexpected %s result: %v", name, err)
		}
	}
}

// Script commands for the render proofs:
//
//	sops ARGS...                  run the real sops with the script's environment
//	age ARGS..., age-keygen ARGS...   run the real age CLIs likewise
//	age-identity SSHKEY OUT       write the age identity that sops-nix derives from an ssh ed25519 key
func init() {
	scriptCmds["sops"] = toolCmd("sops")
	scriptCmds["age"] = toolCmd("age")
	scriptCmds["age-keygen"] = toolCmd("age-keygen")
	scriptCmds["age-identity"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: age-identity SSHKEY OUT")
		}
		// The conversion identities are loaded with: the X25519 half of
		// what an ssh ed25519 key gives.
		ids, err := crypt.LoadIdentities(func(string) string { return "" }, []string{ts.MkAbs(args[0])}, nil, nil, nil)
		ts.Check(err)
		i := slices.IndexFunc(ids.List, func(id age.Identity) bool { _, ok := id.(*age.X25519Identity); return ok })
		if i < 0 {
			ts.Fatalf("%s gives no X25519 identity", args[0])
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(ids.List[i].(*age.X25519Identity).String()+"\n"), 0o600))
	}
}
