package main

import (
	"fmt"
	"io"
	"strings"
)

// table writes a Markdown table.
func table(w io.Writer, header []string, rows [][]string) {
	line := func(cells []string) {
		escaped := make([]string, len(cells))
		for i, c := range cells {
			escaped[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(escaped, " | "))
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	fmt.Fprintln(w)
}

func fmtSeconds(s float64) string {
	if s < 10 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

func fmtMiB(bytes float64) string {
	return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
}

func fmtRatio(r float64) string {
	return fmt.Sprintf("%.2f×", r)
}

const none = "—"

// value formats one measure of a tool's step, saying when runs failed.
func value(st Stat, present bool, v float64, f func(float64) string) string {
	switch {
	case !present:
		return none
	case st.OK == 0:
		return "failed"
	case v < 0:
		return none
	case st.Failed > 0:
		return fmt.Sprintf("%s (%d failed)", f(v), st.Failed)
	default:
		return f(v)
	}
}

// ratio returns a/b when both were measured.
func ratio(a, b float64, okA, okB bool) (float64, bool) {
	if !okA || !okB || a < 0 || b <= 0 {
		return 0, false
	}
	return a / b, true
}

func fmtMaybeRatio(r float64, ok bool) string {
	if !ok {
		return none
	}
	return fmtRatio(r)
}

// verdict says whether a ratio meets its goal (at or below it).
func verdict(r float64, ok bool, goal float64) string {
	switch {
	case !ok:
		return none
	case r <= goal:
		return "yes"
	default:
		return "**no**"
	}
}
