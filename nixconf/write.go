package nixconf

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// staleTempAge is how old a temporary file must be before a later write
// deletes it. A writer keeps its temporary file for milliseconds; one this
// old was left by a process that died before its rename, and it may hold
// tokens the user has since replaced or revoked. The margin keeps a writer
// that does not take our lock (an older nix-auth, a script calling
// WriteFile) from losing its file mid-write.
const staleTempAge = 10 * time.Minute

// WriteFile replaces path with data atomically: readers see the old file or
// the new one, never a mix, even if the process dies half way. The file
// gets exactly mode, whatever the umask. When path is a symlink, the file it
// points to is replaced, so a nix.conf kept in a dotfiles repository stays
// linked. Call it under Lock(path). Temporary files that writers killed
// more than ten minutes ago left for path or its backups (path.SUFFIX) are
// removed, so that no copy of a token outlives the next write.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return writeFile(path, data, mode, -1, -1)
}

// WriteFileOwned is WriteFile that also gives the file uid and gid (-1
// keeps the process's), set before any data is written.
func WriteFileOwned(path string, data []byte, mode fs.FileMode, uid, gid int) error {
	return writeFile(path, data, mode, uid, gid)
}

func writeFile(path string, data []byte, mode fs.FileMode, uid, gid int) error {
	target, err := resolveLink(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	f, tmp, err := createTemp(dir, filepath.Base(target), mode.Perm())
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := fillTemp(f, data, mode.Perm(), uid, gid); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// The rename is durable only once the directory is on disk.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	removeStaleTemps(dir, filepath.Base(target), time.Now())
	return nil
}

// removeStaleTemps deletes the temporary files that dead writers of base,
// or of its backups (base.SUFFIX), left in dir: only names that createTemp
// makes, only regular files, only those older than staleTempAge. Errors
// are ignored: cleaning up must never make a write fail.
func removeStaleTemps(dir, base string, now time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + "."
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, prefix) || !isTempName(name, len(prefix)-1) {
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) >= staleTempAge {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// isTempName reports whether name ends in ".tmp-" and the 16 hex digits
// createTemp uses, with that ".tmp-" starting at index from or later.
func isTempName(name string, from int) bool {
	i := strings.LastIndex(name, ".tmp-")
	if i < from {
		return false
	}
	h := name[i+len(".tmp-"):]
	if len(h) != 16 {
		return false
	}
	for _, c := range []byte(h) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// resolveLink returns the file a symlink points to, or path itself.
func resolveLink(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%s is a symlink that cannot be followed: %w", path, err)
	}
	return target, nil
}

// createTemp makes a new file beside the target. O_EXCL makes sure it is a
// file of ours and not something planted under a guessed name.
func createTemp(dir, base string, perm fs.FileMode) (*os.File, string, error) {
	for range 100 {
		var rnd [8]byte
		rand.Read(rnd[:])
		name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("cannot create a temporary file in " + dir)
}

// fillTemp sets owner and mode before writing, so the data is never in a
// file that the wrong people can read.
func fillTemp(f *os.File, data []byte, perm fs.FileMode, uid, gid int) error {
	if uid >= 0 || gid >= 0 {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid && uid >= 0 || int(st.Gid) != gid && gid >= 0 {
			if err := f.Chown(uid, gid); err != nil {
				return err
			}
		}
	}
	// The umask applied at creation; chmod gives the mode asked for.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// mkdirAll creates dir and its missing parents with mode 0755 whatever the
// umask: a umask that strips the owner's bits would otherwise leave a
// config directory that nix-auth itself cannot write into.
func mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Chmod(dir, 0o755)
}
