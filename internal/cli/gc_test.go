package cli

import (
	"runtime/debug"
	"testing"
)

// SetGCPercent sets the collector's target, unless $GOGC chose one.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	SetGCPercent(37)
	if got := debug.SetGCPercent(100); got != 37 {
		t.Fatalf("target %d after SetGCPercent(37), want 37", got)
	}
	t.Setenv("GOGC", "55")
	SetGCPercent(37)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("target %d after SetGCPercent(37) with GOGC set, want it left at 100", got)
	}
}
