package nix

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFlake checks the flake as a user gets it, without fetching nixpkgs:
// the lock is accepted, the module outputs have their names, and the
// version is stamped without a commit. (`nix flake check` with nixpkgs
// overridden by the kit's copies all of nixpkgs into the store, minutes on
// a busy machine: .ci/run runs it, outside any test's timeout; the VM test
// is instantiated with the NixOS scenarios.)
func TestFlake(t *testing.T) {
	t.Parallel()
	needKit(t)
	// The committed lock pins nixpkgs; reading it fetches nothing.
	out := string(run(t, "nix flake metadata", kitCmd(t, `exec nix flake metadata --json ../..`)))
	var meta struct {
		Locks struct {
			Nodes map[string]struct {
				Locked map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &meta); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	locked := meta.Locks.Nodes["nixpkgs"].Locked
	if locked["type"] != "github" || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(locked["rev"].(string)) ||
		!strings.HasPrefix(locked["narHash"].(string), "sha256-") {
		t.Errorf("nixpkgs is not pinned by rev and narHash: %v", locked)
	}

	// "#.": the output itself, not packages.<system>.<name>.
	outputs := []string{"nixosModules", "homeModules", "homeManagerModules", "darwinModules"}
	out = string(run(t, "nix eval", kitCmd(t, `for o; do nix eval --json "../..#.$o" --apply builtins.attrNames || exit; done`, outputs...)))
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var names []string
		if err := json.Unmarshal([]byte(line), &names); err != nil || !slices.Equal(names, []string{"default"}) {
			t.Errorf("%s has %s (%v), want default", outputs[i], line, err)
		}
	}

	// A source without a commit (path:, a tarball) is stamped with its
	// date. The overlay hands the version to callPackage.
	src := t.TempDir()
	run(t, "copy the tracked files", kitCmd(t, `cd ../.. && git ls-files -z | xargs -0 cp --parents -t "$1"`, src))
	out = string(run(t, "nix eval version", kitCmd(t, `exec nix eval --raw "path:$1#.overlays.default" `+
		`--apply 'o: (o { callPackage = _: args: args; } { }).nix-auth.version'`, src)))
	if !regexp.MustCompile(`^0\.1\.0\+[0-9]{14}$`).MatchString(out) {
		t.Errorf("version without a commit: %q", out)
	}
}
