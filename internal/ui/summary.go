package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Summary describes a finished backup. The caller fills it in.
type Summary struct {
	FilesNew, FilesChanged, FilesUnchanged int64
	DirsNew, DirsChanged, DirsUnchanged    int64
	Errors                                 int64
	// BytesProcessed is what was read from the source.
	BytesProcessed int64
	// BytesAdded is the new data left after deduplication, before
	// compression.
	BytesAdded int64
	// BytesStored is what was written to the vault for that new data, after
	// compression and encryption.
	BytesStored int64
	Duration    time.Duration
	// PointID names the recovery point; empty when none was written.
	PointID string
}

// SummaryJSON is the JSON line written by Summary.WriteJSON.
type SummaryJSON struct {
	MessageType         string  `json:"message_type"` // "summary"
	FilesNew            int64   `json:"files_new"`
	FilesChanged        int64   `json:"files_changed"`
	FilesUnchanged      int64   `json:"files_unchanged"`
	DirsNew             int64   `json:"dirs_new"`
	DirsChanged         int64   `json:"dirs_changed"`
	DirsUnchanged       int64   `json:"dirs_unchanged"`
	ErrorCount          int64   `json:"error_count"`
	TotalFilesProcessed int64   `json:"total_files_processed"`
	TotalBytesProcessed int64   `json:"total_bytes_processed"`
	BytesAdded          int64   `json:"bytes_added"`
	BytesStored         int64   `json:"bytes_stored"`
	DurationSeconds     float64 `json:"duration_seconds"`
	PointID             string  `json:"point_id,omitempty"`
}

// Files returns the number of files processed.
func (s Summary) Files() int64 { return s.FilesNew + s.FilesChanged + s.FilesUnchanged }

// WriteText writes s for people, one aligned line per topic.
func (s Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Files:     %d new, %d changed, %d unchanged\n", s.FilesNew, s.FilesChanged, s.FilesUnchanged)
	fmt.Fprintf(&b, "Dirs:      %d new, %d changed, %d unchanged\n", s.DirsNew, s.DirsChanged, s.DirsUnchanged)
	fmt.Fprintf(&b, "Processed: %d files, %s in %s\n", s.Files(), Bytes(s.BytesProcessed), Duration(s.Duration))
	fmt.Fprintf(&b, "Added:     %s (%s stored)\n", Bytes(s.BytesAdded), Bytes(s.BytesStored))
	if s.Errors > 0 {
		fmt.Fprintf(&b, "Errors:    %d\n", s.Errors)
	}
	if s.PointID != "" {
		fmt.Fprintf(&b, "Point:     %s saved\n", printable(s.PointID))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// WriteJSON writes s as one JSON line with message_type "summary".
func (s Summary) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(SummaryJSON{
		MessageType:         "summary",
		FilesNew:            s.FilesNew,
		FilesChanged:        s.FilesChanged,
		FilesUnchanged:      s.FilesUnchanged,
		DirsNew:             s.DirsNew,
		DirsChanged:         s.DirsChanged,
		DirsUnchanged:       s.DirsUnchanged,
		ErrorCount:          s.Errors,
		TotalFilesProcessed: s.Files(),
		TotalBytesProcessed: s.BytesProcessed,
		BytesAdded:          s.BytesAdded,
		BytesStored:         s.BytesStored,
		DurationSeconds:     s.Duration.Seconds(),
		PointID:             s.PointID,
	})
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
