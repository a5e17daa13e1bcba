// Package stresstest holds the crash-safety and concurrency tests of the
// real nix-auth binary (issue 5): writers are killed with SIGKILL at random
// moments and run many at a time against the same files, and every file
// must stay either its old or its new version, readable by what consumes
// it. Writers: set-token into the plaintext config, set-token into a sops
// store, and render from the store into the config.
// The package has no code of its own; see its tests.
package stresstest
