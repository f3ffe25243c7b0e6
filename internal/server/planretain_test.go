package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/server/servertest"
)

// retainWorld is a server with vault prod, a plan on it for host web1's
// directory src, and web1's backup-operator credential.
type retainWorld struct {
	s     *servertest.Server
	admin *client.Client // vault-admin of prod, auditor
	host  *client.Client // web1's backup-operator
	src   string
}

func newRetainWorld(t *testing.T, opts servertest.Options, vault api.VaultRequest, rules string) *retainWorld {
	t.Helper()
	ctx := context.Background()
	s := servertest.Start(t, opts)
	creator := s.User(t, "creator", "vault-admin")
	vault.Name = "prod"
	if _, err := creator.CreateVault(ctx, vault); err != nil {
		t.Fatal(err)
	}
	w := &retainWorld{s: s, admin: s.User(t, "vadmin", "vault-admin@prod", "auditor"),
		host: s.Service(t, "web1", "backup-operator@prod"), src: t.TempDir()}
	file := fmt.Sprintf("name: web\nschedule:\n  rate: every 1h\nvault: prod\nsources:\n  - host: web1\n    paths: [%s]\n%s", w.src, rules)
	apply(t, w.admin, file, client.ApplyOptions{})
	return w
}

// backup backs up src as web1 after writing a new file into it (or, with
// empty, after emptying it), and returns the commit's error.
func (w *retainWorld) backup(t *testing.T, empty bool) error {
	t.Helper()
	ctx := context.Background()
	if empty {
		ents, _ := os.ReadDir(w.src)
		for _, e := range ents {
			os.Remove(filepath.Join(w.src, e.Name()))
		}
	} else {
		name := fmt.Sprintf("f%d", w.s.Clock.Now().UnixNano())
		if err := os.WriteFile(filepath.Join(w.src, name), []byte("real data "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := remote.StartBackup(ctx, w.host, "prod", api.SessionRequest{Hostname: "web1", Paths: []string{w.src}})
	if err != nil {
		t.Fatalf("start backup: %v", err)
	}
	defer b.Close(ctx)
	a, err := archiver.New(b, archiver.Options{Parent: b.Parent(), Hostname: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a.Backup(ctx, []string{w.src})
	return err
}

func (w *retainWorld) mustBackup(t *testing.T) {
	t.Helper()
	if err := w.backup(t, false); err != nil {
		t.Fatalf("backup: %v", err)
	}
}

func (w *retainWorld) points(t *testing.T, state string) []string {
	t.Helper()
	ps, err := w.admin.Points(context.Background(), "prod", client.PointFilter{State: state})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

func (w *retainWorld) maintain(t *testing.T) api.PlanMaintenance {
	t.Helper()
	rep, err := w.admin.Maintain(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Plans) != 1 || rep.Plans[0].Plan != "web" {
		t.Fatalf("plans in the report: %+v", rep.Plans)
	}
	return rep.Plans[0]
}

func pointIDs(ps []api.PlanPoint) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Point)
	}
	return out
}

// A plan's retention drops the verified points its rules do not keep,
// audited and announced; then a backup-operator credential in an
// attacker's hands floods the vault with empty points of the same
// source. They are not verified, so they count towards no rule: the real
// points keep their places, and no flood point is dropped either.
func TestPlanRetentionSurvivesFlood(t *testing.T) {
	ctx := context.Background()
	w := newRetainWorld(t, servertest.Options{}, api.VaultRequest{Retention: "30d"}, "retention:\n  keep_last: 3\n")
	for range 5 {
		w.mustBackup(t)
		w.s.Clock.Advance(time.Hour)
	}
	real := w.points(t, "active")
	if _, err := w.admin.Verify(ctx, "prod", api.VerifyRequest{}); err != nil {
		t.Fatal(err)
	}
	r := w.maintain(t)
	if got := pointIDs(r.Dropped); !slices.Equal(got, real[:2]) {
		t.Fatalf("dropped %v, want the two oldest of %v", got, real)
	}
	if got := w.points(t, "active"); !slices.Equal(got, real[2:]) {
		t.Fatalf("active %v, want %v", got, real[2:])
	}
	bin, err := w.admin.Points(ctx, "prod", client.PointFilter{State: "binned"})
	if err != nil || len(bin) != 2 || bin[0].BinReason != "retention" {
		t.Fatalf("bin %+v %v", bin, err)
	}
	if got := auditActions(t, w.admin, "point.drop"); len(got) != 2 {
		t.Errorf("audited drops %v", got)
	}
	ev := eventsOf(t, w.admin, "plan.dropped")
	if len(ev) != 1 || ev[0].Data["plan"] != "web" || fmt.Sprint(ev[0].Data["points"]) != fmt.Sprint(real[:2]) {
		t.Fatalf("plan.dropped events %+v", ev)
	}

	// The attacker: the host's credential, the host's name and paths,
	// far more points than keep_last, each emptier than the last.
	for range 12 {
		if err := w.backup(t, true); err != nil {
			t.Fatalf("flood backup: %v", err)
		}
		w.s.Clock.Advance(time.Minute)
	}
	r = w.maintain(t)
	if len(r.Dropped) != 0 || r.Unverified != 12 {
		t.Fatalf("after the flood: dropped %v, unverified %d", r.Dropped, r.Unverified)
	}
	active := w.points(t, "active")
	for _, id := range real[2:] {
		if !slices.Contains(active, id) {
			t.Errorf("real point %s dropped by the flood", id[:8])
		}
	}
	if len(active) != 3+12 {
		t.Errorf("%d active points, want the 3 real and the 12 unverified", len(active))
	}
	if n := len(eventsOf(t, w.admin, "plan.dropped")); n != 1 {
		t.Errorf("%d plan.dropped events, want still 1", n)
	}
}

// Points the rules drop stay while a legal hold covers them or the
// vault's lock retains them, and the report says why; the plan's
// expire_after drops even unverified points once they are old enough,
// unless a hold keeps them.
func TestPlanRetentionKeepsHeldAndLocked(t *testing.T) {
	ctx := context.Background()
	w := newRetainWorld(t, servertest.Options{}, api.VaultRequest{Retention: "30d"}, "retention:\n  keep_last: 1\nlifecycle:\n  expire_after: 10d\n")
	for range 3 {
		w.mustBackup(t)
		w.s.Clock.Advance(time.Hour)
	}
	ids := w.points(t, "active")
	if _, err := w.admin.Hold(ctx, "prod", api.HoldRequest{Point: ids[0][:8], Reason: "case 7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.admin.Verify(ctx, "prod", api.VerifyRequest{}); err != nil {
		t.Fatal(err)
	}
	r := w.maintain(t)
	if got := pointIDs(r.Dropped); !slices.Equal(got, ids[1:2]) {
		t.Fatalf("dropped %v, want %v", got, ids[1:2])
	}
	if len(r.Kept) != 1 || r.Kept[0].Point != ids[0] || !strings.Contains(r.Kept[0].Reason, "hold") {
		t.Fatalf("kept %+v", r.Kept)
	}

	// A new, unverified point, then past expire_after for all of them.
	w.mustBackup(t)
	w.s.Clock.Advance(11 * day)
	r = w.maintain(t)
	active := w.points(t, "active")
	if !slices.Equal(active, ids[:1]) {
		t.Fatalf("active after expire_after: %v, want only the held %v", active, ids[:1])
	}
	if len(r.Dropped) != 2 {
		t.Fatalf("dropped %+v, want the newest verified and the unverified point", r.Dropped)
	}
	for _, d := range r.Dropped {
		if d.Reason != "expire_after" {
			t.Errorf("dropped %s for %s", d.Point[:8], d.Reason)
		}
	}
	if len(r.Kept) != 1 || r.Kept[0].Point != ids[0] || !strings.Contains(r.Kept[0].Reason, "case 7") {
		t.Errorf("the held point past expire_after is not reported kept: %+v", r.Kept)
	}
	bin, _ := w.admin.Points(ctx, "prod", client.PointFilter{State: "binned"})
	lifecycle := 0
	for _, p := range bin {
		if p.BinReason == "lifecycle" {
			lifecycle++
		}
	}
	if lifecycle != 2 {
		t.Errorf("%d points binned for the lifecycle, want 2", lifecycle)
	}
}

// Under a governance lock the server, which has no bypass, drops no point
// before its expiry: the rules' choice waits and is reported.
func TestPlanRetentionUnderLock(t *testing.T) {
	ctx := context.Background()
	w := newRetainWorld(t, servertest.Options{}, api.VaultRequest{Retention: "3d",
		Lock: &api.LockRequest{Mode: "governance", MinRetention: "2d", MaxRetention: "30d"}}, "retention:\n  keep_last: 1\n")
	for range 2 {
		w.mustBackup(t)
		w.s.Clock.Advance(time.Hour)
	}
	ids := w.points(t, "active")
	if _, err := w.admin.Verify(ctx, "prod", api.VerifyRequest{}); err != nil {
		t.Fatal(err)
	}
	r := w.maintain(t)
	if len(r.Dropped) != 0 || len(r.Kept) != 1 || r.Kept[0].Point != ids[0] || !strings.Contains(r.Kept[0].Reason, "governance lock") {
		t.Fatalf("under the lock: dropped %+v, kept %+v", r.Dropped, r.Kept)
	}
	if got := w.points(t, "active"); !slices.Equal(got, ids) {
		t.Fatalf("active %v, want %v", got, ids)
	}
}

// The flood limits: a principal's commits over its limit in a window are
// refused with 429 and audited, with one vault.flood event for the
// window; the vault's own limit holds against several principals; a new
// window admits commits again.
func TestCommitFloodLimit(t *testing.T) {
	ctx := context.Background()
	w := newRetainWorld(t, servertest.Options{PrincipalCommitLimit: 3, VaultCommitLimit: 5}, api.VaultRequest{Retention: "30d"}, "")
	for range 3 {
		w.mustBackup(t)
	}
	for range 2 {
		err := w.backup(t, false)
		if !client.IsStatus(err, 429) || !strings.Contains(err.Error(), "web1 has made 3 points in the last 1h") {
			t.Fatalf("commit over the principal's limit: %v", err)
		}
	}
	if n := len(w.points(t, "active")); n != 3 {
		t.Fatalf("%d points after the refusals, want 3", n)
	}
	ev := eventsOf(t, w.admin, "vault.flood")
	if len(ev) != 1 || ev[0].Vault != "prod" || ev[0].Data["scope"] != "principal" || ev[0].Data["principal"] != "web1" {
		t.Fatalf("vault.flood events %+v", ev)
	}
	page, err := w.admin.Audit(ctx, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, e := range page.Entries {
		if e.Action == "point.create" && e.Outcome == "denied" && strings.Contains(string(e.Detail), "flood limit") {
			denied++
		}
	}
	if denied != 2 {
		t.Errorf("%d denied commits audited, want 2", denied)
	}

	// Another host fills the vault's limit, and is refused too.
	other := w.s.Service(t, "web2", "backup-operator@prod")
	w.host = other
	for range 2 {
		w.mustBackup(t)
	}
	if err := w.backup(t, false); !client.IsStatus(err, 429) || !strings.Contains(err.Error(), "vault prod has made 5 points") {
		t.Fatalf("commit over the vault's limit: %v", err)
	}
	if ev := eventsOf(t, w.admin, "vault.flood"); len(ev) != 2 || ev[1].Data["scope"] != "vault" {
		t.Fatalf("vault.flood events %+v", ev)
	}

	w.s.Clock.Advance(time.Hour)
	w.mustBackup(t)
}

// The flood limits survive a restart: the commits of the window before it
// still count, so restarting the server does not let a flood go on.
func TestCommitFloodLimitSurvivesRestart(t *testing.T) {
	opts := servertest.Options{PrincipalCommitLimit: 3, VaultCommitLimit: 100}
	w := newRetainWorld(t, opts, api.VaultRequest{Retention: "30d"}, "")
	for range 2 {
		w.mustBackup(t)
	}
	w.s.Stop()
	opts.DataDir, opts.KeyFile, opts.Clock = w.s.DataDir, w.s.KeyFile, w.s.Clock
	s2 := servertest.Start(t, opts)
	w.s, w.host = s2, reconnect(t, s2, w.host)
	w.mustBackup(t)
	if err := w.backup(t, false); !client.IsStatus(err, 429) || !strings.Contains(err.Error(), "web1 has made 3 points in the last 1h") {
		t.Fatalf("commit over the principal's limit after a restart: %v", err)
	}
	w.s.Clock.Advance(time.Hour)
	w.mustBackup(t)
}
