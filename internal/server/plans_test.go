package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
)

const plansFile = `name: web
schedule:
  rate: every 1h
start_window: 10m
vault: prod
sources:
  - host: web1
    paths: [/srv/www]
retention:
  keep_last: 4
---
name: db
schedule:
  cron: "30 2 * * *"
vault: prod
sources:
  - host: db1
    paths: [/var/backups]
retention:
  keep_daily: 7
`

// planServer starts a server with vault prod and a principal that
// administers it and reads the audit log and the event stream.
func planServer(t *testing.T, opts servertest.Options) (*servertest.Server, *client.Client) {
	t.Helper()
	s := servertest.Start(t, opts)
	creator := s.User(t, "creator", "vault-admin")
	if _, err := creator.CreateVault(context.Background(), api.VaultRequest{Name: "prod", Retention: "30d"}); err != nil {
		t.Fatal(err)
	}
	return s, s.User(t, "vadmin", "vault-admin@prod", "auditor")
}

func apply(t *testing.T, c *client.Client, file string, opts client.ApplyOptions) []plan.PlanChange {
	t.Helper()
	ch, err := c.ApplyPlans(context.Background(), []byte(file), opts)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return ch
}

func planNames(t *testing.T, c *client.Client) string {
	t.Helper()
	ps, err := c.Plans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Plan.Name)
	}
	return strings.Join(names, ",")
}

// Applying a file creates its plans, once; a dry run changes nothing;
// prune deletes what the file lacks; each change is audited.
func TestApplyPlans(t *testing.T) {
	ctx := context.Background()
	s, admin := planServer(t, servertest.Options{})
	dry := apply(t, admin, plansFile, client.ApplyOptions{DryRun: true})
	if len(dry) != 2 || dry[0].Action != plan.Create || dry[0].Plan != "db" {
		t.Fatalf("dry run answered %+v", dry)
	}
	if got := planNames(t, admin); got != "" {
		t.Fatalf("a dry run created plans: %s", got)
	}
	first := apply(t, admin, plansFile, client.ApplyOptions{})
	if len(first) != 2 {
		t.Fatalf("first apply: %+v", first)
	}
	if again := apply(t, admin, plansFile, client.ApplyOptions{}); len(again) != 0 {
		t.Fatalf("second apply changed %+v", again)
	}
	if got := planNames(t, admin); got != "db,web" {
		t.Fatalf("plans %s", got)
	}
	p, err := admin.Plan(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if p.Plan.StartWindow != 10*time.Minute || p.CreatedBy != "vadmin" || !p.Next.Equal(s.Clock.Now().Truncate(time.Hour).Add(time.Hour)) {
		t.Fatalf("plan web: %+v", p)
	}

	changed := strings.Replace(plansFile, "keep_last: 4", "keep_last: 6", 1)
	changed = changed[:strings.Index(changed, "---")]
	upd := apply(t, admin, changed, client.ApplyOptions{})
	if len(upd) != 1 || upd[0].Action != plan.Update || upd[0].Changes[0].Field != "retention.keep_last" {
		t.Fatalf("update: %+v", upd)
	}
	pruned := apply(t, admin, changed, client.ApplyOptions{Prune: true})
	if len(pruned) != 1 || pruned[0].Action != plan.Delete || pruned[0].Plan != "db" {
		t.Fatalf("prune: %+v", pruned)
	}
	if got := planNames(t, admin); got != "web" {
		t.Fatalf("after prune: %s", got)
	}
	if err := admin.DeletePlan(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Plan(ctx, "web"); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("deleted plan: %v", err)
	}
	want := []string{"plan.create db", "plan.create web", "plan.update web", "plan.delete db", "plan.delete web"}
	if got := auditActions(t, admin, "plan."); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("audit %q, want %q", got, want)
	}
}

// auditActions lists the audit entries whose action has prefix, as
// "action name" of their target plan.
func auditActions(t *testing.T, c *client.Client, prefix string) []string {
	t.Helper()
	page, err := c.Audit(context.Background(), 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range page.Entries {
		if strings.HasPrefix(e.Action, prefix) && e.Outcome == "ok" {
			out = append(out, e.Action+" "+strings.TrimPrefix(e.Target, "plan/"))
		}
	}
	return out
}

// A refused file names the plan, the field and the line, and changes
// nothing; so does a retention the vault lock does not allow.
func TestApplyRefusesInvalidPlans(t *testing.T) {
	ctx := context.Background()
	_, admin := planServer(t, servertest.Options{})
	bad := strings.Replace(plansFile, `"30 2 * * *"`, `"30 2 * *"`, 1)
	_, err := admin.ApplyPlans(ctx, []byte(bad), client.ApplyOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || len(ce.PlanErrors) != 1 {
		t.Fatalf("invalid cron: %v", err)
	}
	if pe := ce.PlanErrors[0]; pe.Plan != "db" || pe.Field != "schedule.cron" || pe.Line != 14 {
		t.Fatalf("refusal %+v", pe)
	}
	if got := planNames(t, admin); got != "" {
		t.Fatalf("a refused file created plans: %s", got)
	}

	if _, err := admin.Lock(ctx, "prod", api.LockRequest{Mode: "governance", MinRetention: "1d", MaxRetention: "30d"}); err != nil {
		t.Fatal(err)
	}
	long := strings.Replace(plansFile, "keep_daily: 7", "keep_daily: 90", 1)
	_, err = admin.ApplyPlans(ctx, []byte(long), client.ApplyOptions{})
	if !errors.As(err, &ce) || len(ce.PlanErrors) != 1 || ce.PlanErrors[0].Field != "retention.keep_daily" || !strings.Contains(ce.PlanErrors[0].Error, "lock") {
		t.Fatalf("retention past the lock: %v %+v", err, ce)
	}
	if got := planNames(t, admin); got != "" {
		t.Fatalf("a refused file created plans: %s", got)
	}
}

// Who may not change a vault's policy may not apply plans to it, and the
// refusal is audited.
func TestApplyPlansDenied(t *testing.T) {
	ctx := context.Background()
	s, admin := planServer(t, servertest.Options{})
	apply(t, admin, plansFile, client.ApplyOptions{})
	host := s.Service(t, "web1", "backup-operator@prod")
	other := s.User(t, "devadmin", "vault-admin@dev")
	for _, c := range []*client.Client{host, other} {
		_, err := c.ApplyPlans(ctx, []byte(strings.Replace(plansFile, "keep_last: 4", "keep_last: 1", 1)), client.ApplyOptions{})
		if !client.IsStatus(err, http.StatusForbidden) {
			t.Fatalf("apply by an outsider: %v", err)
		}
		if err := c.DeletePlan(ctx, "web"); !client.IsStatus(err, http.StatusForbidden) {
			t.Fatalf("delete by an outsider: %v", err)
		}
	}
	page, err := admin.Audit(ctx, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	denied := map[string]int{}
	for _, e := range page.Entries {
		if e.Outcome == "denied" && strings.HasPrefix(e.Action, "plan.") {
			denied[e.Actor+" "+e.Action]++
		}
	}
	for _, k := range []string{"web1 plan.apply", "web1 plan.delete", "devadmin plan.apply", "devadmin plan.delete"} {
		if denied[k] != 1 {
			t.Errorf("denied entries %v: want one %s", denied, k)
		}
	}
	if got := planNames(t, admin); got != "db,web" {
		t.Fatalf("plans %s", got)
	}
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 10*time.Second, what, cond)
}

// waitWithin checks cond every 50 ms and fails t unless it holds within d.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func jobsOf(t *testing.T, c *client.Client, kind string) []store.Job {
	t.Helper()
	jobs, err := c.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Job
	for _, j := range jobs {
		if j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

func eventsOf(t *testing.T, c *client.Client, kind string) []store.Event {
	t.Helper()
	page, err := c.Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for _, e := range page.Events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// A plan with a rate fires when the server's clock reaches its time: a
// queued job for its host and a plan.due event.
func TestPlanFiresDueJobs(t *testing.T) {
	s, admin := planServer(t, servertest.Options{})
	apply(t, admin, plansFile, client.ApplyOptions{})
	if n := len(jobsOf(t, admin, "plan")); n != 0 {
		t.Fatalf("%d jobs before the time", n)
	}
	s.Clock.Advance(time.Hour)
	waitFor(t, "the due job", func() bool { return len(jobsOf(t, admin, "plan")) == 1 })
	j := jobsOf(t, admin, "plan")[0]
	slot := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if j.State != store.JobQueued || j.Vault != "prod" || j.Detail["plan"] != "web" || j.Detail["host"] != "web1" || j.Detail["slot"] != slot.Format(time.RFC3339) {
		t.Fatalf("job %+v", j)
	}
	ev := eventsOf(t, admin, "plan.due")
	if len(ev) != 1 || ev[0].Data["plan"] != "web" || ev[0].Vault != "prod" {
		t.Fatalf("events %+v", ev)
	}
	p, err := admin.Plan(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if !p.LastSlot.Equal(slot) || !p.Next.Equal(slot.Add(time.Hour)) {
		t.Fatalf("plan after its run: last %s, next %s", p.LastSlot, p.Next)
	}
	// Nobody starts the run: once its start window passes, it is missed.
	s.Clock.Advance(11 * time.Minute)
	waitFor(t, "the missed run", func() bool { return len(eventsOf(t, admin, "plan.missed")) == 1 })
	if j := jobsOf(t, admin, "plan")[0]; j.State != store.JobFailed {
		t.Fatalf("job of a run never started: %+v", j)
	}
}

// Slots that pass while the server is down, past their start window, are
// reported missed once, across further restarts too.
func TestPlanMissedAcrossRestart(t *testing.T) {
	s, admin := planServer(t, servertest.Options{})
	apply(t, admin, plansFile, client.ApplyOptions{})
	s.Stop()
	s.Clock.Advance(2*time.Hour + 30*time.Minute)
	s2 := servertest.Start(t, servertest.Options{DataDir: s.DataDir, KeyFile: s.KeyFile, Clock: s.Clock})
	admin = s2.Anonymous(t).WithToken(admin.Token())
	waitFor(t, "the missed slots", func() bool { return len(eventsOf(t, admin, "plan.missed")) == 1 })
	ev := eventsOf(t, admin, "plan.missed")[0]
	if ev.Data["plan"] != "web" || ev.Data["count"] != float64(2) || ev.Data["reason"] != "the start window had passed" {
		t.Fatalf("missed %+v", ev)
	}
	if n := len(jobsOf(t, admin, "plan")); n != 0 {
		t.Fatalf("%d runs fired for missed slots", n)
	}
	s2.Stop()
	s3 := servertest.Start(t, servertest.Options{DataDir: s.DataDir, KeyFile: s.KeyFile, Clock: s.Clock})
	admin = s3.Anonymous(t).WithToken(admin.Token())
	time.Sleep(1500 * time.Millisecond)
	if n := len(eventsOf(t, admin, "plan.missed")); n != 1 {
		t.Fatalf("%d missed events after a second restart", n)
	}
	if n := len(jobsOf(t, admin, "plan.missed")); n != 1 {
		t.Fatalf("%d missed jobs", n)
	}
}
