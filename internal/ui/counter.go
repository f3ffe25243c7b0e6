package ui

import (
	"sync/atomic"

	"github.com/bunkerhq/bunker/internal/progress"
)

// Counter is what engine work reports progress to; Progress implements it.
type Counter = progress.Counter

// Nop is a Counter that discards everything.
type Nop = progress.Nop

// ScanFinisher is implemented by counters that want to know when the totals
// stop growing; only then can a percentage and an ETA be shown.
type ScanFinisher = progress.ScanFinisher

// Progress is a Counter that keeps totals with atomic operations. The zero
// value is ready to use.
type Progress struct {
	filesTotal atomic.Int64
	bytesTotal atomic.Int64
	filesDone  atomic.Int64
	bytesDone  atomic.Int64
	errors     atomic.Int64
	scanDone   atomic.Bool

	onError func(path string, err error)
}

// NewProgress returns a Progress that also passes every error to onError,
// which must be safe for concurrent use. onError may be nil.
func NewProgress(onError func(path string, err error)) *Progress {
	return &Progress{onError: onError}
}

// AddTotal grows the totals.
func (p *Progress) AddTotal(files, bytes int64) {
	p.filesTotal.Add(files)
	p.bytesTotal.Add(bytes)
}

// AddDone grows the finished counts.
func (p *Progress) AddDone(files, bytes int64) {
	p.filesDone.Add(files)
	p.bytesDone.Add(bytes)
}

// Error counts an error and passes it on.
func (p *Progress) Error(path string, err error) {
	p.errors.Add(1)
	if p.onError != nil {
		p.onError(path, err)
	}
}

// FinishScan marks the totals as final.
func (p *Progress) FinishScan() { p.scanDone.Store(true) }

// Snapshot is a point-in-time copy of a Progress.
type Snapshot struct {
	FilesTotal, FilesDone int64
	BytesTotal, BytesDone int64
	Errors                int64
	// ScanFinished reports that the totals are final.
	ScanFinished bool
}

// Snapshot returns the current counts. Each count is read atomically; the
// set is not a single atomic view, which is fine for display.
func (p *Progress) Snapshot() Snapshot {
	return Snapshot{
		FilesTotal:   p.filesTotal.Load(),
		FilesDone:    p.filesDone.Load(),
		BytesTotal:   p.bytesTotal.Load(),
		BytesDone:    p.bytesDone.Load(),
		Errors:       p.errors.Load(),
		ScanFinished: p.scanDone.Load(),
	}
}

// Fraction returns the share of work done in [0, 1], by bytes when the
// byte total is known and by files otherwise, and false when no total is
// known or the scan is still running.
func (s Snapshot) Fraction() (float64, bool) {
	if !s.ScanFinished {
		return 0, false
	}
	done, total := s.BytesDone, s.BytesTotal
	if total <= 0 {
		done, total = s.FilesDone, s.FilesTotal
	}
	if total <= 0 {
		return 0, false
	}
	return min(max(float64(done)/float64(total), 0), 1), true
}
