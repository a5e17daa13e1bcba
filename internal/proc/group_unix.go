//go:build unix

package proc

import (
	"os/exec"
	"syscall"
)

// ownGroup puts the program in a process group of its own and makes a
// cancel kill the whole group: its children must not keep its pipes open
// or go on running after a timeout.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// killGroup kills what is left of the program's group once the program
// itself has exited: the group's ID is not reused while the group has a
// member.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

// signal names the signal that ended the program, "" if it exited.
func signal(ee *exec.ExitError) string {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return ""
}
