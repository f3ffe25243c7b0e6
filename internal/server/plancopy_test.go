package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// planCopyWorld is a server with vaults prod and central, a vault-admin of
// both (and auditor) who applies plans, host h1's agent credential on
// prod, and a restore-operator of both.
type planCopyWorld struct {
	s      *servertest.Server
	vadmin *client.Client
	host   *client.Client
	ops    *client.Client
	src    string
	runs   int
}

func newPlanCopyWorld(t *testing.T) *planCopyWorld {
	t.Helper()
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	creator := s.User(t, "creator", "vault-admin")
	for _, name := range []string{"prod", "central"} {
		if _, err := creator.CreateVault(ctx, api.VaultRequest{Name: name, Retention: "30d"}); err != nil {
			t.Fatal(err)
		}
	}
	return &planCopyWorld{s: s, vadmin: s.User(t, "vadmin", "vault-admin@prod", "vault-admin@central", "auditor"),
		host: s.Service(t, "agent1", "backup-operator@prod"),
		ops:  s.User(t, "ops", "restore-operator@prod", "restore-operator@central"), src: t.TempDir()}
}

// planFile is a plan for h1's src into prod, with rules and copies.
func (w *planCopyWorld) planFile(rules string) string {
	return fmt.Sprintf("name: web\nschedule:\n  rate: every 1h\nstart_window: 10m\nvault: prod\nsources:\n  - host: h1\n    paths: [%s]\n%s", w.src, rules)
}

// run moves the clock to the plan's next run, has h1's agent run it, and
// returns the point it made.
func (w *planCopyWorld) run(t *testing.T) string {
	t.Helper()
	w.runs++
	w.s.Clock.Advance(time.Hour)
	waitFor(t, "the queued run", func() bool { return len(jobsOf(t, w.vadmin, "plan")) == w.runs })
	out := runAgent(t, w.host, "h1")
	if len(out) != 1 || out[0].Report.State != api.RunSucceeded || len(out[0].Report.Points) != 1 {
		t.Fatalf("run %d: %+v", w.runs, out)
	}
	return out[0].Report.Points[0]
}

// active returns the active points of vault, oldest first.
func (w *planCopyWorld) active(t *testing.T, vault string) []api.Point {
	t.Helper()
	ps, err := w.vadmin.Points(context.Background(), vault, client.PointFilter{State: "active"})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func origins(ps []api.Point) []string {
	var out []string
	for _, p := range ps {
		if p.Origin != nil {
			out = append(out, p.Origin.Point)
		}
	}
	return out
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A plan's copy action copies each point its runs make into another
// vault, in the background: the copy restores byte for byte and names
// its original; the next run's copy reads only the new chunks. Then a
// maintenance pass applies the copy action's retention to the copies in
// their vault, while the plan's own retention applies to its points in
// its vault, and copies the retention dropped are not made again.
func TestPlanCopyToLocalVault(t *testing.T) {
	ctx := context.Background()
	w := newPlanCopyWorld(t)
	big := make([]byte, 2<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.src, "big.bin"), big)
	writeFile(t, filepath.Join(w.src, "a.txt"), []byte("alpha"))
	apply(t, w.vadmin, w.planFile("retention:\n  keep_last: 3\ncopies:\n  - to: central\n    retention:\n      keep_last: 2\n"), client.ApplyOptions{})

	first := w.run(t)
	cp := waitForCopy(t, w.vadmin, "central", first)
	if cp.Origin.Site != "" || cp.Origin.Vault != "prod" || cp.Hostname != "h1" || cp.CreatedBy != "plan:web" {
		t.Fatalf("the copy %+v, origin %+v", cp.Point, cp.Origin)
	}
	target := restoreFrom(t, w.ops, "central", cp.ID[:8])
	testfs.Compare(t, w.src, filepath.Join(target, w.src))
	ev := eventsOf(t, w.vadmin, "copy.completed")
	if len(ev) != 1 || ev[0].Data["plan"] != "web" || ev[0].Data["copy"] != "central" || ev[0].Data["to_point"] != cp.ID {
		t.Fatalf("copy.completed %+v", ev)
	}

	// The second run adds a small file: its copy reads that and the
	// listings above it, not the big file again.
	writeFile(t, filepath.Join(w.src, "b.txt"), []byte("beta"))
	second := w.run(t)
	waitForCopy(t, w.vadmin, "central", second)
	jobs := jobsOf(t, w.vadmin, "copy")
	if len(jobs) != 2 {
		t.Fatalf("%d copy jobs, want 2", len(jobs))
	}
	read := map[string]float64{}
	for _, j := range jobs {
		if j.By != "plan:web" || j.Detail["plan"] != "web" {
			t.Fatalf("copy job %+v", j)
		}
		read[j.Detail["from_point"].(string)], _ = j.Detail["bytes_read"].(float64)
	}
	if read[first] < float64(len(big)) || read[second] > float64(len(big))/20 {
		t.Fatalf("bytes read by the copies: first %v, second %v (the big file is %d bytes)", read[first], read[second], len(big))
	}

	made := []string{first, second}
	for range 2 {
		writeFile(t, filepath.Join(w.src, fmt.Sprintf("run%d.txt", w.runs)), []byte("more"))
		p := w.run(t)
		waitForCopy(t, w.vadmin, "central", p)
		made = append(made, p)
	}
	for _, v := range []string{"prod", "central"} {
		if _, err := w.vadmin.Verify(ctx, v, api.VerifyRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// prod: the plan keeps its 3 newest points.
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Plans) != 1 || rep.Plans[0].CopiesFrom != "" || !slices.Equal(pointIDs(rep.Plans[0].Dropped), made[:1]) {
		t.Fatalf("prod's plans: %+v", rep.Plans)
	}
	// central: the copy action keeps the 2 newest copies.
	central := w.active(t, "central")
	rep, err = w.vadmin.Maintain(ctx, "central")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Plans) != 1 || rep.Plans[0].Plan != "web" || rep.Plans[0].CopiesFrom != "prod" {
		t.Fatalf("central's plans: %+v", rep.Plans)
	}
	var want []string
	for _, p := range central[:2] {
		want = append(want, p.ID)
	}
	if got := pointIDs(rep.Plans[0].Dropped); !slices.Equal(got, want) {
		t.Fatalf("central dropped %v, want the copies of the two oldest points %v", got, want)
	}
	if got := origins(w.active(t, "central")); !slices.Equal(got, made[2:]) {
		t.Fatalf("copies left in central: %v, want of %v", got, made[2:])
	}
	if got := w.active(t, "prod"); len(got) != 3 || got[0].ID != made[1] {
		t.Fatalf("prod keeps %d points, want its plan's 3 newest", len(got))
	}
	ev = eventsOf(t, w.vadmin, "plan.dropped")
	if len(ev) != 2 || ev[1].Vault != "central" || ev[1].Data["copies_from"] != "prod" {
		t.Fatalf("plan.dropped %+v", ev)
	}

	// The sweep after the passes, and the next run's, leave the dropped
	// copies in the bin: the second point is still in prod, but its copy
	// is not made again.
	last := w.run(t)
	waitForCopy(t, w.vadmin, "central", last)
	if got := origins(w.active(t, "central")); !slices.Equal(got, append(made[2:], last)) {
		t.Fatalf("copies in central after the next run: %v", got)
	}
	if n := len(jobsOf(t, w.vadmin, "copy")); n != 5 {
		t.Fatalf("%d copy jobs, want one per run", n)
	}
}

// A copy to a remote site needs a push target of that name pushing to
// that vault: without one, the copy fails with a copy.failed event that
// says how to add it, and the agent's report is not held up by it.
// Applying such a plan needs push.admin and data.read on the plan's
// vault, as pushing does.
func TestPlanCopyToMissingPushTarget(t *testing.T) {
	ctx := context.Background()
	w := newPlanCopyWorld(t)
	writeFile(t, filepath.Join(w.src, "a.txt"), []byte("alpha"))
	file := w.planFile("copies:\n  - to: hq:site-a\n")
	_, err := w.vadmin.ApplyPlans(ctx, []byte(file), client.ApplyOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || !strings.Contains(err.Error(), "copies[0].to") {
		t.Fatalf("a vault-admin of prod applies a remote copy: %v", err)
	}
	pusher := w.s.User(t, "pusher", "vault-admin", "restore-operator@prod")
	apply(t, pusher, file, client.ApplyOptions{})

	p := w.run(t)
	var ev []store.Event
	waitFor(t, "copy.failed", func() bool {
		ev = eventsOf(t, w.vadmin, "copy.failed")
		return len(ev) > 0
	})
	e := ev[0]
	msg, _ := e.Data["error"].(string)
	if e.Vault != "prod" || e.Data["point"] != p || e.Data["plan"] != "web" || e.Data["copy"] != "hq:site-a" ||
		e.Data["to_site"] != "hq" || e.Data["to_vault"] != "site-a" ||
		!strings.Contains(msg, "no push target hq") || !strings.Contains(msg, "bunker push-target add hq") {
		t.Fatalf("copy.failed %+v", e)
	}
	if n := len(jobsOf(t, w.vadmin, "push")); n != 0 {
		t.Fatalf("%d push jobs without a push target", n)
	}
}

// A plan whose copy goes to a vault this server lacks is refused when it
// is applied, naming the field; so is one whose applier may not change
// the copy vault's policy, since the copy action's retention drops
// points there.
func TestPlanCopyRefusedAtApply(t *testing.T) {
	ctx := context.Background()
	w := newPlanCopyWorld(t)
	_, err := w.vadmin.ApplyPlans(ctx, []byte(w.planFile("copies:\n  - to: nowhere\n")), client.ApplyOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || len(ce.PlanErrors) != 1 {
		t.Fatalf("copy to a missing vault: %v", err)
	}
	if pe := ce.PlanErrors[0]; pe.Plan != "web" || pe.Field != "copies[0].to" || pe.Line != 10 || !strings.Contains(pe.Error, `no vault "nowhere"`) {
		t.Fatalf("refusal %+v", pe)
	}
	prodOnly := w.s.User(t, "padmin", "vault-admin@prod")
	_, err = prodOnly.ApplyPlans(ctx, []byte(w.planFile("copies:\n  - to: central\n")), client.ApplyOptions{})
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || !strings.Contains(err.Error(), "copies[0].to central") {
		t.Fatalf("copy to a vault the applier does not administer: %v", err)
	}
	if got := planNames(t, w.vadmin); got != "" {
		t.Fatalf("refused files created plans: %s", got)
	}
}

// A copy to site:vault pushes each new point through the push target of
// that name, whose --push list need not name the plan's vault. Before
// the target is added the copy fails; the maintenance pass after it is
// added tries again, and the copy at the central site restores byte for
// byte, names its original, and is pushed once.
func TestPlanCopyPushesToCentralSite(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	file := fmt.Sprintf("name: web\nschedule:\n  rate: every 1h\nstart_window: 10m\nvault: prod\nsources:\n  - host: host1\n    paths: [%s]\ncopies:\n  - to: central:central\n", st.src)
	apply(t, st.wadmin, file, client.ApplyOptions{})
	st.work.Clock.Advance(time.Hour)
	st.central.Clock.Advance(time.Hour)
	waitFor(t, "the queued run", func() bool { return len(jobsOf(t, st.wadmin, "plan")) == 1 })
	out := runAgent(t, st.host, "host1")
	if len(out) != 1 || out[0].Report.State != api.RunSucceeded || len(out[0].Report.Points) != 1 {
		t.Fatalf("run: %+v", out)
	}
	p := out[0].Report.Points[0]
	aud := st.work.User(t, "aud", "auditor")
	waitFor(t, "copy.failed", func() bool { return len(eventsOf(t, aud, "copy.failed")) > 0 })
	if n := len(jobsOf(t, st.wadmin, "push")); n != 0 {
		t.Fatalf("%d push jobs without a push target", n)
	}
	st.addTarget(t, st.central.URL)
	if _, err := st.wadmin.Maintain(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	cp := waitForCopy(t, st.centralAdmin, "central", p)
	if o := cp.Origin; o.Site != "site-a" || o.Vault != "prod" || cp.CreatedBy != "site-a" {
		t.Fatalf("the central copy: origin %+v, by %s", cp.Origin, cp.CreatedBy)
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	target := restoreFrom(t, ops, "central", cp.ID[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))
	var jobs []store.Job
	waitFor(t, "the push job", func() bool {
		jobs = jobsOf(t, st.wadmin, "push")
		return len(jobs) == 1 && jobs[0].State == store.JobSucceded
	})
	if jobs[0].By != "plan:web" || jobs[0].Detail["to_point"] != cp.ID {
		t.Fatalf("push job %+v", jobs[0])
	}
	// A maintenance pass wakes the sweep again; the point is not pushed
	// twice.
	if _, err := st.wadmin.Maintain(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(jobsOf(t, st.wadmin, "push")); n != 1 {
		t.Fatalf("%d push jobs, want 1", n)
	}
	if ps, err := ops.Points(ctx, "central", client.PointFilter{}); err != nil || len(ps) != 1 {
		t.Fatalf("central points %d, %v", len(ps), err)
	}
}
