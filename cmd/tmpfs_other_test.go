//go:build !linux

package cmd

// mountTmpfs is Linux only: the real full-disk cases are skipped elsewhere.
func mountTmpfs(dir string, size int) (unmount func(), err error) {
	return nil, errNoTmpfs
}
