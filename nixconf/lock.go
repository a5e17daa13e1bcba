package nixconf

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"time"
)

// lockTimeout is how long to wait for another nix-auth holding the lock.
// Holders only read, edit and write small files, so a long wait means a
// stuck process that the user should look at.
const lockTimeout = 60 * time.Second

// Lock takes an exclusive lock for a read-modify-write of path, on the file
// path+".lock" beside it, and returns the function that releases it. The
// lock is an flock(2): the kernel drops it when its holder dies, so a lock
// file left by a killed process never blocks the next run. warn, when not
// nil, is told when the lock is taken over from a process that died
// holding it.
func Lock(path string, warn func(string)) (unlock func(), err error) {
	return lock(path, warn)
}

// lock is Lock that tells warn when it took over from a process that died
// while holding the lock.
func lock(path string, warn func(string)) (func(), error) {
	lp := path + ".lock"
	deadline := time.Now().Add(lockTimeout)
	delay := time.Millisecond
	for {
		f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("cannot create the lock file %s: %w", lp, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if !stillAt(f, lp) {
				// The holder before us removed the file as it let go: the
				// lock that counts is on the file now at lp.
				f.Close()
				continue
			}
			return takeLock(f, lp, warn), nil
		}
		holder := readPID(f)
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return nil, fmt.Errorf("cannot lock %s: %w", lp, err)
		}
		if time.Now().After(deadline) {
			who := "another process"
			if holder > 0 {
				who = fmt.Sprintf("process %d", holder)
			}
			return nil, &hintError{
				msg:   fmt.Sprintf("%s has held the lock %s for over %s", who, lp, lockTimeout),
				hints: []string{"wait for the other nix-auth to finish, or stop it, then run this again"},
			}
		}
		time.Sleep(delay/2 + rand.N(delay))
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// ReclaimLock takes over and removes the lock file of path if one is
// there, telling warn when a process died holding it. A writer that finds
// nothing to write calls it, so that the lock file of a run killed after
// its rename does not linger; without a lock file it creates none.
func ReclaimLock(path string, warn func(string)) {
	if _, err := os.Lstat(path + ".lock"); err != nil {
		return
	}
	if unlock, err := lock(path, warn); err == nil {
		unlock()
	}
}

// stillAt reports whether the open lock file is still the one at path.
func stillAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// takeLock records our pid in the lock file, for messages, and returns the
// unlock function. A pid already there means its process died holding the
// lock: every holder removes the file before it lets go.
func takeLock(f *os.File, path string, warn func(string)) func() {
	if pid := readPID(f); pid > 0 && warn != nil {
		warn(fmt.Sprintf("took over the lock %s left by process %d, which is no longer running", path, pid))
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		// Remove before unlocking: a waiter that then gets the old file
		// sees that it is no longer at path and tries again.
		os.Remove(path)
		f.Close()
	}
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}
