package ui

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStatusLine(t *testing.T) {
	tests := []struct {
		name    string
		s       Snapshot
		elapsed time.Duration
		rate    float64
		want    string
	}{
		{
			name:    "scanning shows no percentage or ETA",
			s:       Snapshot{FilesTotal: 5678, FilesDone: 1234, BytesTotal: 3 << 30, BytesDone: 1 << 30},
			elapsed: 83 * time.Second, rate: 10 << 20,
			want: "[1m23s] 1234/5678 files 1.0 GiB/3.0 GiB 10.0 MiB/s scanning",
		},
		{
			name:    "known totals show percentage and ETA",
			s:       Snapshot{FilesTotal: 10, FilesDone: 5, BytesTotal: 1000, BytesDone: 400, ScanFinished: true, Errors: 3},
			elapsed: 4 * time.Second, rate: 100,
			want: "[4s] 40.0% 5/10 files 400 B/1000 B 100 B/s ETA 6s 3 errors",
		},
		{
			name:    "no rate yet means no ETA",
			s:       Snapshot{FilesTotal: 1, BytesTotal: 1000, ScanFinished: true, Errors: 1},
			elapsed: 0,
			want:    "[0s] 0.0% 0/1 files 0 B/1000 B 0 B/s 1 error",
		},
	}
	for _, tt := range tests {
		if got := statusLine(tt.s, tt.elapsed, tt.rate); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	s := Snapshot{FilesTotal: 10, FilesDone: 5, BytesTotal: 1000, BytesDone: 400, ScanFinished: true, Errors: 2}
	b, err := json.Marshal(statusJSON(s, 1500*time.Millisecond, 100))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"message_type": "status", "seconds_elapsed": 1.5, "seconds_remaining": 6.0,
		"percent_done": 0.4, "total_files": 10.0, "files_done": 5.0, "total_bytes": 1000.0,
		"bytes_done": 400.0, "bytes_per_second": 100.0, "error_count": 2.0, "scan_finished": true,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("unexpected fields in %s", b)
	}

	s.ScanFinished = false
	b, _ = json.Marshal(statusJSON(s, time.Second, 100))
	m = nil
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["seconds_remaining"]; ok || m["percent_done"] != 0.0 {
		t.Errorf("status while scanning has an estimate: %s", b)
	}
}
