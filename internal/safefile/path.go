package safefile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// maxLinks bounds the symlinks followed on one path, as Linux's ELOOP does.
const maxLinks = 40

// dir is an open directory that passed the trust rule. Every later step is
// relative to fd, so a path swapped after the check cannot redirect it.
type dir struct {
	fd   int
	path string // its real path, for messages and relative links
	// shared: others may create files in it (a sticky directory such as
	// /tmp); the files replaced in it must then be ours.
	shared bool
}

func (d *dir) close() { unix.Close(d.fd) }

func (d *dir) join(name string) string { return filepath.Join(d.path, name) }

// lstat stats name in d without following a link; nil when it is not there.
func (d *dir) lstat(name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// names lists d's entries (through a descriptor of its own: reading moves
// the offset, which d.fd shares with nothing).
func (d *dir) names() ([]string, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// walk says what openDir does with a directory that is not there.
type walk int

const (
	mustExist walk = iota // fail with ENOENT
	create                // make it, mode 0755 whatever the umask
	probe                 // stop: the rest would be made under the last one found
)

// openDir opens the directory at the absolute path dirPath, checking it and
// every directory and link on the way by the trust rule; file is what is to
// be written there, for messages. made lists the directories it created,
// parents first; missing says that probe stopped at a missing directory.
func openDir(file, dirPath string, how walk) (d *dir, made []string, missing bool, err error) {
	d, err = openRoot(file)
	if err != nil {
		return nil, nil, false, err
	}
	defer func() {
		if err != nil {
			d.close()
			removeDirs(made)
			d, made = nil, nil
		}
	}()
	rest := strings.Split(dirPath, "/")
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			// d.path has no links in it, so its parent is the lexical one.
			next, err := d.open(file, "..", filepath.Dir(d.path))
			if err != nil {
				return d, made, false, err
			}
			d.close()
			d = next
			continue
		}
		st, err := d.lstat(name)
		if err != nil {
			return d, made, false, ioFailed(file, err, "")
		}
		if st == nil {
			switch how {
			case probe:
				return d, made, true, nil
			case mustExist:
				return d, made, false, ioFailed(file, fmt.Errorf("%s: %w", d.join(name), unix.ENOENT), "")
			}
			if err := unix.Mkdirat(d.fd, name, 0o755); err == nil {
				made = append(made, d.join(name))
			} else if !errors.Is(err, unix.EEXIST) {
				return d, made, false, ioFailed(file, err, "")
			}
			if st, err = d.lstat(name); err != nil || st == nil {
				return d, made, false, ioFailed(file, fmt.Errorf("%s: %w", d.join(name), unix.ENOENT), "")
			}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if links++; links > maxLinks {
				return d, made, false, ioFailed(file, unix.ELOOP, "")
			}
			if !trustedOwner(st.Uid) {
				return d, made, false, linkUntrusted(file, d.join(name), st.Uid)
			}
			target, err := readLink(d, name)
			if err != nil {
				return d, made, false, ioFailed(file, err, "")
			}
			rest = append(strings.Split(target, "/"), rest...)
			if filepath.IsAbs(target) {
				root, err := openRoot(file)
				if err != nil {
					return d, made, false, err
				}
				d.close()
				d = root
			}
		case unix.S_IFDIR:
			next, err := d.open(file, name, d.join(name))
			if err != nil {
				return d, made, false, err
			}
			d.close()
			d = next
			if len(made) > 0 && made[len(made)-1] == d.path {
				// The umask may have narrowed the mode asked of mkdir.
				if err := unix.Fchmod(d.fd, 0o755); err != nil {
					return d, made, false, ioFailed(file, err, "")
				}
			}
		default:
			return d, made, false, refused(file, unix.ENOTDIR, d.join(name)+" is not a directory")
		}
	}
	return d, made, false, nil
}

func openRoot(file string) (*dir, error) {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, ioFailed(file, err, "")
	}
	d := &dir{fd: fd, path: "/"}
	if err := d.check(file); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// open opens the subdirectory name of d, whose real path is path, and
// checks it.
func (d *dir) open(file, name, path string) (*dir, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, ioFailed(file, fmt.Errorf("%s: %w", path, err), "")
	}
	next := &dir{fd: fd, path: path}
	if err := next.check(file); err != nil {
		next.close()
		return nil, err
	}
	return next, nil
}

// check applies the trust rule to d itself.
func (d *dir) check(file string) error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return ioFailed(file, err, "")
	}
	if !trustedOwner(st.Uid) {
		return dirRefused(file, d.path, who(st.Uid), "")
	}
	perm := st.Mode & 0o7777
	var by string
	switch {
	case perm&0o002 != 0:
		by = "other users"
	case perm&0o020 != 0 && !privateGroup(st.Gid, st.Uid):
		by = "its group (gid " + strconv.FormatUint(uint64(st.Gid), 10) + ")"
	default:
		return nil
	}
	if perm&unix.S_ISVTX != 0 {
		d.shared = true
		return nil
	}
	return dirRefused(file, d.path, "", fmt.Sprintf("%s (mode %04o, not sticky)", by, perm))
}

func readLink(d *dir, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(d.fd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// removeDirs removes the directories a walk made, deepest first, where they
// are still empty: a write that failed leaves none behind.
func removeDirs(made []string) {
	for i := len(made) - 1; i >= 0; i-- {
		unix.Rmdir(made[i])
	}
}

// trustedOwner: root, the effective user, or an owner from outside the
// user namespace, whom nobody in it can act as.
func trustedOwner(uid uint32) bool {
	return uid == 0 || int(uid) == os.Geteuid() || int64(uid) == unmappedUID()
}

// unmappedUID is the overflow uid when it stands for ids not mapped into
// this user namespace (the Nix sandbox shows the host's root so), or -1
// when it is a real user here (the initial namespace maps every id).
var unmappedUID = sync.OnceValue(func() int64 {
	b, err := os.ReadFile("/proc/sys/kernel/overflowuid")
	if err != nil {
		return -1
	}
	ov, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return -1
	}
	m, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(m), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		inside, err1 := strconv.ParseUint(f[0], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 33)
		if err1 != nil || err2 != nil || ov >= inside && ov-inside < count {
			return -1
		}
	}
	return int64(ov)
})

// privateGroup reports whether gid is the private group of owner: the
// owner is its one member, as primary group or listed (Debian's
// usergroups, which a umask of 002 makes group-writable; Debian's ssh
// accepts them the same way). Groups that only NSS knows count as shared.
func privateGroup(gid, owner uint32) bool {
	ownerName, members := "", 0
	err := eachEntry("/etc/passwd", func(f []string) bool {
		if len(f) < 4 || f[3] != strconv.FormatUint(uint64(gid), 10) {
			if len(f) >= 3 && f[2] == strconv.FormatUint(uint64(owner), 10) && ownerName == "" {
				ownerName = f[0]
			}
			return true
		}
		if f[2] != strconv.FormatUint(uint64(owner), 10) {
			return false // another user's primary group too
		}
		ownerName = f[0]
		members++
		return true
	})
	if err != nil || ownerName == "" {
		return false
	}
	found := false
	err = eachEntry("/etc/group", func(f []string) bool {
		if len(f) < 4 || f[2] != strconv.FormatUint(uint64(gid), 10) {
			return true
		}
		found = true
		for _, m := range strings.Split(f[3], ",") {
			if m == "" {
				continue
			}
			if m != ownerName {
				return false
			}
			members++
		}
		return true
	})
	return err == nil && found && members > 0
}

// errStop ends eachEntry early: what it saw decides against.
var errStop = errors.New("stop")

// eachEntry calls f with the colon-separated fields of every line of the
// file until f returns false, which makes eachEntry fail.
func eachEntry(path string, f func([]string) bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if !f(strings.Split(line, ":")) {
			return errStop
		}
	}
	return sc.Err()
}

// target is where a file is written: its directory, its name there, and
// what is there now (nil: nothing).
type target struct {
	dir  *dir
	name string
	st   *unix.Stat_t
}

// resolve finds where the file at the absolute path is written. A symlink
// at path is refused, unless follow lets resolve follow a trusted one to
// the file it points to. With probe, a missing directory gives a target
// with dir nil: the file would be created.
func resolve(path string, follow bool, how walk) (*target, error) {
	p := path
	for links := 0; ; links++ {
		d, _, missing, err := openDir(path, filepath.Dir(p), how)
		if err != nil {
			return nil, err
		}
		if missing {
			d.close()
			return &target{}, nil
		}
		t := &target{dir: d, name: filepath.Base(p)}
		if t.st, err = d.lstat(t.name); err != nil {
			d.close()
			return nil, ioFailed(path, err, "")
		}
		if err := t.check(path, follow, links > 0); err != nil {
			d.close()
			return nil, err
		}
		if t.st == nil || t.st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return t, nil
		}
		// A link that FollowLink allows: on to the file it points to.
		dest, err := readLink(d, t.name)
		d.close()
		if err != nil {
			return nil, ioFailed(path, err, "")
		}
		if links >= maxLinks {
			return nil, ioFailed(path, unix.ELOOP, "")
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(d.path, dest)
		}
		p = dest
	}
}

// check applies the trust rule to what is at t: path is the file asked
// for, followed says t was reached through a link.
func (t *target) check(path string, follow, followed bool) error {
	st := t.st
	switch {
	case st == nil:
		return nil
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		if !follow {
			return fileIsLink(path)
		}
		if !trustedOwner(st.Uid) {
			return linkUntrusted(path, t.dir.join(t.name), st.Uid)
		}
		return nil
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return refused(path, ErrNotRegular, t.dir.join(t.name)+" is not a regular file")
	case followed && !trustedOwner(st.Uid):
		return refused(path, ErrNotRegular, fmt.Sprintf("the file its link points to, %s, belongs to %s", t.dir.join(t.name), who(st.Uid)),
			"point the link at a file of your own")
	case t.dir.shared && int(st.Uid) != os.Geteuid():
		return refused(path, ErrNotRegular, fmt.Sprintf("%s belongs to %s, in %s, which others can write", t.dir.join(t.name), who(st.Uid), t.dir.path),
			"if you did not make it, someone else did: remove it and write below a directory that only you or root can change")
	}
	return nil
}

// lockProblem says what is wrong with the existing lock file at lock, if
// anything: it is opened read-write and truncated, so it must be a plain
// file of ours with no other name.
func lockProblem(path, lock string, st *unix.Stat_t) error {
	var what string
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return lockIsLink(path, lock)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		what = "is not a regular file"
	case st.Nlink > 1: // 0: its holder removed it as it let go; Lock tries again
		what = fmt.Sprintf("has %d names (hard links)", st.Nlink)
	case int(st.Uid) != os.Geteuid():
		what = "belongs to " + who(st.Uid)
	default:
		return nil
	}
	return refused(path, ErrNotRegular, "its lock file "+lock+" "+what,
		"if no nix-auth is running, remove it (rm "+strconv.Quote(lock)+") and check who made it")
}

// Check tells, changing nothing, whether Lock and Write would refuse path
// by the trust rule: its directories, the file and its lock file. A
// directory that does not exist yet is fine when its nearest existing
// parent is. follow is File.FollowLink. It lets a command refuse before it
// asks for a token.
func Check(path string, follow bool) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	d, _, missing, err := openDir(path, filepath.Dir(path), probe)
	if err != nil {
		return err
	}
	if !missing {
		lock := filepath.Base(path) + ".lock"
		st, err := d.lstat(lock)
		if err == nil && st != nil {
			err = lockProblem(path, d.join(lock), st)
		} else if err != nil {
			err = ioFailed(path, err, "")
		}
		if err != nil {
			d.close()
			return err
		}
	}
	d.close()
	t, err := resolve(path, follow, probe)
	if err != nil {
		return err
	}
	if t.dir != nil {
		t.dir.close()
	}
	return nil
}
