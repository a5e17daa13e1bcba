package crypt

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/nix-auth/nix-auth/nixconf"
)

// lockPath takes the same exclusive lock as the Nix config editor (an
// flock on path+".lock", removed on release so no stray file shows up in
// the user's git repository); warn hears of a lock taken over from a
// process that died holding it.
func lockPath(path string, warn func(string)) (unlock func(), err error) {
	return nixconf.Lock(path, warn)
}

// writeAtomic replaces path with data through nixconf's atomic writer
// (temporary file in the same directory, final mode before any data,
// fsync, rename, directory fsync). An existing store keeps its mode, and
// its owner and group where this process may keep them; a new one is
// 0600 whatever the umask.
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
				uid, gid = int(st.Uid), int(st.Gid)
			} else if memberOf(int(st.Gid)) {
				gid = int(st.Gid) // a group-shared repository stays shared
			}
		}
	}
	return nixconf.WriteFileOwned(path, data, mode, uid, gid)
}

// memberOf reports whether this process may give a file group gid.
func memberOf(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	groups, _ := os.Getgroups()
	return slices.Contains(groups, gid)
}
