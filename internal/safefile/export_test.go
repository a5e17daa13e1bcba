package safefile

import "io/fs"

// WriteFile writes one file with mode (see Write), for the tests.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return Write(File{Path: path, Data: data, Mode: mode})
}
