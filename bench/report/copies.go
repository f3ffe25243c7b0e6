package main

import (
	"fmt"
	"strconv"
	"strings"
)

// runFigure is the median over the runs of a figure recorded in the meta
// file as KEY_runN, and whether any run recorded it.
func (r *report) runFigure(key string) (float64, bool) {
	prefix := key + "_run"
	var v []float64
	for k, s := range r.meta {
		if _, err := strconv.Atoi(strings.TrimPrefix(k, prefix)); err != nil || !strings.HasPrefix(k, prefix) {
			continue
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			v = append(v, f)
		}
	}
	return median(v), len(v) > 0
}

// copyFigure is the median of a copy step's figure (copy_STEP_FIELD_runN).
func (r *report) copyFigure(step, field string) (float64, bool) {
	return r.runFigure("copy_" + step + "_" + field)
}

// schedFigure is the median of a scheduler figure (sched_FIELD_runN).
func (r *report) schedFigure(field string) (float64, bool) {
	return r.runFigure("sched_" + field)
}

// copySpeed is the direct backup's wall time over the pull's: the pull's
// speed as a share of the backup's, the data being the same.
func (r *report) copySpeed(backup, pull string) (float64, bool) {
	b, bok := r.measured(CopyTool, backup)
	p, pok := r.measured(CopyTool, pull)
	return ratio(b.Wall, p.Wall, bok, pok)
}

func (r *report) copies() {
	copies, sched := r.hasTool(CopyTool), r.hasTool(SchedTool)
	if !copies && !sched {
		return
	}
	fmt.Fprintf(r.w, "## Copies and scheduling\n\n")
	fmt.Fprintf(r.w, "Measured by `%s` on %s (%s; load average %s at the start, %s at the end).\n\n",
		r.meta.Get("command"), r.meta.Get("date"), plural(r.meta.Get("runs"), "run"), r.meta.Get("load_start"), r.meta.Get("load_end"))
	if copies {
		fmt.Fprintf(r.w, "Copies of points (docs/COPIES.md) between two `bunker server` processes on loopback, A the workload "+
			"site and B the central one, each with a fresh data directory, in the same runs: a service account backs the "+
			"corpus up into A's vault `bench` (a server-mode backup, as in [Server mode](#server-mode)); B, which has A "+
			"registered as a remote (`bunker remote add site-a` with the token of a restore-operator of `bench` on A, "+
			"`bunker server --pull-every 0` so that only the harness pulls), pulls that point into its vault `central` "+
			"(`bunker remote pull site-a --from bench latest --to central --json`, as B's vault-admin); then the same after "+
			"the change step. Last, a service account with restore-operator on `bench` and backup-operator on a second vault "+
			"`bench-copy` of A copies both points there (`bunker point copy --json`). The pull's wall time is that of the "+
			"command, which returns when B has sealed the copy. A and B share the machine's %s cores with the client. "+
			"Chunks and data read are the copy's own report (`blobs_read`, `bytes_read`: data chunks read from the source, "+
			"listings not counted); new data is what the destination did not hold (`bytes_new`); A wrote is the change of "+
			"A's `wchar` in `/proc/PID/io` over the step: everything A sent B, TLS included, plus A's own writes to its "+
			"log and database, so an upper bound on the bytes on the wire. Medians of %s.\n\n",
			r.meta.Get("cores"), plural(r.meta.Get("runs"), "run"))
	}
	r.copyTargets(copies, sched)
	if copies {
		r.copySteps()
	}
	if sched {
		r.schedSteps()
	}
}

func (r *report) copyTargets(copies, sched bool) {
	fmt.Fprintf(r.w, "### Targets\n\n")
	var rows [][]string
	if copies {
		for _, s := range [][2]string{{"backup", "pull"}, {"changed", "pull-changed"}} {
			share, ok := r.copySpeed(s[0], s[1])
			got := none
			if ok {
				b, _ := r.measured(CopyTool, s[0])
				p, _ := r.measured(CopyTool, s[1])
				got = fmt.Sprintf("%.0f%% (copy %s against backup %s: %s the backup's time)", share*100,
					fmtSeconds(p.Wall), fmtSeconds(b.Wall), fmtRatio(p.Wall/b.Wall))
			}
			what := "a copy of the corpus's point to a second server runs at ≥ 70% of a direct server-mode backup's speed"
			target, met := what, verdictAtLeast(share, ok, CopySpeedGoal)
			if s[0] == "changed" {
				// Reported beside the initial one, without a target.
				target, met = "the same for the point after the change (no target)", none
			}
			rows = append(rows, []string{target, got, met})
		}
		rd, rok := r.copyFigure("pull-changed", "bytes_read")
		cf, cok := r.copyFigure("changed", "file_bytes")
		rr, rrok := ratio(rd, cf, rok, cok)
		got := none
		if rrok {
			got = fmt.Sprintf("%s read against %s of changed files: %s", fmtMiB(rd), fmtMiB(cf), fmtRatio(rr))
		}
		rows = append(rows, []string{"only new chunks move: the copy of the changed point reads at most what the files the change step changed hold",
			got, verdict(rr, rrok, CopyChangedGoal)})
	}
	if sched {
		late, ok := r.schedFigure("recorded_max_ms")
		got := none
		if ok {
			p99, _ := r.schedFigure("recorded_p99_ms")
			p50, _ := r.schedFigure("recorded_p50_ms")
			got = fmt.Sprintf("max %s, p99 %s, median %s", fmtLate(late), fmtLate(p99), fmtLate(p50))
		}
		rows = append(rows, []string{fmt.Sprintf("%s plans due at once start within a second: each run recorded at most 1 s after its slot",
			r.meta.Get("sched_plans")), got, verdict(late, ok, SchedLateGoal)})
	}
	table(r.w, []string{"target", "measured", "met"}, rows)
}

func (r *report) copySteps() {
	fmt.Fprintf(r.w, "### Copies\n\n")
	var rows [][]string
	for _, s := range CopySteps {
		c, cok := r.get(CopyTool, s.Name)
		a, aok := r.get(CopyServerA, s.Name)
		b, bok := r.get(CopyServerB, s.Name)
		tp := none
		if cok && c.OK > 0 && (s.Name == "backup" || s.Name == "pull" || s.Name == "local-copy") {
			tp = r.throughput(c.Wall)
		}
		util, uok := ratio(c.CPU+a.CPU+b.CPU, c.Wall, cok && aok && bok && c.OK > 0 && a.OK > 0 && b.OK > 0, cok)
		row := []string{s.Title, value(c, cok, c.Wall, fmtSeconds), tp, value(c, cok, c.CPU, fmtSeconds),
			value(a, aok, a.CPU, fmtSeconds), value(b, bok, b.CPU, fmtSeconds), fmtMaybe(util, uok, fmtUtil),
			value(a, aok, a.RSSKB*1024, fmtMiB), value(b, bok, b.RSSKB*1024, fmtMiB)}
		if s.Name == "backup" || s.Name == "changed" {
			row = append(row, none, none, none)
		} else {
			n, nok := r.copyFigure(s.Name, "blobs_read")
			rd, rok := r.copyFigure(s.Name, "bytes_read")
			nw, nwok := r.copyFigure(s.Name, "bytes_new")
			ok := cok && c.OK > 0
			row = append(row, fmtMaybe(n, nok && ok, fmtCount), fmtMaybe(rd, rok && ok, fmtMiB), fmtMaybe(nw, nwok && ok, fmtMiB))
		}
		w, wok := r.copyFigure(s.Name, "a_wchar")
		row = append(row, fmtMaybe(w, wok && cok && c.OK > 0, fmtMiB), value(c, cok, c.Stored, fmtMiB))
		rows = append(rows, row)
	}
	table(r.w, []string{"step", "wall", "throughput", "client CPU", "A CPU", "B CPU", "CPU util, all", "A peak RSS", "B peak RSS",
		"chunks read", "data read", "new data", "A wrote", "stored after"}, rows)
	fmt.Fprintf(r.w, "Stored after is `du -sb` of the vault written to: A's `bench` after a backup, B's `central` after a pull, "+
		"A's `bench-copy` after a local copy. Throughput is the corpus size ÷ wall time.\n\n")

	cf, cfok := r.copyFigure("changed", "file_bytes")
	b, bok := r.measured(CopyTool, "backup")
	c, cok := r.measured(CopyTool, "changed")
	n, nok := r.copyFigure("pull-changed", "blobs_read")
	rd, rok := r.copyFigure("pull-changed", "bytes_read")
	w, wok := r.copyFigure("pull-changed", "a_wchar")
	full, fok := r.copyFigure("pull", "bytes_read")
	if cfok && bok && cok && nok && rok && wok && fok && full > 0 {
		job := ""
		if jb, ok := r.copyFigure("pull-changed", "job_bytes"); ok {
			job = fmt.Sprintf(" (its job on B, `bunker jobs show --json`, records %s)", fmtMiB(jb))
		}
		fmt.Fprintf(r.w, "**Only new chunks move.** The change step wrote %s bytes into %s files, which then hold %s; the "+
			"server-mode backup of the change grew A's vault by %s. B's pull of the changed point then read %s chunks, %s%s, "+
			"%s of what the pull of the first point read (%s), and A wrote %s meanwhile.\n\n",
			r.meta.Get("changed_bytes"), r.meta.Get("changed_files"), fmtMiB(cf), fmtMiB(c.Stored-b.Stored), fmtCount(n),
			fmtMiB(rd), job, fmtPercent(rd/full), fmtMiB(full), fmtMiB(w))
	}
}

func (r *report) schedSteps() {
	fmt.Fprintf(r.w, "### Scheduler\n\n")
	fmt.Fprintf(r.w, "`bench/schedbench` against a fresh `bunker server`: it applies one plan file of %s plans (`bunker apply`'s "+
		"`PUT /v1/plans`, as a vault-admin; one source on one host each, half of them `rate: every 1m`, half `cron: \"* * * * *\"`), "+
		"sent at least %s before the next minute so that every plan's first slot is that same second; then, as the "+
		"security-admin, it follows the event stream (`GET /v1/events?after=N`, a request every 10 ms while nothing is new) "+
		"until each plan's `plan.due` event is there. **Fired** is the event's time minus its slot: the server's clock "+
		"when its scheduler found the slot due (one look at the queue finds every plan due in that second, so they share "+
		"it). **Recorded** is when the poll that first returned the event was "+
		"answered, minus the slot: the server stores each run's queued job and its event in one transaction, so this "+
		"bounds from above when both were in the store (late by at most a poll interval and a request). Percentiles are "+
		"nearest rank over the plans of a run; the table gives their medians over %s.\n\n",
		r.meta.Get("sched_plans"), r.meta.Get("sched_lead"), plural(r.meta.Get("runs"), "run"))
	_, ok := r.measured(SchedTool, StepSchedPlans)
	srv, sok := r.measured(SchedServer, StepSchedPlans)
	get := func(field string, f func(float64) string) string {
		v, vok := r.schedFigure(field)
		return fmtMaybe(v, vok && ok, f)
	}
	rows := [][]string{
		{"plans applied in one file (the apply request)", get("apply_s", fmtSeconds)},
		{"time left between the apply's answer and the slot", get("lead_s", fmtSeconds)},
		{"plans reported due (of " + r.meta.Get("sched_plans") + ")", get("due", fmtCount)},
		{"plans reported missed", get("missed", fmtCount)},
		{"fired late by: median, p99, max", strings.Join([]string{get("fired_p50_ms", fmtLate), get("fired_p99_ms", fmtLate), get("fired_max_ms", fmtLate)}, ", ")},
		{"recorded late by: first, median, p99, max", strings.Join([]string{get("recorded_first_ms", fmtLate), get("recorded_p50_ms", fmtLate),
			get("recorded_p99_ms", fmtLate), get("recorded_max_ms", fmtLate)}, ", ")},
		{"event polls, and their median round trip", get("polls", fmtCount) + ", " + get("poll_p50_ms", fmtLate)},
		{"server CPU time and peak RSS over the whole step", value(srv, sok, srv.CPU, fmtSeconds) + ", " + value(srv, sok, srv.RSSKB*1024, fmtMiB)},
	}
	table(r.w, []string{"measure", "median of the runs"}, rows)
	first, fok := r.schedFigure("recorded_first_ms")
	last, lok := r.schedFigure("recorded_max_ms")
	n := atof(r.meta["sched_plans"])
	if ok && fok && lok && n > 1 {
		fmt.Fprintf(r.w, "From the first plan recorded to the last, each plan took %.1f ms more (the medians of the first and the "+
			"largest lateness over %.0f plans): the server records the plans due in one second one after another, "+
			"each in a transaction of its own.\n\n", (last-first)/(n-1), n-1)
	}
}

// fmtLate formats milliseconds of lateness.
func fmtLate(ms float64) string {
	switch {
	case ms >= 1000 || ms <= -1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms < 10 && ms > -10:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func fmtPercent(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }
