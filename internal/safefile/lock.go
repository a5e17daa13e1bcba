package safefile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBusy: another process has held the lock for longer than Lock waits.
var ErrBusy = errors.New("lock held too long")

// lockTimeout is how long to wait for another nix-auth holding the lock.
// Holders only read, edit and write small files, so a long wait means a
// stuck process that the user should look at.
const lockTimeout = 60 * time.Second

// Lock takes the exclusive lock for a read-modify-write of path, on
// path.lock beside it, and returns the function that releases it and
// removes the lock file. Missing directories of path are made (mode 0755);
// the release removes them again if they are still empty, so a run that
// wrote nothing leaves nothing. warn, when not nil, is told when the lock
// is taken over from a process that died holding it; that process's
// temporary files are removed at once. path and its lock file must pass
// the trust rule (see the package documentation).
func Lock(path string, warn func(string)) (unlock func(), err error) {
	if path, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	d, made, _, err := openDir(path, filepath.Dir(path), create)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path) + ".lock"
	deadline := time.Now().Add(lockTimeout)
	delay := time.Millisecond
	fail := func(err error) (func(), error) {
		d.close()
		removeDirs(made)
		return nil, err
	}
	for {
		fd, err := openLock(path, d, name)
		if errors.Is(err, unix.ENOENT) && time.Now().Before(deadline) {
			// A run that had made the directory removed it as it let go:
			// make it again.
			d.close()
			var more []string
			if d, more, _, err = openDir(path, filepath.Dir(path), create); err != nil {
				removeDirs(made)
				return nil, err
			}
			made = append(made, more...)
			continue
		}
		if err != nil {
			return fail(err)
		}
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			if !stillAt(d, name, fd) {
				// The holder before us removed the file as it let go: the
				// lock that counts is on the file now at its name.
				unix.Close(fd)
				continue
			}
			return take(path, d, name, fd, made, warn), nil
		}
		holder := readPID(fd)
		unix.Close(fd)
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fail(ioFailed(path, err, ""))
		}
		if time.Now().After(deadline) {
			who := "another process"
			if holder > 0 {
				who = fmt.Sprintf("process %d", holder)
			}
			return fail(&Error{Path: path, Err: ErrBusy,
				msg:   fmt.Sprintf("%s has held the lock %s for over %s; nothing was changed", who, d.join(name), lockTimeout),
				hints: []string{"wait for the other nix-auth to finish, or stop it, then run this again"}})
		}
		time.Sleep(delay/2 + rand.N(delay))
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// openLock opens (creating) the lock file name in d without following a
// link, and checks it before anything is written to it.
func openLock(path string, d *dir, name string) (int, error) {
	lock := d.join(name)
	// A FIFO or device is refused before open could block or act on it.
	if st, err := d.lstat(name); err != nil {
		return -1, ioFailed(path, err, "")
	} else if st != nil {
		if err := lockProblem(path, lock, st); err != nil {
			return -1, err
		}
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	switch {
	case errors.Is(err, unix.ELOOP):
		return -1, lockIsLink(path, lock)
	case errors.Is(err, unix.ENOENT):
		return -1, err
	case err != nil:
		return -1, ioFailed(path, err, "")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, ioFailed(path, err, "")
	}
	if err := lockProblem(path, lock, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	// The umask applied at creation; other runs of ours must open it too.
	if st.Mode&0o600 != 0o600 {
		unix.Fchmod(fd, 0o600)
	}
	return fd, nil
}

// stillAt reports whether the open lock file fd is still the one at name.
func stillAt(d *dir, name string, fd int) bool {
	var a unix.Stat_t
	if unix.Fstat(fd, &a) != nil {
		return false
	}
	b, err := d.lstat(name)
	return err == nil && b != nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// take records our pid in the lock file, for messages, and returns the
// unlock function. A pid already there means its process died holding the
// lock: every holder removes the file before it lets go.
func take(path string, d *dir, name string, fd int, made []string, warn func(string)) func() {
	if pid := readPID(fd); pid > 0 && warn != nil {
		warn(fmt.Sprintf("took over the lock %s left by process %d, which is no longer running", d.join(name), pid))
	}
	removeTemps(d, filepath.Base(path), true)
	unix.Ftruncate(fd, 0)
	unix.Pwrite(fd, []byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		// Remove before unlocking: a waiter that then gets the old file
		// sees that it is no longer at its name and tries again.
		unix.Unlinkat(d.fd, name, 0)
		unix.Close(fd)
		d.close()
		removeDirs(made)
	}
}

func readPID(fd int) int {
	buf := make([]byte, 32)
	n, _ := unix.Pread(fd, buf, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:max(n, 0)])))
	if err != nil {
		return 0
	}
	return pid
}

// ReclaimLock takes over and removes the lock file of path, and the
// temporary files of dead writers, if there are any. A writer that finds
// nothing to write calls it, so that what a run killed after its rename
// left does not linger; when there is nothing it creates nothing.
func ReclaimLock(path string, warn func(string)) {
	path, err := filepath.Abs(path)
	if err != nil {
		return
	}
	d, _, missing, err := openDir(path, filepath.Dir(path), probe)
	if err != nil {
		return
	}
	if missing {
		d.close()
		return
	}
	st, _ := d.lstat(filepath.Base(path) + ".lock")
	found := st != nil || hasTemps(d, filepath.Base(path))
	d.close()
	if !found {
		return
	}
	if unlock, err := Lock(path, warn); err == nil {
		unlock()
	}
}
