package ui

import (
	"math"
	"testing"
	"time"
)

func TestRateMeterMovingAverage(t *testing.T) {
	m := rateMeter{window: 5 * time.Second}
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if got := m.add(t0, 0); got != 0 {
		t.Fatalf("rate from one sample = %v, want 0", got)
	}
	var bytes int64
	var rate float64
	// Ten seconds at 100 B/s.
	for i := 1; i <= 10; i++ {
		bytes += 100
		rate = m.add(t0.Add(time.Duration(i)*time.Second), bytes)
	}
	if rate != 100 {
		t.Fatalf("rate at steady 100 B/s = %v", rate)
	}
	// Then 1000 B/s: the old speed must leave the average within the window.
	for i := 11; i <= 16; i++ {
		bytes += 1000
		rate = m.add(t0.Add(time.Duration(i)*time.Second), bytes)
	}
	if rate != 1000 {
		t.Fatalf("rate five seconds after a change to 1000 B/s = %v", rate)
	}
	if len(m.samples) > 7 {
		t.Fatalf("meter keeps %d samples for a 5s window at 1 sample/s", len(m.samples))
	}
}

func TestRateMeterDegenerate(t *testing.T) {
	m := rateMeter{window: 5 * time.Second}
	t0 := time.Unix(1000, 0)
	m.add(t0, 100)
	if got := m.add(t0, 200); got != 0 {
		t.Errorf("rate over zero time = %v, want 0", got)
	}
	if got := m.add(t0.Add(time.Second), 50); got != 0 {
		t.Errorf("rate with shrinking bytes = %v, want 0", got)
	}
}

func TestETA(t *testing.T) {
	tests := []struct {
		s    Snapshot
		rate float64
		want time.Duration
		ok   bool
	}{
		{Snapshot{BytesTotal: 1000, BytesDone: 400, ScanFinished: true}, 100, 6 * time.Second, true},
		{Snapshot{BytesTotal: 1000, BytesDone: 400}, 100, 0, false},
		{Snapshot{BytesTotal: 1000, BytesDone: 400, ScanFinished: true}, 0, 0, false},
		{Snapshot{FilesTotal: 3, ScanFinished: true}, 100, 0, false},
		{Snapshot{BytesTotal: 100, BytesDone: 200, ScanFinished: true}, 10, 0, true},
		{Snapshot{BytesTotal: math.MaxInt64, ScanFinished: true}, 1e-9, 0, false},
	}
	for _, tt := range tests {
		got, ok := eta(tt.s, tt.rate)
		if got != tt.want || ok != tt.ok {
			t.Errorf("eta(%+v, %v) = %v, %v; want %v, %v", tt.s, tt.rate, got, ok, tt.want, tt.ok)
		}
	}
}
