package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nix-auth/nix-auth/internal/account"
	"github.com/nix-auth/nix-auth/internal/termsafe"
)

// Why the trust rule refuses a path; an *Error wraps one of them.
var (
	// ErrSymlink: a symlink where nix-auth does not follow one (the file,
	// its lock file), or a link on the way that another user owns.
	ErrSymlink = errors.New("symbolic link")
	// ErrUnsafeDir: a directory on the way that another user owns or can
	// write to.
	ErrUnsafeDir = errors.New("directory others can change")
	// ErrNotRegular: the file or its lock file is a directory, device,
	// FIFO, or a lock file with other links or another owner.
	ErrNotRegular = errors.New("not a regular file of ours")
	// ErrExists: a file written with New exists already.
	ErrExists = errors.New("file exists")
)

// Error is a write or lock that was refused or failed. Its message names
// the file and says whether anything changed; Hints say what to do.
type Error struct {
	// Path is the file that was to be written or locked.
	Path string
	// Err is one of the Err* reasons above, or the system's error (a full
	// disk is syscall.ENOSPC).
	Err   error
	msg   string
	hints []string
}

// Error names the file and what is wrong with it.
func (e *Error) Error() string { return e.msg }

// Unwrap gives the reason, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// Hints say what the user can do; they name no nix-auth flag (cmd adds
// those).
func (e *Error) Hints() []string { return e.hints }

// refused is an Error for a path the trust rule refuses: nothing was
// touched.
func refused(path string, reason error, what string, hints ...string) *Error {
	return &Error{Path: path, Err: reason, msg: fmt.Sprintf("cannot write %s: %s; nothing was changed", path, what), hints: hints}
}

// fileIsLink refuses a symlink at the file itself.
func fileIsLink(path string) *Error {
	return refused(path, ErrSymlink, "it is a symbolic link, and nix-auth does not write through one (it could point anywhere)",
		"if you did not make it, someone else did: remove it (rm "+strconv.Quote(path)+") and check who can write "+filepath.Dir(path),
		"to write the file it points to, name that file itself")
}

// lockIsLink refuses a symlink at the lock file: opening it would create
// or truncate whatever it points to.
func lockIsLink(path, lock string) *Error {
	return refused(path, ErrSymlink, "its lock file "+lock+" is a symbolic link, and nix-auth never follows one",
		"if you did not make it, someone else did: remove it (rm "+strconv.Quote(lock)+") and check who can write "+filepath.Dir(lock))
}

// linkUntrusted refuses a link on the way (or the one at a FollowLink
// file) that another user owns and so could point anywhere.
func linkUntrusted(path, link string, owner uint32) *Error {
	return refused(path, ErrSymlink, fmt.Sprintf("the symbolic link %s on the way belongs to %s, who could point it anywhere", link, who(owner)),
		"replace the link with one of your own, or name the file by a path without it")
}

// dirRefused says that the directory dir on the way to path is not
// trusted: it belongs to owner (who is not root or us), or, when owner is
// empty, others can write it (why says how).
func dirRefused(path, dir, owner, why string) *Error {
	if owner != "" {
		return refused(path, ErrUnsafeDir, fmt.Sprintf("the directory %s belongs to %s, who could redirect the write", dir, owner),
			"write below a directory that only you or root can change, or run nix-auth as "+owner)
	}
	return refused(path, ErrUnsafeDir, fmt.Sprintf("the directory %s is writable by %s, who could redirect the write", dir, why),
		"make it writable by its owner only (chmod go-w "+strconv.Quote(dir)+"), or write below a directory that only you or root can change")
}

// ioFailed is an Error for a write the system refused. changed says what
// could not be undone ("" when nothing changed).
func ioFailed(path string, err error, changed string) *Error {
	// "no space left on device", not the temporary file's name and the
	// call that failed.
	reason := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err
	}
	var errno unix.Errno
	errors.As(err, &errno)
	var hints []string
	if changed == "" {
		changed = "nothing was changed"
	} else {
		hints = append(hints, "look at the files named here before running nix-auth again")
	}
	switch errno {
	case unix.ENOSPC, unix.EDQUOT:
		hints = append(hints, "free some space on the file system that holds "+filepath.Dir(path)+", then run the command again")
	case unix.EROFS:
		hints = append(hints, "the file system that holds "+filepath.Dir(path)+" is mounted read-only")
	case unix.EACCES, unix.EPERM:
		hints = append(hints, "check the owner and permissions of "+filepath.Dir(path))
	}
	return &Error{Path: path, Err: err, msg: fmt.Sprintf("cannot write %s: %v; %s", path, reason, changed), hints: hints}
}

// who names a uid for messages: "uid 1000 (alice)".
func who(uid uint32) string {
	s := "uid " + strconv.FormatUint(uint64(uid), 10)
	if u, err := account.LookupUID(int(uid)); err == nil {
		s += " (" + termsafe.Cut(u.Name, 32) + ")"
	}
	return s
}
