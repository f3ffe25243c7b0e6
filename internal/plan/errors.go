package plan

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is what every FieldError is; test with errors.Is.
var ErrInvalid = errors.New("invalid plan")

// FieldError is a refusal of one field of one plan.
type FieldError struct {
	Plan  string // the plan's name; "#2" for the second plan of a file when it has none
	Field string // the field's path, e.g. "schedule.cron", "sources[1].paths"; "" for the plan itself
	Line  int    // the field's line in the file; 0 when not read from a file
	Msg   string
	// Err is the cause the message comes from, if any (e.g.
	// retention.ErrBounds).
	Err error
}

// Error reads as `plan "db": schedule.cron (line 4): expected 5 fields, got 4`.
func (e *FieldError) Error() string {
	var b strings.Builder
	if strings.HasPrefix(e.Plan, "#") {
		fmt.Fprintf(&b, "plan %s", e.Plan)
	} else {
		fmt.Fprintf(&b, "plan %q", e.Plan)
	}
	switch {
	case e.Field != "" && e.Line > 0:
		fmt.Fprintf(&b, ": %s (line %d)", e.Field, e.Line)
	case e.Field != "":
		fmt.Fprintf(&b, ": %s", e.Field)
	case e.Line > 0:
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalid and the cause.
func (e *FieldError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// maxErrors bounds the refusals reported for one file.
const maxErrors = 50

// Errors is every refusal found, in file order. It is returned as an error
// only when it holds at least one.
type Errors []*FieldError

// Error lists the refusals, one to a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the refusals.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns es as an error, nil when empty.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
