package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// vaulted is a server with an air-gapped vault "vault" holding a backup
// of src, owned by the vault-admin "owner", its team "recovery" (two of
// three), and a recovery principal "rescue".
type vaulted struct {
	s         *servertest.Server
	owner     *client.Client
	host      *client.Client
	rescue    *client.Client
	aud       *client.Client
	approvers []*servertest.Approver
	src       string
}

func newVaulted(t *testing.T) *vaulted {
	t.Helper()
	return newVaultedWith(t, servertest.Options{})
}

// newVaultedWith is newVaulted on a server started with opts.
func newVaultedWith(t *testing.T, opts servertest.Options) *vaulted {
	t.Helper()
	ctx := context.Background()
	s := servertest.Start(t, opts)
	v := &vaulted{s: s}
	v.owner = s.User(t, "owner", "vault-admin")
	v.host = s.Service(t, "site1", "backup-operator@vault")
	v.rescue = s.User(t, "rescue", "restore-operator")
	v.aud = s.User(t, "aud", "auditor")
	for _, n := range []string{"amy", "bob", "cat"} {
		v.approvers = append(v.approvers, s.Approver(t, n))
	}
	s.Team(t, "recovery", 2, v.approvers...)
	lock := &api.LockRequest{Mode: "compliance", MinRetention: "7d", MaxRetention: "1y", ChangeableFor: "72h"}
	// Air-gapped means a compliance lock and a team, nothing less.
	for _, bad := range []api.VaultRequest{
		{Name: "vault", AirGapped: true, Team: "recovery"},
		{Name: "vault", AirGapped: true, Lock: lock},
		{Name: "vault", AirGapped: true, Team: "recovery", Lock: &api.LockRequest{Mode: "governance"}},
	} {
		if _, err := v.owner.CreateVault(ctx, bad); !client.IsStatus(err, 400) {
			t.Fatalf("air-gapped vault %+v: %v", bad, err)
		}
	}
	vv, err := v.owner.CreateVault(ctx, api.VaultRequest{Name: "vault", Retention: "30d", AirGapped: true, Team: "recovery", Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	if !vv.AirGapped || vv.Approval == nil || vv.Approval.Team != "recovery" {
		t.Fatalf("vault %+v", vv)
	}
	if _, err := v.owner.CreateVault(ctx, api.VaultRequest{Name: "other", Retention: "30d"}); err != nil {
		t.Fatal(err)
	}
	v.src = t.TempDir()
	testfs.Build(t, v.src)
	backupTo(t, v.host, "vault", "site1", v.src)
	s.Clock.Advance(time.Hour)
	backupTo(t, v.host, "vault", "site1", v.src)
	return v
}

// grant takes an access request of rescue through the team: confirmed,
// approved by two, confirmed finally. It returns the grant.
func (v *vaulted) grant(t *testing.T, duration string) api.NewGrant {
	t.Helper()
	ctx := context.Background()
	p, err := v.rescue.RequestAccess(ctx, "vault", api.AccessRequest{Duration: duration, Reason: "site1 is compromised"})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Approval
	if r.Request.Operation != approval.AirGapOpen || r.Request.Requester != "rescue" || r.Request.Team != "recovery" {
		t.Fatalf("access request %+v", r.Request)
	}
	if _, err := v.rescue.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	for _, a := range v.approvers[:2] {
		if _, err := a.Vote(ctx, r.Request.ID, approval.Approve, "drill 7"); err != nil {
			t.Fatal(err)
		}
	}
	done, err := v.rescue.ConfirmApproval(ctx, r.Request.ID, r.Hash)
	if err != nil || done.State != approval.Executed || done.Grant == nil || done.Grant.Token == "" {
		t.Fatalf("final confirmation: %+v %v", done, err)
	}
	return *done.Grant
}

// The recovery path: an air-gapped vault holds points; its owning admin is
// compromised and can neither read it nor open it; a recovery principal
// asks for access, two of the three approvers sign, and the grant restores
// byte for byte, lists and restores that vault only, and is refused once
// it has expired.
func TestAirGappedRecovery(t *testing.T) {
	ctx := context.Background()
	v := newVaulted(t)
	s := v.s

	// The owner, and whatever the security-admin makes, cannot read it.
	if _, err := v.owner.StartRestore(ctx, "vault", "latest"); !client.IsStatus(err, 403) {
		t.Fatalf("owner restores: %v", err)
	}
	if _, err := v.rescue.StartRestore(ctx, "vault", "latest"); !client.IsStatus(err, 403) {
		t.Fatalf("a restore-operator on all vaults restores without a grant: %v", err)
	}
	s.User(t, "puppet")
	if _, err := s.Admin.Bind(ctx, api.BindingRequest{Principal: "puppet", Role: "restore-operator", Vault: "vault"}); !client.IsStatus(err, 403) {
		t.Fatalf("bind a restore-operator on the air-gapped vault: %v", err)
	}
	if _, err := v.owner.Unlock(ctx, "vault"); !client.IsStatus(err, 409) {
		t.Fatalf("unlock the air-gapped vault: %v", err)
	}
	if _, err := v.owner.SetApprovalSettings(ctx, "vault", api.ApprovalSettingsRequest{}); !client.IsStatus(err, 409) {
		t.Fatalf("remove the air-gapped vault's team: %v", err)
	}
	if _, err := v.owner.RequestAccess(ctx, "vault", api.AccessRequest{}); !client.IsStatus(err, 403) {
		t.Fatalf("a vault-admin asks for access: %v", err)
	}
	if _, err := v.rescue.RequestAccess(ctx, "other", api.AccessRequest{}); !client.IsStatus(err, 409) {
		t.Fatalf("access to a vault that is not air-gapped: %v", err)
	}

	g := v.grant(t, "4h")
	if g.Vault != "vault" || g.Principal != "rescue" || !g.ExpiresAt.Equal(s.Clock.Now().Add(4*time.Hour)) {
		t.Fatalf("grant %+v", g)
	}
	gc := s.Anonymous(t).WithToken(g.Token)
	// It lists that vault only and restores byte for byte.
	vs, err := gc.Vaults(ctx)
	if err != nil || len(vs) != 1 || vs[0].Name != "vault" {
		t.Fatalf("vaults through the grant: %+v %v", vs, err)
	}
	ps, err := gc.Points(ctx, "vault", client.PointFilter{})
	if err != nil || len(ps) != 2 {
		t.Fatalf("points through the grant: %+v %v", ps, err)
	}
	target := restoreFrom(t, gc, "vault", "latest")
	testfs.Compare(t, v.src, filepath.Join(target, v.src))
	// It does nothing else.
	if _, err := gc.Points(ctx, "other", client.PointFilter{}); !client.IsStatus(err, 403) {
		t.Fatalf("the grant lists another vault: %v", err)
	}
	if _, err := gc.CreateToken(ctx, api.TokenRequest{}); !client.IsStatus(err, 403) {
		t.Fatalf("the grant makes a token: %v", err)
	}
	if _, err := gc.DeletePoint(ctx, "vault", "latest"); !client.IsStatus(err, 403) {
		t.Fatalf("the grant deletes: %v", err)
	}
	if _, err := gc.RequestAccess(ctx, "vault", api.AccessRequest{}); !client.IsStatus(err, 403) {
		t.Fatalf("the grant asks for more: %v", err)
	}
	// Its holder's own token still cannot restore.
	if _, err := v.rescue.StartRestore(ctx, "vault", "latest"); !client.IsStatus(err, 403) {
		t.Fatalf("rescue's own token restores: %v", err)
	}

	// It expires by itself.
	s.Clock.Advance(4*time.Hour + time.Second)
	if _, err := remote.StartRestore(ctx, gc, "vault", "latest"); !client.IsStatus(err, 401) {
		t.Fatalf("restore with an expired grant: %v", err)
	}

	// Every use is audited.
	uses, refused := 0, 0
	for _, e := range auditEntries(t, v.aud) {
		if e.Action == "grant.use" && e.Target == "grant/"+g.ID {
			uses++
			if e.Outcome != audit.OutcomeOK {
				refused++
			}
		}
	}
	if uses < 8 || refused < 4 {
		t.Fatalf("%d audited uses of the grant, %d refused", uses, refused)
	}
	rep := exportVerifyWith(t, v.aud, s)
	if !rep.OK() || rep.Executed != 1 || rep.Verified != 1 {
		t.Fatalf("approvals verify: %+v", rep)
	}
}

// A grant ends when revoked, and works on its own vault only.
func TestGrantRevokedAndScoped(t *testing.T) {
	ctx := context.Background()
	v := newVaulted(t)
	g := v.grant(t, "8h")
	gc := v.s.Anonymous(t).WithToken(g.Token)
	if _, err := gc.Point(ctx, "vault", "latest"); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.StartRestore(ctx, "other", "latest"); !client.IsStatus(err, 403) {
		t.Fatalf("a grant used on another vault: %v", err)
	}
	// Someone outside the team cannot revoke it; a member can.
	if _, err := v.owner.RevokeGrant(ctx, g.ID); !client.IsStatus(err, 403) {
		t.Fatalf("the owner revokes: %v", err)
	}
	if _, err := v.approvers[2].RevokeGrant(ctx, g.ID); err != nil {
		t.Fatalf("a member revokes: %v", err)
	}
	if _, err := gc.StartRestore(ctx, "vault", "latest"); !client.IsStatus(err, 401) {
		t.Fatalf("a revoked grant restores: %v", err)
	}
	// Both refusals are audited: the use on another vault as a refused use
	// of the grant, the revoked credential as a refused restore.
	var otherVault, revoked bool
	for _, e := range auditEntries(t, v.aud) {
		otherVault = otherVault || (e.Action == "grant.use" && e.Outcome == audit.OutcomeDenied && strings.Contains(string(e.Detail), "/v1/vaults/other/"))
		revoked = revoked || (e.Action == "point.restore" && e.Outcome == audit.OutcomeDenied && strings.Contains(string(e.Detail), "revoked"))
	}
	if !otherVault || !revoked {
		t.Fatalf("refusals not audited: other vault %v, revoked %v", otherVault, revoked)
	}
	gs, err := v.rescue.Grants(ctx, "")
	if err != nil || len(gs) != 1 || gs[0].RevokedBy != "cat" {
		t.Fatalf("grants %+v %v", gs, err)
	}
}

func auditEntries(t *testing.T, c *client.Client) []audit.Entry {
	t.Helper()
	var all []audit.Entry
	var after uint64
	for {
		page, err := c.Audit(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Entries...)
		if page.Next == 0 {
			return all
		}
		after = page.Next
	}
}

func exportVerifyWith(t *testing.T, aud *client.Client, s *servertest.Server) approval.Report {
	t.Helper()
	return (&world{s: s, aud: aud}).exportVerify(t)
}

// Restoring an infected point, where the vault's team guards it, waits for
// the team; executed, it issues a credential for that one restore only.
func TestInfectedRestoreNeedsApproval(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	ops := s.User(t, "ops", "restore-operator@prod")
	team := []*servertest.Approver{s.Approver(t, "amy"), s.Approver(t, "bob")}
	s.Team(t, "guards", 2, team...)
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d", Scan: true, Team: "guards"}); err != nil {
		t.Fatal(err)
	}
	src := documents(t)
	p1, _ := backupTo(t, host, "prod", "host1", src)
	waitVerdict(t, vadmin, "prod", p1.ID.String())
	s.Clock.Advance(time.Hour)
	encryptFiles(t, src, 25)
	p2, _ := backupTo(t, host, "prod", "host1", src)
	if v := waitVerdict(t, vadmin, "prod", p2.ID.String()); v.Verdict.Level != "infected" {
		t.Fatalf("verdict %+v", v.Verdict)
	}
	infected := p2.ID.String()
	if _, err := ops.StartRestore(ctx, "prod", infected[:8]); !client.IsStatus(err, 409) {
		t.Fatalf("restore an infected point without allow_infected: %v", err)
	}
	_, err := ops.StartRestoreWith(ctx, "prod", infected[:8], api.RestoreRequest{AllowInfected: true})
	r := pending(t, err)
	if r.Request.Operation != approval.InfectedRestore || r.Request.Target != "point/prod/"+infected {
		t.Fatalf("request %+v", r.Request)
	}
	if _, err := ops.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	for _, a := range team {
		if _, err := a.Vote(ctx, r.Request.ID, approval.Approve, "forensics"); err != nil {
			t.Fatal(err)
		}
	}
	done, err := ops.ConfirmApproval(ctx, r.Request.ID, r.Hash)
	if err != nil || done.Grant == nil || done.Grant.Point != infected {
		t.Fatalf("final confirmation: %+v %v", done, err)
	}
	gc := s.Anonymous(t).WithToken(done.Grant.Token)
	if _, err := gc.StartRestore(ctx, "prod", p1.ID.String()[:8]); !client.IsStatus(err, 403) {
		t.Fatalf("the credential restores another point: %v", err)
	}
	target := restoreFrom(t, gc, "prod", infected[:8])
	if target == "" {
		t.Fatal("no restore")
	}
	// Used once: it is revoked.
	if _, err := gc.StartRestore(ctx, "prod", infected[:8]); !client.IsStatus(err, 401) {
		t.Fatalf("the credential restored twice: %v", err)
	}
}
