package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// File is one file of a Write.
type File struct {
	Path string
	Data []byte
	// Mode is the file's exact mode, whatever the umask.
	Mode fs.FileMode
	// Owner, when not nil, gives the file this owner and group, set on the
	// new file before any data is written.
	Owner *Owner
	// KeepOwner gives a file that exists its current mode, and its owner
	// and group as far as this process may (root keeps both, others keep
	// a group they are in): Mode and Owner then apply to a new file only.
	KeepOwner bool
	// New: the file must not exist yet (a backup); Write refuses to
	// replace one.
	New bool
	// FollowLink lets Path be a symlink that passes the trust rule: the
	// file it points to is replaced in its own directory, and the link
	// stays. Without it a symlink at Path is refused.
	FollowLink bool
}

// Owner is a file's owner and group; -1 in either keeps the process's.
type Owner struct{ UID, GID int }

// Write puts every file in place, or, when it fails, none: no file changed
// and no temporary file left, on a full disk too. Every temporary file is
// written and fsynced before the first rename; the renames go in the order
// given (put a file before the one that includes it), and one that fails
// gives the files already renamed their old versions back. Call it holding
// Lock of every file it replaces; a New file's name is new, so it needs
// none. The directories must exist (Lock makes them). Every path must pass
// the trust rule; otherwise Write changes nothing and its *Error says why.
func Write(files ...File) error {
	ps := make([]*pending, 0, len(files))
	defer func() {
		for _, p := range ps {
			p.close()
		}
	}()
	for _, f := range files {
		p, err := prepare(f)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	// Dead writers' temporary files may hold tokens: they go first.
	for _, p := range ps {
		removeTemps(p.t.dir, p.t.name, false)
	}
	for _, p := range ps {
		if err := p.writeTemp(); err != nil {
			return ioFailed(p.f.Path, err, "")
		}
	}
	// The last file's rename is the last step that can fail; every file
	// renamed before it keeps its old version for a rollback.
	for _, p := range ps[:len(ps)-1] {
		if err := p.keepOld(); err != nil {
			return ioFailed(p.f.Path, err, "")
		}
	}
	for i, p := range ps {
		if err := p.install(); err != nil {
			return ioFailed(p.f.Path, err, rollback(ps[:i]))
		}
	}
	for _, p := range ps {
		p.dropOld()
	}
	// The renames are durable only once the directories are on disk.
	var synced []string
	for _, p := range ps {
		if slices.Contains(synced, p.t.dir.path) {
			continue
		}
		synced = append(synced, p.t.dir.path)
		if err := syncDir(p.t.dir); err != nil {
			return ioFailed(p.f.Path, err, "the new version is in place but may not be on disk")
		}
	}
	return nil
}

// pending is a file of a Write on its way.
type pending struct {
	f        File
	t        *target
	mode     fs.FileMode
	uid, gid int
	tmp      string // the temporary file's name in t.dir until renamed
	old      string // a hard link to the version replaced, for a rollback
}

// prepare resolves the file's path by the trust rule and settles its mode
// and owner.
func prepare(f File) (*pending, error) {
	var err error
	if f.Path, err = filepath.Abs(f.Path); err != nil {
		return nil, err
	}
	if f.Mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("writing %s: mode %v has bits other than permissions", f.Path, f.Mode)
	}
	t, err := resolve(f.Path, f.FollowLink, mustExist)
	if err != nil {
		return nil, err
	}
	p := &pending{f: f, t: t, mode: f.Mode, uid: -1, gid: -1}
	if f.New && t.st != nil {
		t.dir.close()
		return nil, refused(f.Path, ErrExists, "it exists already")
	}
	if f.Owner != nil {
		p.uid, p.gid = f.Owner.UID, f.Owner.GID
	}
	if st := t.st; f.KeepOwner && st != nil {
		p.mode = fs.FileMode(st.Mode & 0o777)
		switch {
		case os.Geteuid() == 0:
			p.uid, p.gid = int(st.Uid), int(st.Gid)
		case memberOf(int(st.Gid)):
			p.gid = int(st.Gid) // a group-shared repository stays shared
		default:
			p.uid, p.gid = -1, -1
		}
	}
	return p, nil
}

// writeTemp writes the data to a new temporary file beside the file: owner
// and mode first, so the data is never in a file the wrong people can read.
func (p *pending) writeTemp() error {
	if err := injected(StepCreate, p.f.Path); err != nil {
		return err
	}
	name := tempName(p.t.name)
	fd, err := unix.Openat(p.t.dir.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	p.tmp = name
	f := os.NewFile(uintptr(fd), p.t.dir.join(name))
	defer f.Close()
	if p.uid >= 0 || p.gid >= 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if p.uid >= 0 && int(st.Uid) != p.uid || p.gid >= 0 && int(st.Gid) != p.gid {
			if err := f.Chown(p.uid, p.gid); err != nil {
				return err
			}
		}
	}
	// The umask applied at creation; chmod gives the mode asked for.
	if err := f.Chmod(p.mode); err != nil {
		return err
	}
	if err := injected(StepWrite, p.f.Path); err != nil {
		return err
	}
	if _, err := f.Write(p.f.Data); err != nil {
		return err
	}
	if err := injected(StepSync, p.f.Path); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// keepOld gives the version about to be replaced a second name, which a
// rollback renames back. It costs no data blocks, so a full disk allows it
// wherever it allowed the temporary files.
func (p *pending) keepOld() error {
	if p.t.st == nil {
		return nil // a rollback removes the new file
	}
	if err := injected(StepLink, p.f.Path); err != nil {
		return err
	}
	name := tempName(p.t.name)
	if err := unix.Linkat(p.t.dir.fd, p.t.name, p.t.dir.fd, name, 0); err != nil {
		return err
	}
	p.old = name
	return nil
}

// install renames the temporary file over the file.
func (p *pending) install() error {
	if err := injected(StepRename, p.f.Path); err != nil {
		return err
	}
	if err := unix.Renameat(p.t.dir.fd, p.tmp, p.t.dir.fd, p.t.name); err != nil {
		return err
	}
	p.tmp = ""
	return nil
}

// rollback puts back what the renamed files replaced, last first, and
// says what it could not put back ("" when it put back everything).
func rollback(ps []*pending) string {
	var failed []string
	for i := len(ps) - 1; i >= 0; i-- {
		p := ps[i]
		var err error
		if p.old != "" {
			if err = unix.Renameat(p.t.dir.fd, p.old, p.t.dir.fd, p.t.name); err == nil {
				p.old = ""
			}
		} else {
			err = unix.Unlinkat(p.t.dir.fd, p.t.name, 0) // it was not there
		}
		if err != nil {
			failed = append(failed, p.f.Path)
			continue
		}
		syncDir(p.t.dir)
	}
	if len(failed) == 0 {
		return ""
	}
	return "putting back the old version failed for " + strings.Join(failed, ", ") + ", which now holds the new one"
}

func (p *pending) dropOld() {
	if p.old != "" {
		unix.Unlinkat(p.t.dir.fd, p.old, 0)
		p.old = ""
	}
}

// close removes what is left of a write that did not finish and lets go of
// the directory.
func (p *pending) close() {
	if p.tmp != "" {
		unix.Unlinkat(p.t.dir.fd, p.tmp, 0)
	}
	p.dropOld()
	p.t.dir.close()
}

func syncDir(d *dir) error {
	if err := unix.Fsync(d.fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

// memberOf reports whether this process may give a file group gid.
func memberOf(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	groups, _ := os.Getgroups()
	return slices.Contains(groups, gid)
}
