package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/agent"
	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
)

// agentWorld is a server with vault prod, a vault-admin (and auditor) who
// applies plans, and a service account with backup-operator on prod.
type agentWorld struct {
	s      *servertest.Server
	vadmin *client.Client
	host   *client.Client
	ops    *client.Client // restore-operator on prod
}

func newAgentWorld(t *testing.T) *agentWorld {
	t.Helper()
	s, vadmin := planServer(t, servertest.Options{})
	return &agentWorld{s: s, vadmin: vadmin, host: s.Service(t, "agent1", "backup-operator@prod"),
		ops: s.User(t, "ops", "restore-operator@prod")}
}

// due applies file and moves the clock to the plans' first run, an hour
// on, and waits until the server queued want jobs.
func (w *agentWorld) due(t *testing.T, file string, want int) {
	t.Helper()
	apply(t, w.vadmin, file, client.ApplyOptions{})
	w.s.Clock.Advance(time.Hour)
	waitFor(t, "the queued runs", func() bool { return len(jobsOf(t, w.vadmin, "plan")) == want })
}

func runAgent(t *testing.T, c *client.Client, host string) []agent.Outcome {
	t.Helper()
	a, err := agent.New(agent.Config{Client: c, Host: host, ProgressEvery: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Once(context.Background())
	if err != nil {
		t.Fatalf("agent for %s: %v", host, err)
	}
	return out
}

func planJob(t *testing.T, c *client.Client, host string) store.Job {
	t.Helper()
	for _, j := range jobsOf(t, c, "plan") {
		if j.Detail["host"] == host {
			return j
		}
	}
	t.Fatalf("no plan job for host %s", host)
	return store.Job{}
}

// An agent runs a due plan: its hooks, its sources (paths less excludes,
// and a command's output), into the plan's vault; the job succeeds, the
// points are there with the right files, and the next run comes due as
// usual.
func TestAgentRunsAPlan(t *testing.T) {
	w := newAgentWorld(t)
	ctx := context.Background()
	src, marks := t.TempDir(), t.TempDir()
	for name, data := range map[string]string{"a.txt": "alpha", "sub/b.txt": "beta", "sub/c.tmp": "scratch"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := `name: files
schedule:
  rate: every 1h
start_window: 10m
vault: prod
sources:
  - host: h1
    paths: [` + src + `]
    excludes: ["*.tmp"]
  - host: h1
    stdin:
      command: [/bin/sh, -c, "echo dump of $0", shop]
      name: shop.dump
  - host: h2
    paths: [/nonexistent/srv]
hooks:
  pre:
    - argv: [/bin/sh, -c, 'echo "$BUNKER_PLAN $BUNKER_HOST" > ` + marks + `/pre']
  post:
    - argv: [/usr/bin/touch, ` + marks + `/post]
`
	w.due(t, file, 2)
	// The agent sees only its host's sources.
	plans, err := w.host.AgentPlans(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if len(plans.Plans) != 1 || len(plans.Plans[0].Sources) != 2 || plans.Plans[0].Sources[0].Host != "h1" {
		t.Fatalf("plans for h1: %+v", plans)
	}
	out := runAgent(t, w.host, "h1")
	if len(out) != 1 || out[0].Report.State != api.RunSucceeded || len(out[0].Report.Points) != 2 {
		t.Fatalf("outcomes %+v", out)
	}
	if b, err := os.ReadFile(filepath.Join(marks, "pre")); err != nil || string(b) != "files h1\n" {
		t.Fatalf("pre hook wrote %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(marks, "post")); err != nil {
		t.Fatalf("post hook: %v", err)
	}
	j := planJob(t, w.vadmin, "h1")
	if j.State != store.JobSucceded || j.Detail["agent"] != "agent1" || !j.Started.Equal(w.s.Clock.Now()) || j.Bytes == 0 {
		t.Fatalf("job %+v", j)
	}
	// The agent reported its progress: the files and bytes it read.
	if j.Progress.Phase != "done" || j.Progress.ItemsDone < 3 || j.Progress.BytesDone < int64(len("alphabeta")) {
		t.Fatalf("progress %+v", j.Progress)
	}
	if pts, _ := j.Detail["points"].([]any); len(pts) != 2 {
		t.Fatalf("job points %v", j.Detail["points"])
	}
	// The files, less the excluded one.
	target := restoreFrom(t, w.ops, "prod", out[0].Report.Points[0])
	for name, want := range map[string]string{"a.txt": "alpha", "sub/b.txt": "beta"} {
		if b, err := os.ReadFile(filepath.Join(target, src, name)); err != nil || string(b) != want {
			t.Fatalf("restored %s: %q, %v", name, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(target, src, "sub/c.tmp")); !os.IsNotExist(err) {
		t.Fatalf("excluded file restored: %v", err)
	}
	target = restoreFrom(t, w.ops, "prod", out[0].Report.Points[1])
	if b, err := os.ReadFile(filepath.Join(target, "shop.dump")); err != nil || string(b) != "dump of shop\n" {
		t.Fatalf("restored stdin source: %q, %v", b, err)
	}
	pt, err := w.ops.Point(ctx, "prod", out[0].Report.Points[0])
	if err != nil {
		t.Fatal(err)
	}
	if pt.Hostname != "h1" || !strings.Contains(strings.Join(pt.Tags, ","), "plan:files") {
		t.Fatalf("point %+v", pt.Point)
	}
	if ev := eventsOf(t, w.vadmin, "plan.started"); len(ev) != 1 || ev[0].Data["host"] != "h1" {
		t.Fatalf("plan.started %+v", ev)
	}
	if ev := eventsOf(t, w.vadmin, "plan.succeeded"); len(ev) != 1 || ev[0].Data["plan"] != "files" {
		t.Fatalf("plan.succeeded %+v", ev)
	}
	// Nothing more is queued for h1; h2's run waits for its own agent.
	if again := runAgent(t, w.host, "h1"); len(again) != 0 {
		t.Fatalf("second pass ran %+v", again)
	}
	if j := planJob(t, w.vadmin, "h2"); j.State != store.JobQueued {
		t.Fatalf("h2's job %+v", j)
	}
	if out := runAgent(t, w.host, "h2"); len(out) != 1 || out[0].Report.State != api.RunFailed {
		t.Fatalf("h2 without /srv: %+v", out)
	}
	// With both hosts done, the run is over: the next slot runs, rather
	// than being missed as busy.
	w.s.Clock.Advance(time.Hour)
	waitFor(t, "the next run", func() bool { return len(jobsOf(t, w.vadmin, "plan")) == 4 })
	if ev := eventsOf(t, w.vadmin, "plan.missed"); len(ev) != 0 {
		t.Fatalf("missed %+v", ev)
	}
	if out := runAgent(t, w.host, "h1"); len(out) != 1 || out[0].Report.State != api.RunSucceeded {
		t.Fatalf("second run %+v", out)
	}
	audit, err := w.vadmin.Audit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range audit.Entries {
		if e.Actor == "agent1" {
			n[e.Action]++
		}
	}
	if n["agent.claim"] != 3 || n["agent.finish"] != 3 {
		t.Fatalf("audit entries of the agent: %v", n)
	}
}

// A run that starts is watched for its completion window: still going past
// it, it is reported overdue.
func TestAgentClaimStartsTheCompletionWindow(t *testing.T) {
	w := newAgentWorld(t)
	ctx := context.Background()
	w.due(t, `name: slow
schedule:
  rate: every 1h
start_window: 10m
completion_window: 20m
vault: prod
sources:
  - host: h1
    paths: [/nonexistent/srv]
`, 1)
	job, err := w.host.ClaimJob(ctx, "h1")
	if err != nil || job == nil {
		t.Fatalf("claim: %v, %v", job, err)
	}
	if job.Plan.Name != "slow" || job.Host != "h1" || !job.Started.Equal(w.s.Clock.Now()) {
		t.Fatalf("claimed %+v", job)
	}
	// Past the start window the started run is not missed…
	w.s.Clock.Advance(15 * time.Minute)
	time.Sleep(1500 * time.Millisecond)
	if ev := eventsOf(t, w.vadmin, "plan.missed"); len(ev) != 0 {
		t.Fatalf("a started run was missed: %+v", ev)
	}
	// …but past its completion window it is overdue.
	w.s.Clock.Advance(10 * time.Minute)
	waitFor(t, "the overdue run", func() bool { return len(eventsOf(t, w.vadmin, "plan.overdue")) == 1 })
	if err := w.host.JobProgress(ctx, job.ID, api.ProgressRequest{Phase: "backup", BytesDone: 10, FilesDone: 1}); err != nil {
		t.Fatal(err)
	}
	if j := planJob(t, w.vadmin, "h1"); j.State != store.JobRunning || j.Progress.BytesDone != 10 || j.Progress.ItemsDone != 1 {
		t.Fatalf("job %+v", j)
	}
	if err := w.host.FinishJob(ctx, job.ID, api.FinishRequest{State: "done"}); !client.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "state") {
		t.Fatalf("finish with a bad state: %v", err)
	}
	if err := w.host.FinishJob(ctx, job.ID, api.FinishRequest{State: api.RunSucceeded, Points: []string{"0123456789abcdef"}}); !client.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "points[0]") {
		t.Fatalf("finish with a point that is not there: %v", err)
	}
	if err := w.host.FinishJob(ctx, job.ID, api.FinishRequest{State: api.RunFailed, Error: "disk gone"}); err != nil {
		t.Fatal(err)
	}
	if err := w.host.FinishJob(ctx, job.ID, api.FinishRequest{State: api.RunFailed, Error: "again"}); !client.IsStatus(err, http.StatusConflict) {
		t.Fatalf("second finish: %v", err)
	}
	if j := planJob(t, w.vadmin, "h1"); j.State != store.JobFailed || j.Error != "disk gone" {
		t.Fatalf("job %+v", j)
	}
}

// Pre hooks decide a run: fail fails it and backs nothing up, skip skips
// it, a hook past its timeout is killed; each failure is reported with its
// exit status and the end of its standard error, and post hooks run still.
func TestAgentHookFailures(t *testing.T) {
	w := newAgentWorld(t)
	src, marks := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := func(name, host, pre string) string {
		return `name: ` + name + `
schedule:
  rate: every 1h
start_window: 10m
vault: prod
sources:
  - host: ` + host + `
    paths: [` + src + `]
hooks:
  pre:
` + pre + `
  post:
    - argv: [/usr/bin/touch, ` + marks + `/` + host + `]
      on_failure: continue
`
	}
	file := plan("fails", "hfail", `    - argv: [/bin/sh, -c, "echo cannot quiesce >&2; exit 3"]
      on_failure: fail`) + "---\n" +
		plan("skips", "hskip", `    - argv: [/bin/sh, -c, "echo not primary >&2; exit 1"]
      on_failure: skip`) + "---\n" +
		plan("slow", "hslow", `    - argv: [/bin/sleep, "30"]
      timeout: 1s
      on_failure: fail`) + "---\n" +
		plan("goes-on", "hgo", `    - argv: [/bin/sh, -c, "exit 4"]
      on_failure: continue`) + `---
name: dump
schedule:
  rate: every 1h
vault: prod
sources:
  - host: hdump
    stdin:
      command: [/bin/sh, -c, "echo half a dump; echo connection lost >&2; exit 2"]
`
	w.due(t, file, 5)

	out := runAgent(t, w.host, "hfail")
	if len(out) != 1 || out[0].Report.State != api.RunFailed || len(out[0].Report.Points) != 0 || !strings.Contains(out[0].Report.Error, "status 3") {
		t.Fatalf("fail: %+v", out)
	}
	if j := planJob(t, w.vadmin, "hfail"); j.State != store.JobFailed || !strings.Contains(j.Error, "nothing was backed up") {
		t.Fatalf("fail job %+v", j)
	}
	ev := eventsOf(t, w.vadmin, "hook.failed")
	if len(ev) != 1 || ev[0].Data["exit_status"] != float64(3) || ev[0].Data["stderr"] != "cannot quiesce" || ev[0].Data["on_failure"] != "fail" {
		t.Fatalf("hook.failed %+v", ev)
	}
	if ev := eventsOf(t, w.vadmin, "plan.failed"); len(ev) != 1 || ev[0].Data["plan"] != "fails" {
		t.Fatalf("plan.failed %+v", ev)
	}

	out = runAgent(t, w.host, "hskip")
	if len(out) != 1 || out[0].Report.State != api.RunSkipped || len(out[0].Report.Points) != 0 {
		t.Fatalf("skip: %+v", out)
	}
	if j := planJob(t, w.vadmin, "hskip"); j.State != store.JobSkipped {
		t.Fatalf("skip job %+v", j)
	}
	if ev := eventsOf(t, w.vadmin, "plan.skipped"); len(ev) != 1 || ev[0].Data["plan"] != "skips" {
		t.Fatalf("plan.skipped %+v", ev)
	}

	began := time.Now()
	out = runAgent(t, w.host, "hslow")
	if took := time.Since(began); took > 15*time.Second {
		t.Fatalf("a hook with a 1s timeout held the run %s", took)
	}
	if len(out) != 1 || out[0].Report.State != api.RunFailed || len(out[0].Report.Hooks) != 1 || !out[0].Report.Hooks[0].TimedOut {
		t.Fatalf("timeout: %+v", out)
	}

	out = runAgent(t, w.host, "hgo")
	if len(out) != 1 || out[0].Report.State != api.RunSucceeded || len(out[0].Report.Points) != 1 || len(out[0].Report.Hooks) != 1 {
		t.Fatalf("continue: %+v", out)
	}
	// A stdin source whose command fails makes no point.
	out = runAgent(t, w.host, "hdump")
	if len(out) != 1 || out[0].Report.State != api.RunFailed || len(out[0].Report.Points) != 0 || !strings.Contains(out[0].Report.Error, "connection lost") {
		t.Fatalf("failed command: %+v", out)
	}
	for _, host := range []string{"hfail", "hskip", "hslow", "hgo"} {
		if _, err := os.Stat(filepath.Join(marks, host)); err != nil {
			t.Errorf("post hook of %s: %v", host, err)
		}
	}
	// Only the run whose hook continued made a point.
	pts, err := w.ops.Points(context.Background(), "prod", client.PointFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0].Hostname != "hgo" {
		t.Fatalf("points %+v", pts)
	}
}

// An agent claims only the runs of vaults it has the backup-operator role
// on, and reports only of runs it claimed.
func TestAgentPermissions(t *testing.T) {
	w := newAgentWorld(t)
	ctx := context.Background()
	creator := w.s.User(t, "creator2", "vault-admin")
	if _, err := creator.CreateVault(ctx, api.VaultRequest{Name: "dev", Retention: "30d"}); err != nil {
		t.Fatal(err)
	}
	other := w.s.Service(t, "devagent", "backup-operator@dev")
	w.due(t, `name: files
schedule:
  rate: every 1h
start_window: 10m
vault: prod
sources:
  - host: h1
    paths: [/nonexistent/srv]
`, 1)
	if job, err := other.ClaimJob(ctx, "h1"); err != nil || job != nil {
		t.Fatalf("an agent of vault dev claimed a run of prod: %+v, %v", job, err)
	}
	if plans, err := other.AgentPlans(ctx, "h1"); err != nil || len(plans.Plans) != 0 {
		t.Fatalf("an agent of vault dev sees prod's plans: %+v, %v", plans, err)
	}
	if _, err := w.ops.ClaimJob(ctx, "h1"); !client.IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "plan.run") {
		t.Fatalf("a restore-operator claims: %v", err)
	}
	if _, err := w.host.ClaimJob(ctx, ""); !client.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "host") {
		t.Fatalf("claim without a host: %v", err)
	}
	if j := planJob(t, w.vadmin, "h1"); j.State != store.JobQueued {
		t.Fatalf("job %+v", j)
	}
	job, err := w.host.ClaimJob(ctx, "h1")
	if err != nil || job == nil {
		t.Fatalf("claim: %+v, %v", job, err)
	}
	// Another agent of the same vault cannot report for it.
	same := w.s.Service(t, "agent2", "backup-operator@prod")
	if err := same.FinishJob(ctx, job.ID, api.FinishRequest{State: api.RunSucceeded}); !client.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("finish by another agent: %v", err)
	}
	if err := other.FinishJob(ctx, job.ID, api.FinishRequest{State: api.RunSucceeded}); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("finish by an agent of another vault: %v", err)
	}
	audit, err := w.vadmin.Audit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, e := range audit.Entries {
		if e.Action == "agent.finish" && e.Outcome == "denied" {
			denied++
		}
	}
	if denied != 1 {
		t.Fatalf("%d denied finish entries", denied)
	}
}

// A host whose agent never comes does not hold a plan's run open: once
// the run's completion window passes, its part fails as not started, the
// run is over without being overdue, and the next run comes due as usual.
func TestAgentRunEndsWithoutAnAbsentHost(t *testing.T) {
	w := newAgentWorld(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.due(t, `name: two
schedule:
  rate: every 1h
start_window: 10m
completion_window: 20m
vault: prod
sources:
  - host: h1
    paths: [`+src+`]
  - host: h2
    paths: [`+src+`]
`, 2)
	if out := runAgent(t, w.host, "h1"); len(out) != 1 || out[0].Report.State != api.RunSucceeded {
		t.Fatalf("h1: %+v", out)
	}
	if j := planJob(t, w.vadmin, "h2"); j.State != store.JobQueued {
		t.Fatalf("h2 inside the start window: %+v", j)
	}
	w.s.Clock.Advance(25 * time.Minute)
	waitFor(t, "h2's part to fail", func() bool { return planJob(t, w.vadmin, "h2").State == store.JobFailed })
	if j := planJob(t, w.vadmin, "h2"); j.Error != "the run did not start inside the start window" {
		t.Fatalf("h2: %+v", j)
	}
	// Too late: the agent of h2 finds nothing to run.
	if out := runAgent(t, w.host, "h2"); len(out) != 0 {
		t.Fatalf("h2 ran late: %+v", out)
	}
	w.s.Clock.Advance(35 * time.Minute)
	waitFor(t, "the next run", func() bool { return len(jobsOf(t, w.vadmin, "plan")) == 4 })
	if ev := eventsOf(t, w.vadmin, "plan.overdue"); len(ev) != 0 {
		t.Fatalf("overdue %+v", ev)
	}
	if ev := eventsOf(t, w.vadmin, "plan.missed"); len(ev) != 0 {
		t.Fatalf("missed %+v", ev)
	}
}

// A token limited to host h1 acts as the agent of h1 only: an attacker
// holding it (host h1 compromised) cannot read h2's plans, claim or report
// h2's runs, back up as h2, build on h2's points, or mint itself a token
// that reaches further; the same service account's unlimited token still
// runs h2.
func TestAgentTokenBoundToAHost(t *testing.T) {
	w := newAgentWorld(t)
	ctx := context.Background()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.due(t, `name: files
schedule:
  rate: every 1h
start_window: 10m
vault: prod
sources:
  - host: h1
    paths: [`+src+`]
  - host: h2
    paths: [`+src+`]
`, 2)
	nt, err := w.s.Admin.CreateToken(ctx, api.TokenRequest{Principal: "agent1", Label: "h1", Hosts: []string{"h1", "h1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(nt.Hosts) != 1 || nt.Hosts[0] != "h1" {
		t.Fatalf("new token's hosts %v", nt.Hosts)
	}
	h1 := w.s.Anonymous(t).WithToken(nt.Token)
	limited := func(what string, err error) {
		t.Helper()
		if !client.IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "limited to hosts h1") || !strings.Contains(err.Error(), "--host h2") {
			t.Fatalf("%s with h1's token: %v", what, err)
		}
	}
	_, err = h1.AgentPlans(ctx, "h2")
	limited("h2's plans", err)
	_, err = h1.ClaimJob(ctx, "h2")
	limited("claim h2's run", err)
	if j := planJob(t, w.vadmin, "h2"); j.State != store.JobQueued {
		t.Fatalf("h2's job after a refused claim: %+v", j)
	}
	_, err = h1.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "h2", Paths: []string{src}})
	limited("back up as h2", err)

	if out := runAgent(t, h1, "h1"); len(out) != 1 || out[0].Report.State != api.RunSucceeded {
		t.Fatalf("h1's run with h1's token: %+v", out)
	}

	// The service account's unlimited token still runs h2; h1's token
	// cannot build on the point it made.
	out := runAgent(t, w.host, "h2")
	if len(out) != 1 || out[0].Report.State != api.RunSucceeded || len(out[0].Report.Points) != 1 {
		t.Fatalf("h2's run with the unlimited token: %+v", out)
	}
	_, err = h1.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "h1", Paths: []string{src}, Parent: out[0].Report.Points[0]})
	if !client.IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "of host h2") {
		t.Fatalf("h2's point as the parent of h1's backup: %v", err)
	}

	// Nor report for h2's run, though the principal that claimed it is
	// the same.
	w.s.Clock.Advance(time.Hour)
	waitFor(t, "the next run", func() bool { return len(jobsOf(t, w.vadmin, "plan")) == 4 })
	job, err := w.host.ClaimJob(ctx, "h2")
	if err != nil || job == nil {
		t.Fatalf("claim h2 with the unlimited token: %+v, %v", job, err)
	}
	limited("finish h2's run", h1.FinishJob(ctx, job.ID, api.FinishRequest{State: api.RunFailed, Error: "sabotage"}))
	if j, err := w.vadmin.Job(ctx, job.ID); err != nil || j.State != store.JobRunning {
		t.Fatalf("h2's job after a refused finish: %+v, %v", j, err)
	}

	// A token limited to hosts makes only tokens limited to some of them.
	if _, err := h1.CreateToken(ctx, api.TokenRequest{Label: "any"}); !client.IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "limited to hosts h1") {
		t.Fatalf("h1's token makes an unlimited one: %v", err)
	}
	if _, err := h1.CreateToken(ctx, api.TokenRequest{Hosts: []string{"h1", "h2"}}); !client.IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "host h2") {
		t.Fatalf("h1's token makes one for h2: %v", err)
	}
	if again, err := h1.CreateToken(ctx, api.TokenRequest{Hosts: []string{"h1"}}); err != nil || len(again.Hosts) != 1 {
		t.Fatalf("h1's token renews itself: %+v, %v", again, err)
	}
	for _, bad := range []string{"", "h\x01", strings.Repeat("h", 254)} {
		if _, err := w.s.Admin.CreateToken(ctx, api.TokenRequest{Principal: "agent1", Hosts: []string{bad}}); !client.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "hosts") {
			t.Fatalf("token for host %q: %v", bad, err)
		}
	}
	toks, err := w.s.Admin.Tokens(ctx, "agent1")
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{}
	for _, tk := range toks {
		hosts[tk.ID] = strings.Join(tk.Hosts, ",")
	}
	if hosts[nt.ID] != "h1" || len(toks) != 3 {
		t.Fatalf("tokens of agent1: %+v", toks)
	}
}
