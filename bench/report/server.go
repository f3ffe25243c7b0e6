package main

import "fmt"

// measured returns a step's Stat and whether it succeeded in some run.
func (r *report) measured(tool, step string) (Stat, bool) {
	st, ok := r.get(tool, step)
	return st, ok && st.OK > 0
}

// throughputShare is server-mode throughput over local mode's for a step:
// local wall time over server-mode wall time, the data being the same.
func (r *report) throughputShare(step string) (float64, bool) {
	l, lok := r.measured("bunker", step)
	s, sok := r.measured(ServerTool, step)
	return ratio(l.Wall, s.Wall, lok, sok)
}

// utilBoth is the CPU utilisation of client and server together in a step.
func (r *report) utilBoth(step string) (float64, bool) {
	c, cok := r.measured(ServerTool, step)
	s, sok := r.measured(ServerProc, step)
	return ratio(c.CPU+s.CPU, c.Wall, cok && sok, cok)
}

// apiMet says whether a read endpoint met its target: p99 below the goal,
// no errors, and the asked rate (when known) achieved.
func (r *report) apiMet(st Stat) bool {
	rate := atof(r.meta["server_api_rate"])
	return st.Failed == 0 && st.API.Errors == 0 && st.API.P99 < APIP99Goal && (rate <= 0 || st.API.Rate >= APIRateShare*rate)
}

func (r *report) server() {
	if !r.hasTool(ServerTool) {
		return
	}
	fmt.Fprintf(r.w, "## Server mode\n\n")
	fmt.Fprintf(r.w, "bunker backing up into and restoring from its vault server (`bunker server`: HTTPS on loopback, its self-signed "+
		"certificate pinned by fingerprint), in the same run as local mode and on the same corpus; each run starts a fresh server "+
		"with a fresh data directory and key file and stops it at the end. Server and clients share the machine's %s cores. "+
		"Client figures come from GNU time; the server's CPU time is the change of its utime+stime in `/proc/PID/stat` "+
		"over the step, its peak RSS the `VmHWM` of `/proc/PID/status`, reset at the start of each step. CPU util is "+
		"(client + server CPU time) ÷ wall time. Medians of %s.\n\n", r.meta.Get("cores"), plural(r.meta.Get("runs"), "run"))
	r.serverTargets()
	r.serverSteps()
	r.serverParallel()
	r.serverAPI()
}

func (r *report) serverTargets() {
	fmt.Fprintf(r.w, "### Targets\n\n")
	var rows [][]string

	share, ok := r.throughputShare("initial")
	got := none
	if ok {
		l, _ := r.measured("bunker", "initial")
		s, _ := r.measured(ServerTool, "initial")
		got = fmt.Sprintf("%.0f%% (%s against %s)", share*100, r.throughput(s.Wall), r.throughput(l.Wall))
	}
	rows = append(rows, []string{fmt.Sprintf("server-mode initial backup: throughput at least %.0f%% of local mode's", ThroughputGoal*100),
		got, verdictAtLeast(share, ok, ThroughputGoal)})

	clients := r.meta.Get("server_clients")
	par, pok := r.get(ServerTool, StepParallel)
	allOK := none
	if pok {
		allOK = "yes"
		if par.Failed > 0 || par.OK == 0 {
			allOK = "**no**"
		}
	}
	rows = append(rows, []string{clients + " clients backing up into one vault at once: all succeed", "runs ok: " + runs(par, pok), allOK})

	fr, fok := r.fleetRatio()
	rows = append(rows, []string{fmt.Sprintf("… and store at most %s what one local backup of all their data stores", fmtRatio(FleetStoredGoal)),
		fmtMaybeRatio(fr, fok), verdict(fr, fok, FleetStoredGoal)})

	for _, s := range APISteps {
		st, sok := r.measured(ServerTool, s.Name)
		got, met := none, none
		if sok {
			got = fmt.Sprintf("p99 %s at %.1f/s, %d errors", fmtMs(st.API.P99), st.API.Rate, st.API.Errors)
			met = "yes"
			if !r.apiMet(st) {
				met = "**no**"
			}
		} else if st.Failed > 0 {
			got, met = "failed", "**no**"
		}
		rows = append(rows, []string{fmt.Sprintf("read API, %s: p99 under %.0f ms at %s requests/s", s.Title, APIP99Goal, r.meta.Get("server_api_rate")),
			got, met})
	}
	table(r.w, []string{"target", "measured", "met"}, rows)
}

// throughput formats the corpus size over a wall time.
func (r *report) throughput(wall float64) string {
	bytes := atof(r.meta["corpus_bytes"])
	if bytes <= 0 || wall <= 0 {
		return none
	}
	return fmtMiBps(bytes / wall)
}

func (r *report) serverSteps() {
	fmt.Fprintf(r.w, "### Backup and restore through the server\n\n")
	fmt.Fprintf(r.w, "The sequence of the comparison above, through the server: a service account with backup-operator on the vault "+
		"backs up, a service account with restore-operator restores (and the restore is checked against the corpus). "+
		"Throughput is the corpus size ÷ wall time.\n\n")
	var rows [][]string
	for _, name := range ServerModeSteps {
		l, lok := r.get("bunker", name)
		s, sok := r.get(ServerTool, name)
		share, shok := r.throughputShare(name)
		target, met := none, none
		if name == "initial" {
			target, met = "≥ "+fmtRatio(ThroughputGoal), verdictAtLeast(share, shok, ThroughputGoal)
		}
		lt, st := none, none
		if lok && l.OK > 0 {
			lt = r.throughput(l.Wall)
		}
		if sok && s.OK > 0 {
			st = r.throughput(s.Wall)
		}
		rows = append(rows, []string{stepTitle(name), value(l, lok, l.Wall, fmtSeconds), value(s, sok, s.Wall, fmtSeconds),
			lt, st, fmtMaybeRatio(share, shok), target, met})
	}
	table(r.w, []string{"step", "local wall", "server-mode wall", "local throughput", "server-mode throughput",
		"server ÷ local throughput", "target", "met"}, rows)

	rows = nil
	for _, name := range ServerModeSteps {
		l, lok := r.get("bunker", name)
		c, cok := r.get(ServerTool, name)
		p, pok := r.get(ServerProc, name)
		u, uok := r.utilBoth(name)
		stored := []string{none, none}
		if name != "restore" {
			stored = []string{value(l, lok, l.Stored, fmtMiB), value(c, cok, c.Stored, fmtMiB)}
		}
		rows = append(rows, append([]string{stepTitle(name),
			value(c, cok, c.CPU, fmtSeconds), value(p, pok, p.CPU, fmtSeconds), fmtMaybe(u, uok, fmtUtil),
			value(l, lok, l.Util(), fmtUtil), value(c, cok, c.RSSKB*1024, fmtMiB), value(p, pok, p.RSSKB*1024, fmtMiB)},
			stored...))
	}
	table(r.w, []string{"step", "client CPU", "server CPU", "CPU util, client + server", "CPU util, local mode",
		"client peak RSS", "server peak RSS", "stored, local", "stored, server mode"}, rows)
}

// fleetRatio is what the clients stored together over what one local
// backup of all their data stored.
func (r *report) fleetRatio() (float64, bool) {
	p, pok := r.measured(ServerTool, StepParallel)
	u, uok := r.measured(ServerTool, StepUnionLocal)
	return ratio(p.Stored, u.Stored, pok && p.Failed == 0, uok)
}

func (r *report) serverParallel() {
	m := r.meta
	fmt.Fprintf(r.w, "### %s clients at once\n\n", m.Get("server_clients"))
	fmt.Fprintf(r.w, "Each client has its own service account, token and host name, and backs up into the vault `fleet` "+
		"(fresh, apart from the one above) a tree of its own: a common part that all of them hold, and a slice of the corpus that only "+
		"it holds (`corpusgen split`: hard links to the corpus, the largest files placed first where the most of each share "+
		"is free). Together their trees hold the corpus once, so one local backup of all of them is what the vault "+
		"should store if every shared chunk is stored once.\n\n")
	p, pok := r.get(ServerTool, StepParallel)
	s, sok := r.get(ServerProc, StepParallel)
	u, uok := r.get(ServerTool, StepUnionLocal)
	clientsBytes, uniqueBytes := atof(m["fleet_clients_bytes"]), atof(m["fleet_unique_bytes"])
	rate := none
	if pok && p.OK > 0 && clientsBytes > 0 && p.Wall > 0 {
		rate = fmtMiBps(clientsBytes / p.Wall)
	}
	util, utilOK := r.utilBoth(StepParallel)
	fr, fok := r.fleetRatio()
	estimate := none
	if uok && u.OK > 0 && u.Stored >= 0 && clientsBytes > 0 && uniqueBytes > 0 {
		estimate = "≈ " + fmtMiB(u.Stored*clientsBytes/uniqueBytes)
	}
	table(r.w, []string{"", ""}, [][]string{
		{"data", fmt.Sprintf("common part %s, slices of %s to %s: %s backed up in all (the common part once per client), %s of it unique",
			fmtMiB(atof(m["fleet_common_bytes"])), fmtMiB(atof(m["fleet_part_bytes_min"])), fmtMiB(atof(m["fleet_part_bytes_max"])),
			fmtMiB(clientsBytes), fmtMiB(uniqueBytes))},
		{"wall time, until the last client finished", value(p, pok, p.Wall, fmtSeconds)},
		{"aggregate throughput (data backed up ÷ wall time)", rate},
		{"CPU time: all clients, server", value(p, pok, p.CPU, fmtSeconds) + ", " + value(s, sok, s.CPU, fmtSeconds)},
		{"CPU util, clients + server", fmtMaybe(util, utilOK, fmtUtil)},
		{"peak RSS: largest client, server", value(p, pok, p.RSSKB*1024, fmtMiB) + ", " + value(s, sok, s.RSSKB*1024, fmtMiB)},
		{"stored in the vault", value(p, pok, p.Stored, fmtMiB)},
		{"stored by one local backup of all their data", value(u, uok, u.Stored, fmtMiB) + " (took " + value(u, uok, u.Wall, fmtSeconds) + ")"},
		{"vault ÷ local backup of all their data", fmt.Sprintf("%s (target ≤ %s: %s)", fmtMaybeRatio(fr, fok), fmtRatio(FleetStoredGoal), verdict(fr, fok, FleetStoredGoal))},
		{"had each client stored its common part anew (estimate: local backup × data backed up ÷ unique data)", estimate},
		{"runs ok", runs(p, pok)},
	})
}

func (r *report) serverAPI() {
	m := r.meta
	fmt.Fprintf(r.w, "### Read API under load\n\n")
	small, smok := r.get(ServerTool, StepSmall)
	smallSrv, ssok := r.get(ServerProc, StepSmall)
	each := none
	if n := atof(m["server_small"]); smok && small.OK > 0 && n > 0 {
		each = fmtMs(small.Wall * 1000 / n)
	}
	fmt.Fprintf(r.w, "The vault `bench` holds %s points: those of the server-mode backups above and %s small backups "+
		"(a tree of three small files, one of them changed each time), made one after another in %s: %s each, with %s of client CPU and %s of server CPU in all. "+
		"`bench/loadgen` then sends each endpoint %s requests/s for %s s, after a 1 s warm-up at the same rate, open loop: requests go out "+
		"on schedule whether or not earlier ones have been answered, and each one's latency runs from its scheduled time to the end "+
		"of its answer, over %s with the certificate pinned. The token is the restore account's, which may read the vault and its points.\n\n",
		m.Get("server_points"), m.Get("server_small"), value(small, smok, small.Wall, fmtSeconds), each,
		value(small, smok, small.CPU, fmtSeconds), value(smallSrv, ssok, smallSrv.CPU, fmtSeconds),
		m.Get("server_api_rate"), m.Get("server_api_seconds"), m.Get("server_api_proto"))
	var rows [][]string
	for _, s := range APISteps {
		st, ok := r.get(ServerTool, s.Name)
		a := st.API
		ms := func(v float64) string { return value(st, ok, v, fmtMs) }
		met := none
		if ok && st.OK > 0 {
			met = "yes"
			if !r.apiMet(st) {
				met = "**no**"
			}
		}
		u, uok := r.utilBoth(s.Name)
		rows = append(rows, []string{s.Title, value(st, ok, a.Rate, func(v float64) string { return fmt.Sprintf("%.1f/s", v) }),
			value(st, ok, float64(a.Requests), func(v float64) string { return fmt.Sprintf("%.0f", v) }),
			value(st, ok, float64(a.Errors), func(v float64) string { return fmt.Sprintf("%.0f", v) }),
			ms(a.P50), ms(a.P90), ms(a.P99), ms(a.Max), fmt.Sprintf("< %.0f ms", APIP99Goal), met, fmtMaybe(u, uok, fmtUtil), runs(st, ok)})
	}
	table(r.w, []string{"endpoint", "answered", "requests per run", "errors, all runs", "p50", "p90", "p99", "max",
		"p99 target", "met", "CPU util, client + server", "runs ok"}, rows)
}

func fmtMs(v float64) string { return fmt.Sprintf("%.2f ms", v) }

func fmtMiBps(bytesPerSecond float64) string {
	return fmt.Sprintf("%.1f MiB/s", bytesPerSecond/(1<<20))
}

func fmtMaybe(v float64, ok bool, f func(float64) string) string {
	if !ok {
		return none
	}
	return f(v)
}

// verdictAtLeast says whether a ratio meets a goal it must reach.
func verdictAtLeast(r float64, ok bool, goal float64) string {
	switch {
	case !ok:
		return none
	case r >= goal:
		return "yes"
	default:
		return "**no**"
	}
}
