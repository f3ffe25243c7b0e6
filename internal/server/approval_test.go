package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server"
	"github.com/bunkerhq/bunker/internal/server/servertest"
)

// notes records what the server hands its notifier.
type notes struct {
	mu   sync.Mutex
	seen []note
}

type note struct {
	kind   string
	fields map[string]any
}

func (n *notes) Notify(_ context.Context, kind string, fields map[string]any) error {
	n.mu.Lock()
	n.seen = append(n.seen, note{kind, fields})
	n.mu.Unlock()
	return nil
}

// of returns the notes of one kind.
func (n *notes) of(kind string) []note {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []note
	for _, x := range n.seen {
		if x.kind == kind {
			out = append(out, x)
		}
	}
	return out
}

// guarded is a world whose vault prod has an approval team of three, two
// of whom must approve, and a vault-admin "boss" with the governance
// bypass.
type guarded struct {
	*world
	notes     *notes
	approvers []*servertest.Approver
	boss      *client.Client
}

func newGuarded(t *testing.T) *guarded {
	t.Helper()
	return newGuardedTelling(t, nil)
}

// tee tells every notifier of it.
type tee []server.Notifier

func (t tee) Notify(ctx context.Context, kind string, fields map[string]any) error {
	for _, n := range t {
		if err := n.Notify(ctx, kind, fields); err != nil {
			return err
		}
	}
	return nil
}

// newGuardedTelling is newGuarded whose events also go to also, if set.
func newGuardedTelling(t *testing.T, also server.Notifier) *guarded {
	t.Helper()
	ctx := context.Background()
	n := &notes{}
	notifier := server.Notifier(n)
	if also != nil {
		notifier = tee{n, also}
	}
	w := newWorldWith(t, servertest.Options{Notifier: notifier})
	g := &guarded{world: w, notes: n}
	for _, name := range []string{"amy", "bob", "cat"} {
		g.approvers = append(g.approvers, w.s.Approver(t, name))
	}
	if team := w.s.Team(t, "guards", 2, g.approvers...); team.Status != "active" || team.Active != 3 {
		t.Fatalf("team %+v", team)
	}
	if _, err := w.vadmin.SetApprovalSettings(ctx, "prod", api.ApprovalSettingsRequest{Team: "guards"}); err != nil {
		t.Fatal(err)
	}
	g.boss = w.s.User(t, "boss")
	if _, err := w.s.Admin.Bind(ctx, api.BindingRequest{Principal: "boss", Role: "vault-admin", Vault: "prod", BypassGovernance: true}); err != nil {
		t.Fatal(err)
	}
	return g
}

// pending returns the request a guarded call became.
func pending(t *testing.T, err error) api.Approval {
	t.Helper()
	p, ok := client.AsPending(err)
	if !ok {
		t.Fatalf("want an approval request, got %v", err)
	}
	if p.Approval.State != approval.AwaitingConfirmation || p.Message == "" {
		t.Fatalf("new request %+v", p)
	}
	return p.Approval
}

// exportVerify exports the audit log and verifies the approvals in it.
func (w *world) exportVerify(t *testing.T) approval.Report {
	t.Helper()
	rc, err := w.aud.AuditExport(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, entries, cps, err := audit.ReadJSONL(rc)
	if err != nil {
		t.Fatal(err)
	}
	return approval.Verify(entries, cps, w.s.PublicKey())
}

// An operator asks to delete a governance-locked point; confirms; one
// approval is not enough; the second arrives; the final confirmation
// deletes the point; the audit log shows every step with the signatures,
// and verifies.
func TestApprovedDeleteOfGovernancePoint(t *testing.T) {
	ctx := context.Background()
	g := newGuarded(t)
	g.lockProd(t, "governance")
	amy, bob := g.approvers[0], g.approvers[1]
	seqBefore := uint64(len(g.entries(t)))

	_, err := g.boss.DeletePoint(ctx, "prod", g.point[:8])
	r := pending(t, err)
	if r.Request.Operation != approval.DeleteEarly || r.Request.Target != "point/prod/"+g.point || r.Request.Requester != "boss" ||
		r.Request.Team != "guards" || approval.Hash([]byte(r.Canonical)) != r.Hash {
		t.Fatalf("request %+v", r)
	}
	if string(r.Request.Params) != `{"point":"`+g.point+`"}` {
		t.Fatalf("pinned params %s", r.Request.Params)
	}
	active := func() bool {
		p, err := g.vadmin.Point(ctx, "prod", g.point[:8])
		if err != nil {
			t.Fatal(err)
		}
		return p.State == "active"
	}
	if !active() {
		t.Fatal("the point was deleted before any approval")
	}
	// Nobody votes before the requester confirms.
	if _, err := amy.Vote(ctx, r.Request.ID, approval.Approve, "ok"); !client.IsStatus(err, 409) {
		t.Fatalf("vote before confirmation: %v", err)
	}
	c, err := g.boss.ConfirmApproval(ctx, r.Request.ID, r.Hash)
	if err != nil || c.State != approval.PendingApproval {
		t.Fatalf("confirm: %+v %v", c, err)
	}
	if ns := g.notes.of("approval.pending"); len(ns) != 1 || !sameNames(ns[0].fields["notify"], "amy", "bob", "cat") {
		t.Fatalf("the team was not notified: %+v", ns)
	}
	if a, err := amy.Vote(ctx, r.Request.ID, approval.Approve, "ticket 4411"); err != nil || a.State != approval.PendingApproval || a.Approvals != 1 {
		t.Fatalf("first approval: %+v %v", a, err)
	}
	// One approval is not enough.
	if _, err := g.boss.ConfirmApproval(ctx, r.Request.ID, r.Hash); !client.IsStatus(err, 409) {
		t.Fatalf("final confirmation with one approval: %v", err)
	}
	if !active() {
		t.Fatal("deleted with one approval")
	}
	a, err := bob.Vote(ctx, r.Request.ID, approval.Approve, "confirmed by phone")
	if err != nil || a.State != approval.Approved || a.Approvals != 2 {
		t.Fatalf("second approval: %+v %v", a, err)
	}
	if len(g.notes.of("approval.approved")) != 1 {
		t.Fatal("the requester was not told of the approval")
	}
	if !active() {
		t.Fatal("deleted before the final confirmation")
	}
	done, err := g.boss.ConfirmApproval(ctx, r.Request.ID, r.Hash)
	if err != nil || done.State != approval.Executed {
		t.Fatalf("final confirmation: %+v %v", done, err)
	}
	if active() {
		t.Fatal("the approved deletion did not happen")
	}
	// Once.
	if _, err := g.boss.ConfirmApproval(ctx, r.Request.ID, r.Hash); !client.IsStatus(err, 409) {
		t.Fatalf("executed twice: %v", err)
	}

	// The audit log has every step, with the signatures.
	var steps []string
	var exec approval.Execution
	for _, e := range g.entries(t)[seqBefore:] {
		if e.Outcome != audit.OutcomeOK {
			continue
		}
		steps = append(steps, e.Action)
		var d map[string]any
		json.Unmarshal(e.Detail, &d)
		switch e.Action {
		case "approval.approve":
			if d["signature"] == "" || d["key_id"] == "" || d["hash"] != r.Hash {
				t.Errorf("approval entry without its signature: %s", e.Detail)
			}
		case approval.ActionExecute:
			json.Unmarshal(e.Detail, &exec)
		case "point.delete":
			if d["approval"] != r.Request.ID || e.Actor != "boss" {
				t.Errorf("the deletion does not name its approval: %+v", e)
			}
		}
	}
	want := []string{"approval.request", "approval.confirm", "approval.approve", "approval.approve", approval.ActionExecute, "point.delete"}
	if !slices.Equal(steps, want) {
		t.Fatalf("audited steps %v, want %v", steps, want)
	}
	if exec.Hash != r.Hash || len(exec.Approvals) != 2 || exec.Team != "guards" || exec.Threshold != 2 {
		t.Fatalf("execution entry %+v", exec)
	}
	rep := g.exportVerify(t)
	if !rep.OK() || rep.Executed != 1 || rep.Verified != 1 {
		t.Fatalf("approvals verify: %+v", rep)
	}
	// Every step is in the event stream too.
	evs, err := g.aud.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range evs.Events {
		kinds[e.Kind]++
	}
	for _, k := range []string{"approval.requested", "approval.pending", "approval.vote", "approval.approved", "approval.executed"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event: %v", k, kinds)
		}
	}
}

func sameNames(v any, names ...string) bool {
	list, ok := v.([]string)
	if !ok {
		return false
	}
	return slices.Equal(slices.Sorted(slices.Values(list)), names)
}

// Without a team, every operation works as before; with one, each guarded
// operation becomes a request and changes nothing until approved.
func TestGuardedOperationsWait(t *testing.T) {
	ctx := context.Background()
	g := newGuarded(t)
	g.lockProd(t, "governance")
	hold, err := g.vadmin.Hold(ctx, "prod", api.HoldRequest{Tag: "nightly", Reason: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	before := g.state(t)
	shorter := g.s.Clock.Now().Add(10 * day)
	for name, call := range map[string]func() error{
		"delete a point early": func() error { _, err := g.boss.DeletePoint(ctx, "prod", g.point[:8]); return err },
		"shorten a point": func() error {
			_, err := g.boss.Retain(ctx, "prod", g.point[:8], api.RetentionRequest{Expires: &shorter})
			return err
		},
		"release a hold": func() error { _, err := g.vadmin.Release(ctx, "prod", hold.ID); return err },
		"change the lock": func() error {
			_, err := g.vadmin.Lock(ctx, "prod", api.LockRequest{Mode: "governance", MaxRetention: "2y"})
			return err
		},
		"remove the lock": func() error { _, err := g.vadmin.Unlock(ctx, "prod"); return err },
		"lower the retention": func() error {
			d := "7d"
			_, err := g.vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{Retention: &d})
			return err
		},
		"lower the bin period": func() error {
			d := "1d"
			_, err := g.vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{BinRetention: &d})
			return err
		},
		"turn approval off": func() error {
			_, err := g.vadmin.SetApprovalSettings(ctx, "prod", api.ApprovalSettingsRequest{})
			return err
		},
		"unguard an operation": func() error {
			_, err := g.vadmin.SetApprovalSettings(ctx, "prod", api.ApprovalSettingsRequest{Team: "guards", Unguarded: []string{"hold-release"}})
			return err
		},
	} {
		r := pending(t, call())
		if r.Request.Scope != "prod" || r.Request.Team != "guards" {
			t.Errorf("%s: request %+v", name, r.Request)
		}
	}
	if after := g.state(t); after != before {
		t.Fatalf("a guarded operation changed the state:\n%s\n%s", before, after)
	}
	// Lengthening, holding and the like are not guarded.
	longer := g.s.Clock.Now().Add(100 * day)
	if _, err := g.boss.Retain(ctx, "prod", g.point[:8], api.RetentionRequest{Expires: &longer}); err != nil {
		t.Fatalf("lengthen a point: %v", err)
	}
	// The vault dev has no team: deleting it works at once.
	if err := g.vadmin.DeleteVault(ctx, "dev"); err != nil {
		t.Fatalf("delete an unguarded vault: %v", err)
	}
	// A vault whose team is not active cannot be given it.
	dan := g.s.Approver(t, "dan")
	if _, err := g.s.Admin.CreateTeam(ctx, api.TeamRequest{Name: "forming", Threshold: 2, Invite: []string{"dan"}}); err != nil {
		t.Fatal(err)
	}
	_ = dan
	if _, err := g.vadmin.SetApprovalSettings(ctx, "prod", api.ApprovalSettingsRequest{Team: "forming"}); !client.IsStatus(err, 409) {
		t.Fatalf("a forming team set to guard: %v", err)
	}
	set, err := g.ops.ApprovalSettings(ctx, "prod")
	if err != nil || set.Team != "guards" || len(set.Guarded) != len(approval.VaultOperations()) {
		t.Fatalf("settings %+v %v", set, err)
	}
}

// Each kind of guarded operation, approved, executes exactly as pinned.
func TestApprovedOperationsExecute(t *testing.T) {
	ctx := context.Background()
	g := newGuarded(t)
	amy, cat := g.approvers[0], g.approvers[2]
	run := func(who *client.Client, err error) api.Approval {
		t.Helper()
		r := pending(t, err)
		if _, err := who.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
			t.Fatal(err)
		}
		for _, a := range []*servertest.Approver{amy, cat} {
			if _, err := a.Vote(ctx, r.Request.ID, approval.Approve, ""); err != nil {
				t.Fatal(err)
			}
		}
		done, err := who.ConfirmApproval(ctx, r.Request.ID, r.Hash)
		if err != nil || done.State != approval.Executed {
			t.Fatalf("execute %s: %+v %v", r.Request.Operation, done, err)
		}
		return done
	}
	// Lower the retention.
	d := "10d"
	_, err := g.vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{Retention: &d})
	run(g.vadmin, err)
	if v, _ := g.vadmin.Vault(ctx, "prod"); v.Policy.Retention != 10*day {
		t.Fatalf("retention %v", v.Policy.Retention)
	}
	// Lock, then change the lock in its grace period.
	g.lockProd(t, "governance")
	_, err = g.vadmin.Lock(ctx, "prod", api.LockRequest{Mode: "compliance", MinRetention: "7d", MaxRetention: "1y", ChangeableFor: "72h"})
	run(g.vadmin, err)
	if v, _ := g.vadmin.Vault(ctx, "prod"); v.Policy.Lock.Mode.String() != "compliance" {
		t.Fatalf("lock %+v", v.Policy.Lock)
	}
	// Release a hold.
	h, err := g.vadmin.Hold(ctx, "prod", api.HoldRequest{Point: g.point[:8], Reason: "case"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.vadmin.Release(ctx, "prod", h.ID)
	run(g.vadmin, err)
	if hs, _ := g.vadmin.Holds(ctx, "prod", false); len(hs) != 0 {
		t.Fatalf("hold still active: %+v", hs)
	}
	// Guarding the server: binding security-admin waits for the team.
	if _, err := g.s.Admin.SetApprovalSettings(ctx, "", api.ApprovalSettingsRequest{Team: "guards"}); err != nil {
		t.Fatal(err)
	}
	g.s.User(t, "sec2")
	_, err = g.s.Admin.Bind(ctx, api.BindingRequest{Principal: "sec2", Role: "security-admin"})
	run(g.s.Admin, err)
	bs, err := g.s.Admin.Bindings(ctx, "sec2")
	if err != nil || len(bs) != 1 || bs[0].Role != "security-admin" {
		t.Fatalf("bindings %+v %v", bs, err)
	}
	// Other bindings are not guarded.
	if _, err := g.s.Admin.Bind(ctx, api.BindingRequest{Principal: "sec2", Role: "auditor"}); err != nil {
		t.Fatal(err)
	}
	rep := g.exportVerify(t)
	if !rep.OK() || rep.Executed != 4 || rep.Verified != 4 {
		t.Fatalf("approvals verify: %+v", rep)
	}
}

// A team forms as its invited approvers accept with their own keys; while
// forming it changes freely, once active only with its own approval.
func TestTeamLifecycle(t *testing.T) {
	ctx := context.Background()
	n := &notes{}
	s := servertest.Start(t, servertest.Options{Notifier: n})
	amy, bob, cat := s.Approver(t, "amy"), s.Approver(t, "bob"), s.Approver(t, "cat")
	s.User(t, "nobody")
	if _, err := s.Admin.CreateTeam(ctx, api.TeamRequest{Name: "guards", Threshold: 1}); !client.IsStatus(err, 400) {
		t.Fatalf("threshold 1: %v", err)
	}
	if _, err := s.Admin.CreateTeam(ctx, api.TeamRequest{Name: "guards", Threshold: 2, Invite: []string{"nobody"}}); !client.IsStatus(err, 409) {
		t.Fatalf("invite a principal without the approver role: %v", err)
	}
	if _, err := amy.CreateTeam(ctx, api.TeamRequest{Name: "guards", Threshold: 2}); !client.IsStatus(err, 403) {
		t.Fatalf("an approver makes a team: %v", err)
	}
	team, err := s.Admin.CreateTeam(ctx, api.TeamRequest{Name: "guards", Threshold: 2, Invite: []string{"amy", "bob"}})
	if err != nil || team.Status != "forming" || len(team.Members) != 2 {
		t.Fatalf("team %+v %v", team, err)
	}
	if len(n.of("team.invited")) != 2 {
		t.Fatalf("invitations not notified: %+v", n.seen)
	}
	if _, err := cat.AcceptTeam(ctx, "guards", cat.PublicKey()); !client.IsStatus(err, 409) {
		t.Fatalf("accept without an invitation: %v", err)
	}
	if _, err := amy.AcceptTeam(ctx, "guards", "AAAA"); !client.IsStatus(err, 400) {
		t.Fatalf("accept with a malformed key: %v", err)
	}
	if _, err := amy.AcceptTeam(ctx, "guards", amy.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AcceptTeam(ctx, "guards", amy.PublicKey()); !client.IsStatus(err, 409) {
		t.Fatalf("two members with one key: %v", err)
	}
	// Forming: changes are made at once.
	if team, err = s.Admin.ChangeTeam(ctx, "guards", api.TeamChange{Invite: []string{"cat"}}); err != nil || len(team.Members) != 3 {
		t.Fatalf("invite while forming: %+v %v", team, err)
	}
	for _, a := range []*servertest.Approver{bob, cat} {
		if team, err = a.AcceptTeam(ctx, "guards", a.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	if team.Status != "active" || team.Active != 3 || len(n.of("team.active")) != 1 {
		t.Fatalf("team %+v, notes %+v", team, n.seen)
	}
	// Active: a change is a request the team approves; a change that
	// would leave fewer members than the threshold is refused outright.
	if _, err := s.Admin.ChangeTeam(ctx, "guards", api.TeamChange{Remove: []string{"amy", "bob"}}); !client.IsStatus(err, 409) {
		t.Fatalf("remove too many: %v", err)
	}
	_, err = s.Admin.ChangeTeam(ctx, "guards", api.TeamChange{Threshold: 3})
	r := pending(t, err)
	if r.Request.Operation != approval.TeamChange || r.Request.Team != "guards" {
		t.Fatalf("request %+v", r.Request)
	}
	if team, _ = s.Admin.Team(ctx, "guards"); team.Threshold != 2 {
		t.Fatal("the threshold changed before approval")
	}
	if _, err := s.Admin.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*servertest.Approver{amy, cat} {
		if _, err := a.Vote(ctx, r.Request.ID, approval.Approve, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Admin.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	if team, _ = s.Admin.Team(ctx, "guards"); team.Threshold != 3 {
		t.Fatalf("threshold after approval: %d", team.Threshold)
	}
	// A rejection ends a request (the default policy).
	_, err = s.Admin.ChangeTeam(ctx, "guards", api.TeamChange{Threshold: 2})
	r = pending(t, err)
	if _, err := s.Admin.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	if a, err := bob.Vote(ctx, r.Request.ID, approval.Reject, "no"); err != nil || a.State != approval.Rejected {
		t.Fatalf("rejection: %+v %v", a, err)
	}
	if _, err := amy.Vote(ctx, r.Request.ID, approval.Approve, ""); !client.IsStatus(err, 409) {
		t.Fatalf("vote on a rejected request: %v", err)
	}
	// The requester can cancel; others cannot see or touch its request.
	_, err = s.Admin.ChangeTeam(ctx, "guards", api.TeamChange{Threshold: 2})
	r = pending(t, err)
	outsider := s.User(t, "outsider")
	if _, err := outsider.Approval(ctx, r.Request.ID); !client.IsStatus(err, 403) {
		t.Fatalf("an outsider reads a request: %v", err)
	}
	if list, err := outsider.Approvals(ctx, client.ApprovalFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("an outsider lists requests: %+v %v", list, err)
	}
	if list, err := amy.Approvals(ctx, client.ApprovalFilter{Team: "guards"}); err != nil || len(list) != 3 {
		t.Fatalf("a member lists the team's requests: %d %v", len(list), err)
	}
	if _, err := amy.CancelApproval(ctx, r.Request.ID); !client.IsStatus(err, 403) {
		t.Fatalf("a member cancels: %v", err)
	}
	if c, err := s.Admin.CancelApproval(ctx, r.Request.ID); err != nil || c.State != approval.Cancelled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
}
