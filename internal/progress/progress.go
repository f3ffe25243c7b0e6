// Package progress defines how long-running engine work reports progress,
// without depending on how it is shown.
package progress

// Counter receives progress. Implementations must be safe for concurrent use.
type Counter interface {
	// AddTotal grows the amount of work known to lie ahead.
	AddTotal(files, bytes int64)
	// AddDone records finished work.
	AddDone(files, bytes int64)
	// Error records a failure on one item that the work skipped.
	Error(path string, err error)
}

// Nop is a Counter that discards everything.
type Nop struct{}

// AddTotal does nothing.
func (Nop) AddTotal(files, bytes int64) {}

// AddDone does nothing.
func (Nop) AddDone(files, bytes int64) {}

// Error does nothing.
func (Nop) Error(path string, err error) {}

// ScanFinisher is implemented by counters that want to know when the totals
// stop growing, so that they can show a percentage and an ETA.
type ScanFinisher interface {
	FinishScan()
}
