//go:build !unix

package hook

import "os/exec"

// setProcessGroup leaves cmd as it is: cancellation kills the process
// alone.
func setProcessGroup(*exec.Cmd) {}
