package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// scanFigure is the median over the runs of a scan step's figure recorded
// in the meta file (scan_STEP_FIELD_runN), and whether any run recorded it.
func (r *report) scanFigure(step, field string) (float64, bool) {
	prefix := "scan_" + step + "_" + field + "_run"
	var v []float64
	for k, s := range r.meta {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			v = append(v, f)
		}
	}
	return median(v), len(v) > 0
}

// scanLevels lists the verdicts a scan step gave over the runs.
func (r *report) scanLevels(step string) string {
	prefix := "scan_" + step + "_level_run"
	var levels []string
	for k, s := range r.meta {
		if strings.HasPrefix(k, prefix) {
			levels = append(levels, s)
		}
	}
	if len(levels) == 0 {
		return none
	}
	slices.Sort(levels)
	return strings.Join(slices.Compact(levels), ", ")
}

// scanThroughput is a scan step's changed data over its CPU time.
func (r *report) scanThroughput(step string) (float64, bool) {
	st, ok := r.measured(ScanTool, step)
	b, bok := r.scanFigure(step, "bytes_changed")
	return ratio(b, st.CPU, ok && bok && b > 0, ok)
}

func (r *report) scanning() {
	if !r.hasTool(ScanTool) {
		return
	}
	fmt.Fprintf(r.w, "## Scanning for ransomware\n\n")
	fmt.Fprintf(r.w, "`bunker scan --vault VAULT POINT --previous POINT --json` on the local vault of bunker's sequence above, after its "+
		"check: the initial point (no previous point: every file is new and judged), the unchanged point against the initial one, "+
		"and the changed point against the unchanged one; then, for comparison, a restore of only the files the change step "+
		"changed (`bunker restore --include`, one per file). Changed data is the size of the files the scanner examined "+
		"(`bytes_changed`), read what it read of their new and previous versions (`bytes_read`: large files are sampled). "+
		"Throughput per core is changed data ÷ the scan's CPU time (user + sys of the whole command: opening the vault, "+
		"comparing the trees, reading and judging). Wall and CPU times are of the whole command. Medians of %s.\n\n",
		plural(r.meta.Get("runs"), "run"))
	r.scanTargets()
	r.scanSteps()
}

func (r *report) scanTargets() {
	fmt.Fprintf(r.w, "### Targets\n\n")
	var rows [][]string
	u, uok := r.measured(ScanTool, "scan-unchanged")
	rows = append(rows, []string{fmt.Sprintf("an unchanged point scans in under %s", fmtSeconds(ScanUnchangedGoal)),
		fmtMaybe(u.Wall, uok, fmtSeconds), verdict(u.Wall, uok, ScanUnchangedGoal)})
	c, cok := r.measured(ScanTool, "scan-changed")
	rd, rok := r.measured(ScanTool, "read-changed")
	rr, rrok := ratio(c.Wall, rd.Wall, cok, rok)
	got := none
	if rrok {
		got = fmt.Sprintf("%s (%s against %s)", fmtRatio(rr), fmtSeconds(c.Wall), fmtSeconds(rd.Wall))
	}
	rows = append(rows, []string{fmt.Sprintf("a point with 5%% of files changed scans in at most %s the time of reading those files", fmtRatio(ScanReadGoal)),
		got, verdict(rr, rrok, ScanReadGoal)})
	for _, step := range []string{"scan-changed", "scan-initial"} {
		tp, tok := r.scanThroughput(step)
		rows = append(rows, []string{fmt.Sprintf("throughput on changed data, %s: at least %s per core", step, fmtMBps(ScanThroughputGoal)),
			fmtMaybe(tp, tok, fmtMBps), verdictAtLeast(tp, tok, ScanThroughputGoal)})
	}
	vr, vok := r.ratioOf("bunker", Step{Name: "check"}, wallMeasure)
	rows = append(rows, []string{"verification of the whole corpus (`bunker check --read-data`) at least as fast as `restic check --read-data`",
		fmtMaybeRatio(vr, vok), verdict(vr, vok, VerifyGoal)})
	table(r.w, []string{"target", "measured", "met"}, rows)
}

func (r *report) scanSteps() {
	fmt.Fprintf(r.w, "### Steps\n\n")
	var rows [][]string
	for _, s := range ScanSteps {
		_, ok := r.measured(ScanTool, s.Name)
		row := []string{s.Title, r.cell(ScanTool, s.Name, wallMeasure), r.cell(ScanTool, s.Name, cpuMeasure)}
		if s.Name == "read-changed" {
			row = append(row, none, none, none, none, none)
			rows = append(rows, row)
			continue
		}
		ex, exok := r.scanFigure(s.Name, "examined")
		ch, chok := r.scanFigure(s.Name, "bytes_changed")
		rdb, rdok := r.scanFigure(s.Name, "bytes_read")
		tp, tok := r.scanThroughput(s.Name)
		row = append(row, fmtMaybe(ex, exok && ok, fmtCount), fmtMaybe(ch, chok && ok, fmtMiB), fmtMaybe(rdb, rdok && ok, fmtMiB),
			fmtMaybe(tp, tok, fmtMBps), r.scanLevels(s.Name))
		rows = append(rows, row)
	}
	table(r.w, []string{"step", "wall", "CPU", "files examined", "changed data", "read", "per core", "verdict"}, rows)
	fmt.Fprintf(r.w, "The change step overwrites a few hundred bytes in the middle of every 20th file with random bytes and appends "+
		"a line: compressed files (the `.gz` of /usr/share/doc) and text files it leaves broken, which the scanner reports as weak "+
		"evidence (a structure broken in a few places, not rewritten); enough of them make that point suspicious.\n\n")
}

func fmtMBps(bytesPerSecond float64) string {
	return fmt.Sprintf("%.0f MB/s", bytesPerSecond/1e6)
}
