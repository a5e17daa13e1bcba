package crypt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockPath takes an exclusive flock on path+".lock" and returns the
// function that releases it. The lock dies with its process, so a crash
// leaves nothing that blocks the next run. The lock file is removed on
// release, while still held, so that no stray file shows up in the
// user's git repository; whoever waited on the removed file notices that
// it is no longer the one at that path and locks again.
func lockPath(path string) (unlock func(), err error) {
	lp := path + ".lock"
	for {
		f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(lp)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return func() {
				os.Remove(lp)
				f.Close()
			}, nil
		}
		f.Close()
	}
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, written, given its final mode, synced, then renamed over
// path, and the directory synced, so a crash leaves the old file or the
// new one, never a mix. An existing file keeps its mode (and owner, when
// running as root); a new one is 0600 whatever the umask. A symlink is
// followed so that the link itself stays.
func writeAtomic(path string, data []byte) error {
	target := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		target = real
	}
	mode, uid, gid := fs.FileMode(0o600), -1, -1
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if os.Geteuid() == 0 {
				uid = int(st.Uid)
			}
			if int(st.Gid) != os.Getegid() {
				gid = int(st.Gid)
			}
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fail(err)
	}
	if uid >= 0 || gid >= 0 {
		// Keeping a shared group works for its members too; root keeps the
		// owner. Anyone else cannot, and the file becomes theirs, as with
		// any editor.
		if err := tmp.Chown(uid, gid); err != nil && uid >= 0 {
			return fail(err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(target)); err == nil {
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("writing %s: syncing its directory: %w", path, err)
		}
	}
	return nil
}
