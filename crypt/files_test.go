package crypt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"filippo.io/age"
	"golang.org/x/sys/unix"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

// TestSaveChangesNothingOnFailure: a Save or Rekey that cannot write (a
// full disk, a symlink planted at the store or its lock) leaves the
// directory as it was, the file a link points to included.
func TestSaveChangesNothingOnFailure(t *testing.T) {
	id, other := stKey(t), stKey(t)
	for _, name := range []string{"t.yaml", "t.age"} {
		for _, how := range []string{"full", "link", "lock link"} {
			dir := t.TempDir()
			p := filepath.Join(dir, name)
			stCreate(t, p, stEntries()[:1], id)
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			f := stLoad(t, p, id)
			// An .age write needs its recipients declared.
			if err := f.Declare([]Recipient{{Age: id.Recipient().String()}}); err != nil {
				t.Fatal(err)
			}
			if err := f.Put(stEntries()[1]); err != nil {
				t.Fatal(err)
			}
			want := safefile.ErrSymlink
			switch how {
			case "full":
				defer safefile.InjectFault(p, safefile.StepWrite, 0, unix.ENOSPC)()
				want = unix.ENOSPC
			case "link":
				data, _ := os.ReadFile(p)
				os.WriteFile(victim, data, 0o600) // a link to a store of the same content
				os.Remove(p)
				os.Symlink(victim, p)
			case "lock link":
				os.Symlink(victim, p+".lock")
			}
			before := stDirState(t, dir)
			vbefore, _ := os.ReadFile(victim)
			if err := f.Save(); !errors.Is(err, want) {
				t.Errorf("%s %s: Save = %v, want %v", name, how, err, want)
			}
			if _, err := Rekey(p, []age.Identity{id}, []Recipient{{Age: id.Recipient().String()}, {Age: other.Recipient().String()}}, RekeyOptions{Now: stNow}); !errors.Is(err, want) {
				t.Errorf("%s %s: Rekey = %v, want %v", name, how, err, want)
			}
			after := stDirState(t, dir)
			if !slices.Equal(slices.Sorted(mapKeys(before)), slices.Sorted(mapKeys(after))) {
				t.Errorf("%s %s: files %v, want %v", name, how, slices.Sorted(mapKeys(after)), slices.Sorted(mapKeys(before)))
			}
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s %s: %s changed", name, how, k)
				}
			}
			if v, _ := os.ReadFile(victim); !bytes.Equal(v, vbefore) {
				t.Errorf("%s %s: the link's target changed", name, how)
			}
		}
	}
}
