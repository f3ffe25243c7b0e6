package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var testSummary = Summary{
	FilesNew: 12, FilesChanged: 3, FilesUnchanged: 1200,
	DirsNew: 2, DirsChanged: 1, DirsUnchanged: 130,
	BytesProcessed: 3 << 30, BytesAdded: 120 << 20, BytesStored: 88 << 20,
	Duration: 83 * time.Second, PointID: "4f2a9c1e",
}

func TestSummaryText(t *testing.T) {
	var b bytes.Buffer
	if err := testSummary.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "Files:     12 new, 3 changed, 1200 unchanged\n" +
		"Dirs:      2 new, 1 changed, 130 unchanged\n" +
		"Processed: 1215 files, 3.0 GiB in 1m23s\n" +
		"Added:     120.0 MiB (88.0 MiB stored)\n" +
		"Point:     4f2a9c1e saved\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	s := testSummary
	s.Errors, s.PointID = 2, ""
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("Errors:    2\n")) || bytes.Contains(b.Bytes(), []byte("Point:")) {
		t.Errorf("summary with errors and no point:\n%s", b.String())
	}
}

func TestSummaryJSON(t *testing.T) {
	var b bytes.Buffer
	if err := testSummary.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b.Bytes(), []byte("\n")); n != 1 || !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		t.Fatalf("want exactly one JSON line, got %q", b.String())
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"message_type": "summary", "files_new": 12.0, "files_changed": 3.0, "files_unchanged": 1200.0,
		"dirs_new": 2.0, "dirs_changed": 1.0, "dirs_unchanged": 130.0, "error_count": 0.0,
		"total_files_processed": 1215.0, "total_bytes_processed": float64(3 << 30),
		"bytes_added": float64(120 << 20), "bytes_stored": float64(88 << 20),
		"duration_seconds": 83.0, "point_id": "4f2a9c1e",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("unexpected fields in %s", b.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSummaryWriteError(t *testing.T) {
	if err := testSummary.WriteText(failWriter{}); err == nil {
		t.Error("WriteText to a failing writer succeeded")
	}
	if err := testSummary.WriteJSON(failWriter{}); err == nil {
		t.Error("WriteJSON to a failing writer succeeded")
	}
}
