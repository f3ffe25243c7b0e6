//go:build !unix

package eventrule

import "os/exec"

// setProcessGroup leaves cmd as it is: cancellation kills the process.
func setProcessGroup(*exec.Cmd) {}
