package cli

import (
	"os"
	"runtime/debug"
)

// Garbage collector targets, unless $GOGC says otherwise.
const (
	// GCPercent is bunker's: its heap is mostly large, pointer-free
	// buffers (chunks, packs), which the collector scans for almost
	// nothing, so collecting often costs little CPU and keeps peak memory
	// near the live set.
	GCPercent = 20
	// scanGCPercent is bunker scan's: its heap is mostly small listing
	// nodes, which collecting at 20% growth scans over and over (11% of a
	// scan's CPU time), while its peak memory is the key derivation's
	// 64 MiB whatever the target.
	scanGCPercent = 100
)

// SetGCPercent sets the garbage collector's target to p unless $GOGC is
// set.
func SetGCPercent(p int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(p)
	}
}
