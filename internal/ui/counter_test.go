package ui

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Both must satisfy the interfaces the work depends on.
var (
	_ Counter      = Nop{}
	_ Counter      = (*Progress)(nil)
	_ ScanFinisher = (*Progress)(nil)
)

func TestProgressConcurrent(t *testing.T) {
	const workers, rounds = 16, 5000
	var seen atomic.Int64
	p := NewProgress(func(path string, err error) {
		if path == "" || err == nil {
			t.Errorf("error handler got path %q err %v", path, err)
		}
		seen.Add(1)
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				p.AddTotal(1, 3)
				p.AddDone(1, 2)
				if i%100 == w%100 {
					p.Error("/data/f", errors.New("denied"))
				}
				_ = p.Snapshot()
			}
		})
	}
	wg.Wait()
	got := p.Snapshot()
	want := Snapshot{
		FilesTotal: workers * rounds, FilesDone: workers * rounds,
		BytesTotal: 3 * workers * rounds, BytesDone: 2 * workers * rounds,
		Errors: workers * rounds / 100,
	}
	if got != want {
		t.Fatalf("Snapshot() = %+v, want %+v", got, want)
	}
	if seen.Load() != want.Errors {
		t.Fatalf("error handler called %d times, want %d", seen.Load(), want.Errors)
	}
}

func TestProgressZeroValue(t *testing.T) {
	var p Progress
	p.AddTotal(2, 10)
	p.AddDone(1, 4)
	p.Error("x", errors.New("boom"))
	p.FinishScan()
	want := Snapshot{FilesTotal: 2, FilesDone: 1, BytesTotal: 10, BytesDone: 4, Errors: 1, ScanFinished: true}
	if got := p.Snapshot(); got != want {
		t.Fatalf("Snapshot() = %+v, want %+v", got, want)
	}
}

func TestSnapshotFraction(t *testing.T) {
	tests := []struct {
		s    Snapshot
		want float64
		ok   bool
	}{
		{Snapshot{BytesTotal: 100, BytesDone: 25, ScanFinished: true}, 0.25, true},
		{Snapshot{BytesTotal: 100, BytesDone: 25}, 0, false},
		{Snapshot{FilesTotal: 4, FilesDone: 1, ScanFinished: true}, 0.25, true},
		{Snapshot{BytesTotal: 100, BytesDone: 150, ScanFinished: true}, 1, true},
		{Snapshot{BytesTotal: 100, BytesDone: -5, ScanFinished: true}, 0, true},
		{Snapshot{ScanFinished: true}, 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.s.Fraction()
		if got != tt.want || ok != tt.ok {
			t.Errorf("%+v.Fraction() = %v, %v; want %v, %v", tt.s, got, ok, tt.want, tt.ok)
		}
	}
}
