//go:build !unix

package proc

import "os/exec"

// ownGroup does nothing where there are no process groups: the default
// cancel kills the program itself.
func ownGroup(*exec.Cmd) {}

// killGroup does nothing: see ownGroup.
func killGroup(*exec.Cmd) {}

// signal is "": there are no signals to report.
func signal(*exec.ExitError) string { return "" }
