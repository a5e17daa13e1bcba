package nixconf

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestWriteFileRemovesStaleTemps: a write removes the temporary files
// that killed writers of the same file or its backups left long ago, and
// nothing else: not a recent one (a live writer may own it), not a name
// createTemp would not make, not another file's.
func TestWriteFileRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-staleTempAge - time.Minute)
	files := map[string]bool{ // name -> removed
		".nix.conf.tmp-0123456789abcdef":                    true,
		".nix.conf.before-nix-auth.tmp-0123456789abcdef":    true,
		".nix.conf.before-nix-auth.2.tmp-00000000ffffffff":  true,
		".nix.conf.tmp-0123456789ABCDEF":                    false,
		".nix.conf.tmp-0123456789abcde":                     false,
		".nix.conf.tmp-mine":                                false,
		".nix.confx.tmp-0123456789abcdef":                   false,
		".other.conf.tmp-0123456789abcdef":                  false,
		"nix.conf.tmp-0123456789abcdef":                     false,
		".nix.conf.tmp-0123456789abcdef.keep":               false,
		".nix.conf.before-nix-auth.tmp-0123456789abcdef.gz": false,
	}
	for name := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	// A recent one may belong to a writer still at work.
	files[".nix.conf.tmp-fedcba9876543210"] = false
	if err := os.WriteFile(filepath.Join(dir, ".nix.conf.tmp-fedcba9876543210"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory under a temporary name is not ours to remove.
	files[".nix.conf.tmp-aaaaaaaaaaaaaaaa"] = false
	if err := os.Mkdir(filepath.Join(dir, ".nix.conf.tmp-aaaaaaaaaaaaaaaa"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, ".nix.conf.tmp-aaaaaaaaaaaaaaaa"), old, old); err != nil {
		t.Fatal(err)
	}

	if err := WriteFile(filepath.Join(dir, "nix.conf"), []byte("a = b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		left = append(left, e.Name())
	}
	for name, removed := range files {
		if slices.Contains(left, name) == removed {
			t.Errorf("%s: removed = %v, want %v", name, !removed, removed)
		}
	}
	if !slices.Contains(left, "nix.conf") || len(left) != len(files)-3+1 {
		t.Errorf("left %q", left)
	}
}
