package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFullDisk writes to a real file system that is full: a small tmpfs,
// which needs root to mount. CI runs as root and must run it; elsewhere it
// is skipped when the mount is refused.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs for a full disk: %v", err)
		}
		t.Skipf("cannot mount a tmpfs (%v): the full-disk test needs root", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	conf, tokens, backup := filepath.Join(dir, "nix.conf"), filepath.Join(dir, "tokens"), filepath.Join(dir, "backup")
	write(t, conf, "access-tokens = a=1\n", 0o644)
	write(t, tokens, "old tokens\n", 0o600)
	// Fill it: every data block is taken.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err = filler.Write(block); err != nil {
			break
		}
	}
	filler.Close()
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v", err)
	}
	files := []File{
		{Path: backup, Data: []byte("access-tokens = a=1\n"), Mode: 0o600, New: true},
		{Path: tokens, Data: []byte("new tokens\n"), Mode: 0o600},
		{Path: conf, Data: []byte("!include tokens\n"), Mode: 0o644},
	}
	before := tree(t, dir)
	unlock, err := Lock(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Write(files...)
	unlock()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, unix.ENOSPC) || len(e.Hints()) == 0 {
		t.Fatalf("err = %v, want ENOSPC with a hint", err)
	}
	if after := tree(t, dir); after != before {
		t.Fatalf("a write on a full disk changed files:\n%s\nwant\n%s", after, before)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := Write(files...); err != nil {
		t.Fatal(err)
	}
	if read(t, conf) != "!include tokens\n" || read(t, tokens) != "new tokens\n" || read(t, backup) == "" {
		t.Error("the write after freeing space did not land")
	}
}
