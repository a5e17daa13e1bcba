package safefile

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nobody is a uid and gid that is neither root nor the test's user.
const nobody = 65534

// tree records every entry below dir (mode, owner, and content hash or
// link target), so a test can tell that nothing changed.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d", strings.TrimPrefix(p, dir), fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x %d", sha256.Sum256(b), fi.ModTime().UnixNano())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func write(t *testing.T, p, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make files of another user")
	}
}

// ls is the names in dir.
func ls(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteModeAndOwner(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, mode := range []fs.FileMode{0o600, 0o640, 0o644} {
		p := filepath.Join(dir, "f"+strconv.FormatUint(uint64(mode), 8))
		if err := WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode() != mode {
			t.Errorf("mode %v, want %v (%v)", fi.Mode(), mode, err)
		}
	}
	if os.Geteuid() == 0 {
		p := filepath.Join(dir, "owned")
		if err := Write(File{Path: p, Data: []byte("x"), Mode: 0o640, Owner: &Owner{UID: nobody, GID: nobody}}); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody || fi.Mode() != 0o640 {
			t.Errorf("owner %d:%d mode %v", st.Uid, st.Gid, fi.Mode())
		}
		// KeepOwner keeps what is there.
		if err := Write(File{Path: p, Data: []byte("y"), Mode: 0o600, KeepOwner: true}); err != nil {
			t.Fatal(err)
		}
		fi, _ = os.Stat(p)
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody || fi.Mode() != 0o640 {
			t.Errorf("KeepOwner: owner %d:%d mode %v", st.Uid, st.Gid, fi.Mode())
		}
	}
	if names := ls(t, dir); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, ".tmp-") }) {
		t.Errorf("temporary files left: %q", names)
	}
}

func TestWriteNewRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "backup")
	write(t, p, "old", 0o600)
	before := tree(t, dir)
	err := Write(File{Path: p, Data: []byte("new"), Mode: 0o600, New: true})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v", err)
	}
	if tree(t, dir) != before {
		t.Error("files changed")
	}
}

// TestWriteAllOrNothing fails every step of a three-file write (a new
// backup, a file that exists, one that does not) in turn: each failure
// leaves the directory exactly as it was, and names the file.
func TestWriteAllOrNothing(t *testing.T) {
	for _, step := range []Step{StepCreate, StepWrite, StepSync, StepLink, StepRename} {
		for i := range 3 {
			t.Run(fmt.Sprintf("%s-%d", step, i), func(t *testing.T) {
				dir := t.TempDir()
				files := []File{
					{Path: filepath.Join(dir, "backup"), Data: []byte("backup"), Mode: 0o600, New: true},
					{Path: filepath.Join(dir, "tokens"), Data: []byte("new tokens"), Mode: 0o600},
					{Path: filepath.Join(dir, "nix.conf"), Data: []byte("new conf"), Mode: 0o644},
				}
				write(t, files[1].Path, "old tokens", 0o600)
				write(t, files[2].Path, "old conf", 0o644)
				before := tree(t, dir)
				remove := InjectFault(files[i].Path, step, 0, unix.ENOSPC)
				err := Write(files...)
				remove()
				links := step == StepLink && (i != 1) // only an existing file before the last is linked
				if links {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, unix.ENOSPC) || e.Path != files[i].Path {
					t.Fatalf("err = %v, want ENOSPC for %s", err, files[i].Path)
				}
				if !strings.Contains(err.Error(), "no space left on device; nothing was changed") || len(e.Hints()) == 0 {
					t.Errorf("message %q, hints %q", err, e.Hints())
				}
				if after := tree(t, dir); after != before {
					t.Errorf("files changed:\n%s\nwant\n%s", after, before)
				}
			})
		}
	}
}

// TestWriteRollbackKeepsInode: after a failed rename, a file renamed
// earlier is its old version again, the very same file.
func TestWriteRollbackKeepsInode(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "old a", 0o600)
	write(t, b, "old b", 0o600)
	var st1 syscall.Stat_t
	syscall.Stat(a, &st1)
	defer InjectFault(b, StepRename, 0, unix.EIO)()
	if err := Write(File{Path: a, Data: []byte("new a"), Mode: 0o600}, File{Path: b, Data: []byte("new b"), Mode: 0o600}); !errors.Is(err, unix.EIO) {
		t.Fatalf("err = %v", err)
	}
	var st2 syscall.Stat_t
	syscall.Stat(a, &st2)
	if st1.Ino != st2.Ino || st2.Nlink != 1 || read(t, a) != "old a" {
		t.Errorf("a: inode %d -> %d, %d links, %q", st1.Ino, st2.Ino, st2.Nlink, read(t, a))
	}
}

func TestSymlinkAtFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	write(t, victim, "precious", 0o644)
	out := filepath.Join(dir, "out")
	if err := os.Symlink(victim, out); err != nil {
		t.Fatal(err)
	}
	before, vbefore := tree(t, dir), tree(t, filepath.Dir(victim))
	for name, err := range map[string]error{
		"Write": WriteFile(out, []byte("token"), 0o600),
		"Check": Check(out, false),
	} {
		if !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), out) || len(err.(*Error).Hints()) == 0 {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if tree(t, dir) != before || tree(t, filepath.Dir(victim)) != vbefore {
		t.Error("files changed")
	}
}

func TestSymlinkAtLockIsRefused(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	write(t, victim, "precious", 0o644)
	out := filepath.Join(dir, "out")
	if err := os.Symlink(victim, out+".lock"); err != nil {
		t.Fatal(err)
	}
	// Dangling: O_CREAT would have made the file it names.
	if err := os.Symlink(filepath.Join(dir, "made"), filepath.Join(dir, "other.lock")); err != nil {
		t.Fatal(err)
	}
	before, vbefore := tree(t, dir), tree(t, filepath.Dir(victim))
	for _, p := range []string{out, filepath.Join(dir, "other")} {
		if _, err := Lock(p, nil); !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), p+".lock") {
			t.Errorf("Lock: err = %v", err)
		}
		if err := Check(p, false); !errors.Is(err, ErrSymlink) {
			t.Errorf("Check: err = %v", err)
		}
	}
	ReclaimLock(out, nil)
	if tree(t, dir) != before || tree(t, filepath.Dir(victim)) != vbefore {
		t.Error("files changed")
	}
}

// TestLockFileMustBeOurs: a hard link to another file, a FIFO, or a file
// of another user at the lock's name is refused before it is opened for
// writing (or opened at all: a FIFO would block).
func TestLockFileMustBeOurs(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	write(t, victim, "precious", 0o600)
	if err := os.Link(victim, filepath.Join(dir, "hard.lock")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.lock"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []string{"hard", "fifo"}
	if os.Geteuid() == 0 {
		write(t, filepath.Join(dir, "foreign.lock"), "", 0o600)
		os.Chown(filepath.Join(dir, "foreign.lock"), nobody, nobody)
		cases = append(cases, "foreign")
	}
	before := tree(t, dir)
	for _, name := range cases {
		if _, err := Lock(filepath.Join(dir, name), nil); !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if tree(t, dir) != before {
		t.Error("files changed")
	}
}

// TestFollowLink: nix.conf kept in a dotfiles repository is written
// through its link when link and target are trusted, and the link stays;
// another user's link or target is refused.
func TestFollowLink(t *testing.T) {
	dotfiles := t.TempDir()
	target := filepath.Join(dotfiles, "nix", "nix.conf")
	write(t, target, "old\n", 0o644)
	conf := filepath.Join(t.TempDir(), "nix.conf")
	if err := os.Symlink("../"+filepath.Base(dotfiles)+"/nix/nix.conf", conf); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(conf, []byte("new\n"), 0o644); !errors.Is(err, ErrSymlink) {
		t.Errorf("without FollowLink: %v", err)
	}
	if err := Write(File{Path: conf, Data: []byte("new\n"), Mode: 0o644, FollowLink: true}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(conf); err != nil || fi.Mode()&fs.ModeSymlink == 0 || read(t, target) != "new\n" {
		t.Fatalf("link kept: %v, target %q", err, read(t, target))
	}
	if names := ls(t, filepath.Dir(target)); len(names) != 1 {
		t.Errorf("left in the dotfiles: %q", names)
	}
	if os.Geteuid() != 0 {
		return
	}
	if err := os.Lchown(conf, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := Write(File{Path: conf, Data: []byte("evil\n"), Mode: 0o644, FollowLink: true}); !errors.Is(err, ErrSymlink) {
		t.Errorf("another user's link: %v", err)
	}
	os.Lchown(conf, 0, 0)
	os.Chown(target, nobody, nobody)
	if err := Write(File{Path: conf, Data: []byte("evil\n"), Mode: 0o644, FollowLink: true}); !errors.Is(err, ErrNotRegular) {
		t.Errorf("another user's target: %v", err)
	}
	if read(t, target) != "new\n" {
		t.Error("the target changed")
	}
}

// TestDirectoryTrust: directories others can write, or that belong to
// another user, are refused on the whole way down; a sticky one is fine
// for files of our own.
func TestDirectoryTrust(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	mk := func(name string, mode uint32, uid int) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		syscall.Chmod(p, uint32(mode))
		os.Chown(p, uid, uid)
		return p
	}
	open := mk("open", 0o777, 0)
	groupw := mk("groupw", 0o775, 0)
	os.Chown(groupw, 0, nobody)
	foreign := mk("foreign", 0o755, nobody)
	foreignSub := mk("foreign/sub", 0o755, 0)
	sticky := mk("sticky", 0o1777, 0)
	write(t, filepath.Join(sticky, "theirs"), "x", 0o644)
	os.Chown(filepath.Join(sticky, "theirs"), nobody, nobody)
	write(t, filepath.Join(sticky, "ours"), "x", 0o644)
	// A link on the way made by another user.
	if err := os.Symlink(mk("real", 0o755, 0), filepath.Join(sticky, "link")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(sticky, "link"), nobody, nobody)

	for _, c := range []struct {
		path string
		want error
		says string
	}{
		{filepath.Join(open, "out"), ErrUnsafeDir, "writable by other users (mode 0777, not sticky)"},
		{filepath.Join(open, "new", "out"), ErrUnsafeDir, "writable by other users"},
		{filepath.Join(groupw, "out"), ErrUnsafeDir, "writable by its group"},
		{filepath.Join(foreign, "out"), ErrUnsafeDir, "belongs to uid 65534"},
		{filepath.Join(foreignSub, "out"), ErrUnsafeDir, "belongs to uid 65534"},
		{filepath.Join(sticky, "theirs"), ErrNotRegular, "belongs to uid 65534"},
		{filepath.Join(sticky, "link", "out"), ErrSymlink, "belongs to uid 65534"},
		{filepath.Join(sticky, "ours"), nil, ""},
		{filepath.Join(sticky, "new"), nil, ""},
	} {
		before := tree(t, base)
		err := Check(c.path, false)
		if err == nil {
			var unlock func()
			if unlock, err = Lock(c.path, nil); err == nil {
				err = WriteFile(c.path, []byte("token"), 0o600)
				unlock()
			}
		}
		if !errors.Is(err, c.want) || err != nil && (!strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), c.path)) {
			t.Errorf("%s: err = %v, want %v saying %q", c.path, err, c.want, c.says)
		}
		if c.want != nil && tree(t, base) != before {
			t.Errorf("%s: files changed", c.path)
		}
		// The lock file is refused where the directories are; "theirs" is
		// refused by the write alone.
		if c.want == ErrUnsafeDir || c.want == ErrSymlink {
			if _, err := Lock(c.path, nil); !errors.Is(err, c.want) {
				t.Errorf("%s: Lock: err = %v", c.path, err)
			}
		}
	}
}

// TestPrivateGroup: a group-writable directory is fine when its group has
// only its owner in it (Debian's usergroups), and refused otherwise.
func TestPrivateGroup(t *testing.T) {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil || !strings.Contains(string(data), "\nnobody:") {
		t.Skip("no nobody in /etc/passwd")
	}
	if !privateGroup(0, 0) {
		t.Error("root's group is not root's private group")
	}
	if privateGroup(nobody, 0) {
		t.Error("gid 65534 is root's private group")
	}
}

// TestLockMakesAndRemovesDirs: missing directories are made with mode
// 0755 whatever the umask, and removed at unlock when nothing was written.
func TestLockMakesAndRemovesDirs(t *testing.T) {
	base := t.TempDir()
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	p := filepath.Join(base, "a", "b", "f")
	unlock, err := Lock(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), filepath.Join(base, "a", "b")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v %v", d, fi, err)
		}
	}
	unlock()
	if names := ls(t, base); len(names) != 0 {
		t.Errorf("left %q", names)
	}
	unlock, err = Lock(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	unlock()
	if names := ls(t, filepath.Dir(p)); !slices.Equal(names, []string{"f"}) {
		t.Errorf("left %q", names)
	}
}

func TestLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	unlock, err := Lock(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		if u, err := Lock(p, nil); err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second Lock succeeded while the first was held")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Lock never got the lock")
	}
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestTempsOfDeadWritersGo: a lock taken over from a dead process removes
// the temporary files of the file at once, whatever their age, and those
// of its backups whose writer is gone; a write removes the dead ones too.
// Files of live writers, of other files, and not ours stay.
func TestTempsOfDeadWritersGo(t *testing.T) {
	dir := t.TempDir()
	dead, live := deadPID(t), os.Getppid()
	tmp := func(base string, pid int) string {
		return fmt.Sprintf(".%s.tmp-%d-0123456789abcdef", base, pid)
	}
	files := map[string]bool{ // name -> removed
		tmp("nix.conf", dead):                 true,
		tmp("nix.conf", live):                 true, // under the lock of nix.conf, no writer of it is alive
		tmp("nix.conf.before-nix-auth", dead): true,
		tmp("nix.conf.before-nix-auth", live): false,
		tmp("nix.confx", dead):                false,
		tmp("other", dead):                    false,
		".nix.conf.tmp-0123456789abcdef":      false,
		".nix.conf.tmp-x-0123456789abcdef":    false,
		tmp("nix.conf", dead) + ".keep":       false,
		"nix.conf.lock":                       false,
	}
	for name := range files {
		write(t, filepath.Join(dir, name), "token", 0o600)
	}
	os.WriteFile(filepath.Join(dir, "nix.conf.lock"), []byte(strconv.Itoa(dead)+"\n"), 0o600)
	var warned []string
	unlock, err := Lock(filepath.Join(dir, "nix.conf"), func(m string) { warned = append(warned, m) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "process "+strconv.Itoa(dead)) {
		t.Errorf("warnings %q", warned)
	}
	left := ls(t, dir)
	for name, removed := range files {
		if slices.Contains(left, name) == removed {
			t.Errorf("%s: removed = %v, want %v", name, !removed, removed)
		}
	}
	unlock()

	// A write removes its file's dead temporary files, and old ones whose
	// pid runs again.
	other := filepath.Join(dir, "other")
	write(t, filepath.Join(dir, tmp("other", live)), "token", 0o600)
	hourAgo := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, tmp("other", live)), hourAgo, hourAgo)
	write(t, filepath.Join(dir, tmp("other.bak", os.Getpid()+1<<22)), "token", 0o600) // no such pid
	write(t, filepath.Join(dir, fmt.Sprintf(".other.tmp-%d-fedcba9876543210", live)), "token", 0o600)
	if err := WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	left = ls(t, dir)
	var temps []string
	for _, n := range left {
		if strings.HasPrefix(n, ".other.") {
			temps = append(temps, n)
		}
	}
	if want := []string{fmt.Sprintf(".other.tmp-%d-fedcba9876543210", live)}; !slices.Equal(temps, want) {
		t.Errorf("temporary files of other left: %q, want %q", temps, want)
	}
}

func TestReclaimLock(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	ReclaimLock(p, nil)
	ReclaimLock(filepath.Join(dir, "missing", "f"), nil)
	if names := ls(t, dir); len(names) != 0 {
		t.Fatalf("made %q", names)
	}
	dead := deadPID(t)
	write(t, p+".lock", strconv.Itoa(dead)+"\n", 0o600)
	write(t, filepath.Join(dir, fmt.Sprintf(".f.tmp-%d-0123456789abcdef", dead)), "token", 0o600)
	var warned []string
	ReclaimLock(p, func(m string) { warned = append(warned, m) })
	if names := ls(t, dir); len(names) != 0 || len(warned) != 1 {
		t.Errorf("left %q, warnings %q", names, warned)
	}
	// A temporary file alone is reclaimed too.
	write(t, filepath.Join(dir, fmt.Sprintf(".f.tmp-%d-0123456789abcdef", dead)), "token", 0o600)
	ReclaimLock(p, nil)
	if names := ls(t, dir); len(names) != 0 {
		t.Errorf("left %q", names)
	}
}

func TestParseTemp(t *testing.T) {
	for _, c := range []struct {
		name       string
		pid        int
		exact, ok_ bool
	}{
		{".f.tmp-12-0123456789abcdef", 12, true, true},
		{".f.bak.tmp-12-0123456789abcdef", 12, false, true},
		{".f.tmp-12-0123456789ABCDEF", 0, false, false},
		{".f.tmp-+12-0123456789abcdef", 0, false, false},
		{".f.tmp-12-0123456789abcde", 0, false, false},
		{".f.tmp--0123456789abcdef", 0, false, false},
		{".fx.tmp-12-0123456789abcdef", 0, false, false},
		{"f.tmp-12-0123456789abcdef", 0, false, false},
		{".f.tmp-0-0123456789abcdef", 0, false, false},
	} {
		pid, exact, ok := parseTemp(c.name, "f")
		if pid != c.pid || exact != c.exact || ok != c.ok_ {
			t.Errorf("parseTemp(%q) = %d %v %v", c.name, pid, exact, ok)
		}
	}
	name := tempName("f")
	if pid, exact, ok := parseTemp(name, "f"); !ok || !exact || pid != os.Getpid() {
		t.Errorf("tempName gives %q, which parseTemp does not take", name)
	}
}
