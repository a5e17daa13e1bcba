package safefile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// staleTempAge is the age after which a temporary file whose pid is running
// is removed all the same: a writer keeps its temporary files for
// milliseconds, so this one's pid has been reused.
const staleTempAge = 10 * time.Minute

// tempName is a new temporary file name for base: .base.tmp-PID-RANDOM. The
// pid lets anyone tell that its writer is gone; the random part makes the
// name unguessable (O_EXCL refuses one planted anyway).
func tempName(base string) string {
	var rnd [8]byte
	rand.Read(rnd[:])
	return "." + base + ".tmp-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:])
}

// parseTemp reports whether name is a temporary file of base (exact) or of
// a file named base.SUFFIX, such as a backup, and its writer's pid.
func parseTemp(name, base string) (pid int, exact, ok bool) {
	if !strings.HasPrefix(name, "."+base+".") {
		return 0, false, false
	}
	i := strings.LastIndex(name, ".tmp-")
	if i < len(base)+1 {
		return 0, false, false
	}
	digits, rnd, found := strings.Cut(name[i+len(".tmp-"):], "-")
	if !found || len(rnd) != 16 || strings.Trim(rnd, "0123456789abcdef") != "" ||
		digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false, false
	}
	return pid, i == len(base)+1, true
}

// removeTemps removes the temporary files in d of base and of files
// base.SUFFIX that no live writer owns: those whose pid is not running or
// that are older than staleTempAge, and, when locked (the caller holds
// base's lock, which every writer of base holds while its temporary files
// exist), every one of base itself. This process's own are left alone.
// Errors are ignored: cleaning up never makes a write fail.
func removeTemps(d *dir, base string, locked bool) {
	names, err := d.names()
	if err != nil {
		return
	}
	for _, name := range names {
		pid, exact, ok := parseTemp(name, base)
		if !ok || pid == os.Getpid() {
			continue
		}
		st, err := d.lstat(name)
		if err != nil || st == nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		age := time.Since(time.Unix(st.Mtim.Unix()))
		if locked && exact || !running(pid) || age >= staleTempAge {
			unix.Unlinkat(d.fd, name, 0)
		}
	}
}

// hasTemps reports whether d holds a temporary file of base or base.SUFFIX.
func hasTemps(d *dir, base string) bool {
	names, _ := d.names()
	for _, name := range names {
		if _, _, ok := parseTemp(name, base); ok {
			return true
		}
	}
	return false
}

// running reports whether process pid exists (EPERM: it does, as another
// user's).
func running(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
