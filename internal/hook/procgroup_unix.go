//go:build unix

package hook

import (
	"os/exec"
	"syscall"
)

// setProcessGroup runs cmd in a process group of its own and makes its
// cancellation kill the whole group, so that nothing a hook started
// outlives its timeout.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
