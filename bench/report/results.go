package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Header is the first record of the results CSV that bench/run.sh writes.
// Fields 10 to 16 are the read API's figures under load, empty in the rows
// of other steps; the last two are the S3 part's storage requests during
// the step ("op=N op=N ...", by S3 operation) and the storage objects whose
// retention the server extended, empty in other rows.
var Header = []string{"run", "tool", "step", "wall_s", "user_s", "sys_s", "max_rss_kb", "stored_bytes", "status",
	"requests", "errors", "rate_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms",
	"storage_requests", "retention_extensions"}

// legacyFields is how many fields the CSV had before the read API's
// figures were added, apiFields how many before the S3 part's; such files
// are still read.
const (
	legacyFields = 9
	apiFields    = 16
)

// Status values of a measured step.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Row is one measured step of one run.
type Row struct {
	Run      int
	Tool     string // bunker, restic, borg, or "machine" for the limits
	Step     string
	Wall     float64 // seconds
	User     float64 // seconds
	Sys      float64 // seconds
	MaxRSSKB int64
	Stored   int64 // bytes in the repository after the step; -1 if not measured
	Status   string
	API      APIFigures
	// Storage is the S3 part's storage requests during the step, by
	// operation; nil in other rows.
	Storage map[string]int64
	// Extensions is how many storage objects had their retention
	// extended during the step; -1 when not recorded.
	Extensions int64
}

// APIFigures are what a load of the read API gave: zero for other steps.
type APIFigures struct {
	Requests, Errors   int64
	Rate               float64 // answered per second
	P50, P90, P99, Max float64 // milliseconds
}

// ParseResults reads the results CSV, checking every field.
func ParseResults(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("results: empty file, want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("results: header: %w", err)
	}
	if !slices.Equal(head, Header) && !slices.Equal(head, Header[:apiFields]) && !slices.Equal(head, Header[:legacyFields]) {
		return nil, fmt.Errorf("results: header %q, want %q", head, Header)
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		if len(rec) != len(head) {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("results line %d: %d fields, want %d", line, len(rec), len(head))
		}
		row, err := parseRow(rec)
		if err != nil {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("results line %d: %w", line, err)
		}
		rows = append(rows, row)
	}
}

func parseRow(rec []string) (Row, error) {
	row := Row{Extensions: -1}
	var err error
	if row.Run, err = strconv.Atoi(rec[0]); err != nil || row.Run < 1 {
		return row, fmt.Errorf("run %q is not a positive integer", rec[0])
	}
	row.Tool, row.Step, row.Status = rec[1], rec[2], rec[8]
	if !knownStep(row.Tool, row.Step) {
		return row, fmt.Errorf("unknown tool and step %q/%q", row.Tool, row.Step)
	}
	if row.Status != StatusOK && row.Status != StatusFailed && row.Status != StatusSkipped {
		return row, fmt.Errorf("status %q is not ok, failed or skipped", row.Status)
	}
	for i, dst := range []*float64{&row.Wall, &row.User, &row.Sys} {
		if *dst, err = parseSeconds(rec[3+i]); err != nil {
			return row, fmt.Errorf("%s: %w", Header[3+i], err)
		}
	}
	if row.MaxRSSKB, err = parseCount(rec[6], false); err != nil {
		return row, fmt.Errorf("max_rss_kb: %w", err)
	}
	if row.Stored, err = parseCount(rec[7], true); err != nil {
		return row, fmt.Errorf("stored_bytes: %w", err)
	}
	if len(rec) == legacyFields {
		return row, nil
	}
	a := &row.API
	for i, dst := range []*int64{&a.Requests, &a.Errors} {
		if *dst, err = parseCount(rec[9+i], false); err != nil {
			return row, fmt.Errorf("%s: %w", Header[9+i], err)
		}
	}
	for i, dst := range []*float64{&a.Rate, &a.P50, &a.P90, &a.P99, &a.Max} {
		if *dst, err = parseNumber(rec[11+i]); err != nil {
			return row, fmt.Errorf("%s: %w", Header[11+i], err)
		}
	}
	if a.Errors > a.Requests {
		return row, fmt.Errorf("%d errors in %d requests", a.Errors, a.Requests)
	}
	if a.P50 > a.P90 || a.P90 > a.P99 || a.P99 > a.Max {
		return row, fmt.Errorf("latency percentiles %v, %v, %v, %v out of order", a.P50, a.P90, a.P99, a.Max)
	}
	if len(rec) == apiFields {
		return row, nil
	}
	if row.Storage, err = parseStorage(rec[16]); err != nil {
		return row, fmt.Errorf("storage_requests: %w", err)
	}
	if rec[17] != "" {
		if row.Extensions, err = parseCount(rec[17], false); err != nil {
			return row, fmt.Errorf("retention_extensions: %w", err)
		}
	}
	if (row.Storage != nil || row.Extensions >= 0) && row.Tool != S3Tool {
		return row, fmt.Errorf("storage requests in a %s row: only %s rows have them", row.Tool, S3Tool)
	}
	return row, nil
}

var opNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)

// parseStorage reads "op=N op=N ...": S3 operation names, each once, with
// their request counts. An empty field is nil (not measured).
func parseStorage(s string) (map[string]int64, error) {
	if s == "" {
		return nil, nil
	}
	ops := map[string]int64{}
	for _, f := range strings.Split(s, " ") {
		op, n, ok := strings.Cut(f, "=")
		if !ok || !opNameRE.MatchString(op) {
			return nil, fmt.Errorf("%q is not op=count", f)
		}
		if _, dup := ops[op]; dup {
			return nil, fmt.Errorf("%s given twice", op)
		}
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v < 0 || v > 1e12 {
			return nil, fmt.Errorf("%s=%q is not a request count", op, n)
		}
		ops[op] = v
	}
	return ops, nil
}

// parseSeconds accepts an empty field (not measured) as zero.
func parseSeconds(s string) (float64, error) {
	v, err := parseNumber(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	return v, nil
}

// parseNumber reads a non-negative number up to 1e9; an empty field is 0.
func parseNumber(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 1e9 {
		return 0, fmt.Errorf("%q is not a non-negative number", s)
	}
	return v, nil
}

// parseCount reads a non-negative integer; an empty field is 0, or -1 when
// emptyUnknown is set.
func parseCount(s string, emptyUnknown bool) (int64, error) {
	if s == "" {
		if emptyUnknown {
			return -1, nil
		}
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a non-negative integer", s)
	}
	return v, nil
}
