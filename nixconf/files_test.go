package nixconf

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

// TestSetAllOrNothing: a migration writes a backup, the tokens file and
// nix.conf; whichever of them fails (a full disk, a rename), nothing
// changes, and no backup is reported.
func TestSetAllOrNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		file string // which file fails, below the store's directory
		step safefile.Step
	}{
		{"backup full", "nix.conf.before-nix-auth", safefile.StepWrite},
		{"tokens full", TokensFileName, safefile.StepWrite},
		{"nix.conf full", "nix.conf", safefile.StepWrite},
		{"nix.conf rename", "nix.conf", safefile.StepRename},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t, map[string]string{"nix.conf": "keep-outputs = true\naccess-tokens = a.com=1 b.com=2\n"})
			dir := filepath.Dir(s.Paths.NixConf)
			before := snapshot(t, dir)
			// nix.conf's prefix would match its backup too: anchor it.
			p := filepath.Join(dir, c.file)
			if c.file == "nix.conf" {
				defer safefile.InjectFault(p, c.step, 1, unix.ENOSPC)() // the backup's step passes
			} else {
				defer safefile.InjectFault(p, c.step, 0, unix.ENOSPC)()
			}
			ch, err := s.Set("c.com", "3")
			if !errors.Is(err, unix.ENOSPC) || ch != nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("Set = %+v, %v", ch, err)
			}
			if after := snapshot(t, dir); !maps.Equal(before, after) {
				t.Errorf("files changed:\n%v\n%v", before, after)
			}
		})
	}
}

// TestSymlinksRefused: a symlink at the tokens file or at a lock file is
// refused before anything is written, and the file it points to stays as
// it was.
func TestSymlinksRefused(t *testing.T) {
	for _, at := range []string{TokensFileName, TokensFileName + ".lock", "nix.conf.lock"} {
		t.Run(at, func(t *testing.T) {
			s := newStore(t, map[string]string{"nix.conf": "keep-outputs = true\n"})
			victimDir := t.TempDir()
			victim := writeTree(t, victimDir, map[string]string{"victim": "precious\n"})
			link := filepath.Join(filepath.Dir(s.Paths.NixConf), at)
			if err := os.Symlink(filepath.Join(victim, "victim"), link); err != nil {
				t.Fatal(err)
			}
			before, vbefore := snapshot(t, filepath.Dir(link)), snapshot(t, victimDir)
			err := s.CheckWritable()
			if err == nil {
				_, err = s.Set("a.com", "1")
			}
			if !errors.Is(err, safefile.ErrSymlink) || !strings.Contains(err.Error(), link) {
				t.Fatalf("err = %v", err)
			}
			if _, err := s.Set("a.com", "1"); !errors.Is(err, safefile.ErrSymlink) {
				t.Errorf("Set = %v", err)
			}
			if !maps.Equal(before, snapshot(t, filepath.Dir(link))) || !maps.Equal(vbefore, snapshot(t, victimDir)) {
				t.Error("files changed")
			}
		})
	}
}

// TestNixConfLinkToAnotherUsersFile: a nix.conf linked to a file another
// user owns is not edited through the link.
func TestNixConfLinkToAnotherUsersFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file of another user")
	}
	s := newStore(t, nil)
	dotfiles := writeTree(t, t.TempDir(), map[string]string{"nix.conf": "keep-outputs = true\n"})
	if err := os.Chown(filepath.Join(dotfiles, "nix.conf"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dotfiles, "nix.conf"), s.Paths.NixConf); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dotfiles)
	if err := s.CheckWritable(); !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("CheckWritable = %v", err)
	}
	if !maps.Equal(before, snapshot(t, dotfiles)) {
		t.Error("the linked nix.conf changed")
	}
}
