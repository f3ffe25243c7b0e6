package main

import (
	"fmt"
	"slices"
	"strings"
)

// gb is the unit of the per-GB request figures: 10^9 bytes, as storage
// providers bill.
const gb = 1e9

// s3Share is the S3 part's wall time for a step over the same step's with
// the vault on the server's local disk (or, with reference "bunker", in
// local mode).
func (r *report) s3Share(reference, step string) (float64, bool) {
	s, sok := r.measured(S3Tool, step)
	l, lok := r.measured(reference, step)
	return ratio(s.Wall, l.Wall, sok, lok)
}

// utilS3 is the CPU utilisation of client, server and MinIO together.
func (r *report) utilS3(step string) (float64, bool) {
	c, cok := r.measured(S3Tool, step)
	s, sok := r.measured(S3Server, step)
	m, mok := r.measured(MinIO, step)
	return ratio(c.CPU+s.CPU+m.CPU, c.Wall, cok && sok && mok, cok)
}

// s3Figures returns a step's storage figures when a successful run
// recorded them.
func (r *report) s3Figures(step string) (StorageFigures, bool) {
	st, ok := r.measured(S3Tool, step)
	return st.S3, ok && st.S3.Runs > 0
}

// perGBStored is a step's requests over the GB the vault holds after it.
func (r *report) perGBStored(step string, requests float64) (float64, bool) {
	st, ok := r.measured(S3Tool, step)
	if !ok || st.Stored <= 0 {
		return 0, false
	}
	return requests / (st.Stored / gb), true
}

func (r *report) s3() {
	if !r.hasTool(S3Tool) {
		return
	}
	m := r.meta
	fmt.Fprintf(r.w, "## S3 vault (MinIO)\n\n")
	fmt.Fprintf(r.w, "bunker through its vault server as in [Server mode](#server-mode), with the vault on MinIO (%s) on loopback "+
		"instead of the server's data directory: each run starts a fresh MinIO with a fresh data directory, creates a %s, and "+
		"starts a fresh server with the bucket as an S3 target (`--s3 minio=s3://…?tls=off&lookup=path`, plain HTTP, path-style). "+
		"Every object the server writes carries compliance retention, which it extends as points need it, with a retention slack of %s. "+
		"The same backups (initial, unchanged, after the change) and the restore (checked against the corpus) as through the server "+
		"with a local vault. Client, server and MinIO share the machine's %s cores; the server's and MinIO's CPU time and peak RSS "+
		"are read from `/proc` as for the server part. Medians of %s.\n\n",
		m.Get("s3_minio_version"), m.Get("s3_vault"), m.Get("s3_retention_slack"), m.Get("cores"), plural(m.Get("runs"), "run"))
	r.s3Target()
	r.s3Resources()
	r.s3Requests()
}

func (r *report) s3Target() {
	fmt.Fprintf(r.w, "### Target: within %s of the local vault's time\n\n", fmtRatio(S3TimeGoal))
	fmt.Fprintf(r.w, "Backup and restore of the corpus with the vault on MinIO take at most %s the wall time of the same step "+
		"through the server with the vault on its local disk (tool bunker-server, same run). Local mode is shown for context.\n\n",
		fmtRatio(S3TimeGoal))
	var rows [][]string
	for _, name := range ServerModeSteps {
		l, lok := r.get(ServerTool, name)
		s, sok := r.get(S3Tool, name)
		b, bok := r.get("bunker", name)
		share, shok := r.s3Share(ServerTool, name)
		local, lcok := r.s3Share("bunker", name)
		rows = append(rows, []string{stepTitle(name), value(l, lok, l.Wall, fmtSeconds), value(s, sok, s.Wall, fmtSeconds),
			fmtMaybeRatio(share, shok), "≤ " + fmtRatio(S3TimeGoal), verdict(share, shok, S3TimeGoal),
			value(b, bok, b.Wall, fmtSeconds), fmtMaybeRatio(local, lcok), runs(s, sok)})
	}
	table(r.w, []string{"step", "local vault wall", "S3 vault wall", "S3 ÷ local vault", "target", "met",
		"local mode wall", "S3 ÷ local mode", "runs ok"}, rows)
}

func (r *report) s3Resources() {
	fmt.Fprintf(r.w, "### Resources\n\n")
	fmt.Fprintf(r.w, "CPU util is (client + server + MinIO CPU time) ÷ wall time. The stored size of the S3 vault is the bytes of every "+
		"object version under its prefix in the bucket (what a provider bills), beside `du -sb` of the local vault's directory.\n\n")
	var rows [][]string
	for _, name := range ServerModeSteps {
		c, cok := r.get(S3Tool, name)
		s, sok := r.get(S3Server, name)
		n, nok := r.get(MinIO, name)
		l, lok := r.get(ServerTool, name)
		u, uok := r.utilS3(name)
		stored := []string{none, none}
		if name != "restore" {
			stored = []string{value(l, lok, l.Stored, fmtMiB), value(c, cok, c.Stored, fmtMiB)}
		}
		rows = append(rows, append([]string{stepTitle(name),
			value(c, cok, c.CPU, fmtSeconds), value(s, sok, s.CPU, fmtSeconds), value(n, nok, n.CPU, fmtSeconds),
			fmtMaybe(u, uok, fmtUtil),
			value(c, cok, c.RSSKB*1024, fmtMiB), value(s, sok, s.RSSKB*1024, fmtMiB), value(n, nok, n.RSSKB*1024, fmtMiB)},
			stored...))
	}
	table(r.w, []string{"step", "client CPU", "server CPU", "MinIO CPU", "CPU util, client + server + MinIO",
		"client peak RSS", "server peak RSS", "MinIO peak RSS", "stored, local vault", "stored, S3 vault"}, rows)
}

func fmtCount(v float64) string { return fmt.Sprintf("%.0f", v) }

func fmtPerGB(v float64) string { return fmt.Sprintf("%.1f", v) }

func (r *report) s3Requests() {
	fmt.Fprintf(r.w, "### Storage requests\n\n")
	fmt.Fprintf(r.w, "Requests the server sent to MinIO during each step, by S3 operation: the difference of "+
		"`bunker_storage_requests_total{vault=\"bench\",op=…}` in the server's `/metrics` before and after the step (every attempt "+
		"counts, retries and multipart parts included), and of `bunker_retention_extensions_total` (storage objects whose "+
		"retention was extended). GB is 10^9 bytes.\n\n")
	var rows [][]string
	if f, ok := r.s3Figures("initial"); ok {
		st, _ := r.measured(S3Tool, "initial")
		per, pok := r.perGBStored("initial", f.Requests)
		rows = append(rows, []string{"requests per GB stored, initial backup",
			fmt.Sprintf("%s (%s requests; the vault holds %s after it)", fmtMaybe(per, pok, fmtPerGB), fmtCount(f.Requests), fmtMiB(st.Stored))})
	} else {
		rows = append(rows, []string{"requests per GB stored, initial backup", r.s3Missing("initial")})
	}
	var ext []string
	for _, name := range []string{"unchanged", "changed"} {
		if f, ok := r.s3Figures(name); ok {
			ext = append(ext, fmt.Sprintf("%s: %s", stepTitle(name), fmtCount(f.ByOp["PutObjectRetention"])))
		} else {
			ext = append(ext, fmt.Sprintf("%s: %s", stepTitle(name), r.s3Missing(name)))
		}
	}
	rows = append(rows, []string{"retention-extension requests (PutObjectRetention) per backup", strings.Join(ext, "; ")})
	var objs []string
	for _, name := range []string{"initial", "unchanged", "changed"} {
		if f, ok := r.s3Figures(name); ok {
			objs = append(objs, fmt.Sprintf("%s: %s", stepTitle(name), fmtCount(f.Extensions)))
		}
	}
	if len(objs) > 0 {
		rows = append(rows, []string{"storage objects whose retention was extended", strings.Join(objs, "; ")})
	}
	if f, ok := r.s3Figures("restore"); ok {
		per := none
		if b := atof(r.meta["corpus_bytes"]); b > 0 {
			per = fmtPerGB(f.Requests / (b / gb))
		}
		rows = append(rows, []string{"requests for the restore", fmt.Sprintf("%s (%s per GB restored)", fmtCount(f.Requests), per)})
	} else {
		rows = append(rows, []string{"requests for the restore", r.s3Missing("restore")})
	}
	table(r.w, []string{"figure", "measured"}, rows)

	// Every operation seen in any step, the most frequent first.
	totals := map[string]float64{}
	for _, name := range ServerModeSteps {
		if f, ok := r.s3Figures(name); ok {
			for op, n := range f.ByOp {
				totals[op] += n
			}
		}
	}
	if len(totals) == 0 {
		return
	}
	ops := make([]string, 0, len(totals))
	for op := range totals {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b string) int {
		if totals[a] != totals[b] {
			if totals[a] > totals[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	cell := func(name string, get func(StorageFigures) float64) string {
		if f, ok := r.s3Figures(name); ok {
			return fmtCount(get(f))
		}
		return r.s3Missing(name)
	}
	perGB := func(get func(StorageFigures) float64) string {
		f, ok := r.s3Figures("initial")
		if !ok {
			return none
		}
		v, vok := r.perGBStored("initial", get(f))
		return fmtMaybe(v, vok, fmtPerGB)
	}
	rows = nil
	for _, op := range ops {
		get := func(f StorageFigures) float64 { return f.ByOp[op] }
		rows = append(rows, []string{"`" + op + "`", cell("initial", get), perGB(get),
			cell("unchanged", get), cell("changed", get), cell("restore", get)})
	}
	all := func(f StorageFigures) float64 { return f.Requests }
	rows = append(rows, []string{"all", cell("initial", all), perGB(all), cell("unchanged", all), cell("changed", all), cell("restore", all)})
	extended := func(f StorageFigures) float64 { return f.Extensions }
	rows = append(rows, []string{"retention extended (objects)", cell("initial", extended), none, cell("unchanged", extended),
		cell("changed", extended), cell("restore", extended)})
	table(r.w, []string{"operation", "initial backup", "per GB stored", "unchanged re-backup", "backup after changing 5% of files",
		"full restore"}, rows)
}

// s3Missing says why a step has no storage figures.
func (r *report) s3Missing(step string) string {
	if st, ok := r.get(S3Tool, step); ok && st.OK == 0 {
		return "failed"
	}
	return none
}
