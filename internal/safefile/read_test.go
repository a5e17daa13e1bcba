package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("token\n"), 0o400)
	link := filepath.Join(dir, "link")
	os.Symlink(small, link)
	for _, p := range []string{small, link} {
		if b, err := ReadLimited(p, 10); err != nil || string(b) != "token\n" {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if _, err := ReadLimited(small, 3); !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), small) {
		t.Errorf("too large: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Returns at once: the FIFO is opened without blocking and refused.
	if _, err := ReadLimited(fifo, 10); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a FIFO") {
		t.Errorf("fifo: %v", err)
	}
	if _, err := ReadLimited(dir, 10); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadLimited("/dev/null", 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("device: %v", err)
	}
	if _, err := ReadLimited(filepath.Join(dir, "none"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}
