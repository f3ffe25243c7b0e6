package server_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/client"
)

// confirmed is a request of boss to delete point (a prefix) early,
// confirmed and waiting for the team.
func (g *guarded) confirmed(t *testing.T, who *client.Client, point string) api.Approval {
	t.Helper()
	ctx := context.Background()
	_, err := who.DeletePoint(ctx, "prod", point)
	r := pending(t, err)
	if _, err := who.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	return r
}

// refused checks that err is a refusal with the status, and that the
// audit log has a refusal by actor after seq since.
func (w *world) refused(t *testing.T, name string, err error, status int, actor string, since int) {
	t.Helper()
	if !client.IsStatus(err, status) {
		t.Errorf("%s: %v, want status %d", name, err, status)
		return
	}
	for _, e := range w.entries(t)[since:] {
		if e.Actor == actor && e.Outcome != audit.OutcomeOK {
			return
		}
	}
	t.Errorf("%s: no refusal by %s in the audit log", name, actor)
}

func (g *guarded) pointActive(t *testing.T, id string) bool {
	t.Helper()
	p, err := g.vadmin.Point(context.Background(), "prod", id[:8])
	if err != nil {
		t.Fatal(err)
	}
	return p.State == "active"
}

// The attacks on approvals, each refused and audited.
func TestApprovalAttacks(t *testing.T) {
	ctx := context.Background()
	g := newGuarded(t)
	g.lockProd(t, "governance")
	amy, bob, cat := g.approvers[0], g.approvers[1], g.approvers[2]

	// Self-approval: an approver who is also a vault-admin asks, and votes.
	if _, err := g.s.Admin.Bind(ctx, api.BindingRequest{Principal: "amy", Role: "vault-admin", Vault: "prod", BypassGovernance: true}); err != nil {
		t.Fatal(err)
	}
	own := g.confirmed(t, amy.Client, g.point[:8])
	n := len(g.entries(t))
	_, err := amy.Vote(ctx, own.Request.ID, approval.Approve, "mine")
	g.refused(t, "self-approval", err, 403, "amy", n)

	// A second vote by the same member.
	r := g.confirmed(t, g.boss, g.point[:8])
	if _, err := bob.Vote(ctx, r.Request.ID, approval.Approve, ""); err != nil {
		t.Fatal(err)
	}
	n = len(g.entries(t))
	_, err = bob.Vote(ctx, r.Request.ID, approval.Approve, "again")
	g.refused(t, "second vote", err, 409, "bob", n)
	if a, _ := g.boss.Approval(ctx, r.Request.ID); a.Approvals != 1 || a.State != approval.PendingApproval {
		t.Fatalf("a second vote counted: %+v", a)
	}

	// A signature replayed from another request.
	other := g.confirmed(t, g.boss, g.point[:8])
	sig, keyID, err := approval.Sign(cat.Key, r.Hash, approval.Approve)
	if err != nil {
		t.Fatal(err)
	}
	n = len(g.entries(t))
	_, err = cat.Client.Vote(ctx, other.Request.ID, "approve", api.VoteRequest{KeyID: keyID, Signature: sig})
	g.refused(t, "replayed signature", err, 403, "cat", n)
	// Nor a rejection turned into an approval, nor another member's key.
	rsig, _, _ := approval.Sign(cat.Key, other.Hash, approval.Reject)
	_, err = cat.Client.Vote(ctx, other.Request.ID, "approve", api.VoteRequest{KeyID: keyID, Signature: rsig})
	g.refused(t, "rejection turned approval", err, 403, "cat", n)
	bsig, bkey, _ := approval.Sign(bob.Key, other.Hash, approval.Approve)
	_, err = cat.Client.Vote(ctx, other.Request.ID, "approve", api.VoteRequest{KeyID: bkey, Signature: bsig})
	g.refused(t, "another member's signature", err, 403, "cat", n)

	// Approval after expiry.
	late := g.confirmed(t, g.boss, g.point[:8])
	g.s.Clock.Advance(25 * time.Hour)
	n = len(g.entries(t))
	_, err = amy.Vote(ctx, late.Request.ID, approval.Approve, "late")
	g.refused(t, "approval after expiry", err, 409, "amy", n)
	if a, _ := g.boss.Approval(ctx, late.Request.ID); a.State != approval.Expired {
		t.Fatalf("the late request is %s", a.State)
	}
	expired := false
	for _, e := range g.entries(t)[n:] {
		expired = expired || (e.Action == "approval.expire" && e.Target == "approval/"+late.Request.ID)
	}
	if !expired {
		t.Fatal("the expiry is not in the audit log")
	}

	// A vote from a removed member: the team removes cat, then cat votes.
	_, err = g.s.Admin.ChangeTeam(ctx, "guards", api.TeamChange{Remove: []string{"cat"}})
	change := pending(t, err)
	if _, err := g.s.Admin.ConfirmApproval(ctx, change.Request.ID, change.Hash); err != nil {
		t.Fatal(err)
	}
	for _, a := range g.approvers[:2] {
		if _, err := a.Vote(ctx, change.Request.ID, approval.Approve, "cat leaves"); err != nil {
			t.Fatal(err)
		}
	}
	if done, err := g.s.Admin.ConfirmApproval(ctx, change.Request.ID, change.Hash); err != nil || done.State != approval.Executed {
		t.Fatalf("team change: %+v %v", done, err)
	}
	if team, _ := g.s.Admin.Team(ctx, "guards"); team.Active != 2 {
		t.Fatalf("team after the change: %+v", team)
	}
	after := g.confirmed(t, g.boss, g.point[:8])
	n = len(g.entries(t))
	_, err = cat.Vote(ctx, after.Request.ID, approval.Approve, "still here")
	g.refused(t, "vote from a removed member", err, 403, "cat", n)

	// Executing with parameters changed after approval.
	g.s.Clock.Advance(time.Hour)
	p2, _ := backupTo(t, g.host, "prod", "host1", g.src)
	second := p2.ID.String()
	victim := g.confirmed(t, g.boss, g.point[:8])
	for _, a := range g.approvers[:2] {
		if _, err := a.Vote(ctx, victim.Request.ID, approval.Approve, "delete the first point"); err != nil {
			t.Fatal(err)
		}
	}
	// Through the API: a confirmation of another hash.
	n = len(g.entries(t))
	_, err = g.boss.ConfirmApproval(ctx, victim.Request.ID, other.Hash)
	g.refused(t, "final confirmation of another hash", err, 409, "boss", n)
	// In the database: the pinned point changed.
	db := openDB(t, g.world)
	changed := strings.Replace(victim.Canonical, g.point, second, 1)
	dbExec(t, db, `UPDATE approval_requests SET canonical = ? WHERE id = ?`, changed, victim.Request.ID)
	n = len(g.entries(t))
	_, err = g.boss.ConfirmApproval(ctx, victim.Request.ID, victim.Hash)
	g.refused(t, "parameters changed after approval", err, 409, "boss", n)
	// And rehashed to match: the approvals no longer verify.
	rehash := approval.Hash([]byte(changed))
	dbExec(t, db, `UPDATE approval_requests SET hash = ? WHERE id = ?`, rehash, victim.Request.ID)
	n = len(g.entries(t))
	_, err = g.boss.ConfirmApproval(ctx, victim.Request.ID, rehash)
	g.refused(t, "parameters changed and rehashed", err, 409, "boss", n)
	if !g.pointActive(t, g.point) || !g.pointActive(t, second) {
		t.Fatal("a changed request deleted a point")
	}
	if rep := g.exportVerify(t); !rep.OK() {
		t.Fatalf("refusals alone broke the approvals: %+v", rep)
	}
}

func openDB(t *testing.T, w *world) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(w.s.DataDir, "bunker.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func dbExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows", q, n)
	}
}

// A forged approval inserted straight into the database fools the server
// into executing, and `approvals verify` catches it in the audit export:
// the forger's key is no member of the team as the log has it.
func TestForgedApprovalCaughtByVerify(t *testing.T) {
	ctx := context.Background()
	g := newGuarded(t)
	g.lockProd(t, "governance")
	r := g.confirmed(t, g.boss, g.point[:8])
	if _, err := g.approvers[0].Vote(ctx, r.Request.ID, approval.Approve, ""); err != nil {
		t.Fatal(err)
	}
	// The attacker holds the database file: it adds itself to the team
	// with a key of its own, signs, and marks the request approved.
	key, err := approval.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(key.Public().(ed25519.PublicKey))
	sig, keyID, err := approval.Sign(key, r.Hash, approval.Approve)
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t, g.world)
	now := g.s.Clock.Now().UnixNano()
	dbExec(t, db, `INSERT INTO team_members (team, principal, state, public_key, key_id, invited_at, invited_by, accepted_at) VALUES ('guards', 'mallory', 'active', ?, ?, ?, 'admin', ?)`,
		pub, keyID, now, now)
	dbExec(t, db, `INSERT INTO approval_votes (request, member, vote, key_id, signature, reason, at) VALUES (?, 'mallory', 'approve', ?, ?, '', ?)`,
		r.Request.ID, keyID, sig, now)
	dbExec(t, db, `UPDATE approval_requests SET state = 'approved', approved_at = ?, deadline = ? WHERE id = ?`, now, now+int64(24*time.Hour), r.Request.ID)

	done, err := g.boss.ConfirmApproval(ctx, r.Request.ID, r.Hash)
	if err != nil || done.State != approval.Executed || g.pointActive(t, g.point) {
		t.Fatalf("the forged approval did not fool the server, so this test shows nothing: %+v %v", done, err)
	}
	rep := g.exportVerify(t)
	if rep.OK() || !rep.Audit.OK() {
		t.Fatalf("approvals verify passed a forged approval: %+v", rep)
	}
	var named, below bool
	for _, p := range rep.Problems {
		named = named || (p.Kind == approval.KindSignature && p.Request == r.Request.ID && strings.Contains(p.Detail, "mallory"))
		below = below || (p.Kind == approval.KindThreshold && p.Request == r.Request.ID)
	}
	if !named || !below {
		t.Fatalf("problems %+v", rep.Problems)
	}
}
