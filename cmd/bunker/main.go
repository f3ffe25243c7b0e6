// Command bunker backs up files and streams into vaults that survive
// ransomware and insiders. Run `bunker --help` for the commands.
package main

import (
	"os"
	"runtime/debug"

	"github.com/bunkerhq/bunker/internal/cli"
)

// gcPercent is the garbage collector's target unless $GOGC says otherwise.
// bunker's heap is mostly large, pointer-free buffers (chunks, packs), which
// the collector scans for almost nothing, so collecting often costs little
// CPU and keeps peak memory near the live set.
const gcPercent = 20

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
