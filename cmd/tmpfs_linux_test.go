package cmd

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// mountTmpfs mounts a tmpfs of size bytes at dir and returns its unmount.
func mountTmpfs(dir string, size int) (unmount func(), err error) {
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755,size="+strconv.Itoa(size)); err != nil {
		return nil, err
	}
	return func() { unix.Unmount(dir, unix.MNT_DETACH) }, nil
}
