package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ErrTooLarge is a file ReadLimited refused for its size.
var ErrTooLarge = errors.New("file too large")

// ReadLimited reads a small input file that nix-auth does not own: a
// secret that sops-nix or agenix decrypted, a file to import. Symlinks are
// followed, as those tools deliver their secrets through them
// (/run/secrets -> /run/secrets.d/N), but only a regular file is read: it
// is opened without blocking, so a FIFO or device planted at path cannot
// hang activation, and refused after an fstat. More than limit bytes is an
// *Error matching ErrTooLarge; not a regular file, ErrNotRegular.
// Errors name path.
func ReadLimited(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{Path: path, Err: ErrNotRegular, msg: fmt.Sprintf("%s is %s, not a regular file: not read", path, typeName(fi.Mode()))}
	}
	if fi.Size() > limit {
		return nil, tooLarge(path, limit)
	}
	// The size may grow after the fstat: the read is bounded too.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(path, limit)
	}
	return data, nil
}

func tooLarge(path string, limit int64) error {
	return &Error{Path: path, Err: ErrTooLarge, msg: fmt.Sprintf("%s is larger than %d bytes: not read", path, limit)}
}

// typeName names a file type that is not a regular file.
func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
