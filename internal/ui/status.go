package ui

import (
	"fmt"
	"strings"
	"time"
)

// statusLine renders one terminal status line, e.g.
// "[1m23s] 45.2% 1234/5678 files 1.2 GiB/3.4 GiB 56.7 MiB/s ETA 42s 3 errors".
func statusLine(s Snapshot, elapsed time.Duration, rate float64) string {
	fields := []string{"[" + Duration(elapsed) + "]"}
	if f, ok := s.Fraction(); ok {
		fields = append(fields, fmt.Sprintf("%.1f%%", f*100))
	}
	fields = append(fields,
		fmt.Sprintf("%d/%d files", s.FilesDone, s.FilesTotal),
		Bytes(s.BytesDone)+"/"+Bytes(s.BytesTotal),
		Rate(rate),
	)
	if d, ok := eta(s, rate); ok {
		fields = append(fields, "ETA "+Duration(d))
	} else if !s.ScanFinished {
		fields = append(fields, "scanning")
	}
	switch s.Errors {
	case 0:
	case 1:
		fields = append(fields, "1 error")
	default:
		fields = append(fields, fmt.Sprintf("%d errors", s.Errors))
	}
	return strings.Join(fields, " ")
}

// StatusJSON is the JSON line emitted for each status update.
type StatusJSON struct {
	MessageType      string  `json:"message_type"` // "status"
	SecondsElapsed   float64 `json:"seconds_elapsed"`
	SecondsRemaining *int64  `json:"seconds_remaining,omitempty"`
	PercentDone      float64 `json:"percent_done"` // 0 to 1; 0 while scanning
	TotalFiles       int64   `json:"total_files"`
	FilesDone        int64   `json:"files_done"`
	TotalBytes       int64   `json:"total_bytes"`
	BytesDone        int64   `json:"bytes_done"`
	BytesPerSecond   float64 `json:"bytes_per_second"`
	ErrorCount       int64   `json:"error_count"`
	ScanFinished     bool    `json:"scan_finished"`
}

func statusJSON(s Snapshot, elapsed time.Duration, rate float64) StatusJSON {
	out := StatusJSON{
		MessageType:    "status",
		SecondsElapsed: elapsed.Seconds(),
		TotalFiles:     s.FilesTotal,
		FilesDone:      s.FilesDone,
		TotalBytes:     s.BytesTotal,
		BytesDone:      s.BytesDone,
		BytesPerSecond: rate,
		ErrorCount:     s.Errors,
		ScanFinished:   s.ScanFinished,
	}
	if f, ok := s.Fraction(); ok {
		out.PercentDone = f
	}
	if d, ok := eta(s, rate); ok {
		secs := int64(d.Round(time.Second) / time.Second)
		out.SecondsRemaining = &secs
	}
	return out
}

// ErrorJSON is the JSON line emitted for each error.
type ErrorJSON struct {
	MessageType string `json:"message_type"` // "error"
	Path        string `json:"path"`
	Error       string `json:"error"`
}
