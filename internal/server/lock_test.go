package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/restorer"
)

func (w *world) lockProd(t *testing.T, mode string) {
	t.Helper()
	_, err := w.vadmin.Lock(context.Background(), "prod", api.LockRequest{Mode: mode, MinRetention: "7d", MaxRetention: "365d", ChangeableFor: "72h"})
	if err != nil {
		t.Fatal(err)
	}
}

// A rogue or phished security-admin, and the vault-admin it can make,
// cannot delete a compliance-locked point, change the lock after its lock
// date, or delete a vault that holds locked points.
func TestAdminsCannotBreakComplianceLock(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.lockProd(t, "compliance")
	w.s.Clock.Advance(73 * time.Hour) // past the lock date
	admin := w.s.Admin
	short := w.point[:8]

	w.attempt(t, "security-admin deletes a compliance-locked point", 403, "admin", func() (int, string) {
		_, err := admin.DeletePoint(ctx, "prod", short)
		return status(err)
	})
	w.attempt(t, "security-admin removes the lock after its lock date", 403, "admin", func() (int, string) {
		_, err := admin.Unlock(ctx, "prod")
		return status(err)
	})
	w.attempt(t, "security-admin deletes the vault", 403, "admin", func() (int, string) {
		return status(admin.DeleteVault(ctx, "prod"))
	})
	w.attempt(t, "security-admin grants itself vault-admin", 403, "admin", func() (int, string) {
		_, err := admin.Bind(ctx, api.BindingRequest{Principal: "admin", Role: "vault-admin", Vault: "*"})
		return status(err)
	})

	// It can make a puppet vault-admin with the governance bypass; the lock
	// holds against the puppet too.
	puppet := w.s.User(t, "puppet", "vault-admin")
	if _, err := admin.Bind(ctx, api.BindingRequest{Principal: "puppet", Role: "vault-admin", Vault: "prod", BypassGovernance: true}); err != nil {
		t.Fatal(err)
	}
	w.attempt(t, "vault-admin with bypass deletes a compliance-locked point", 409, "puppet", func() (int, string) {
		_, err := puppet.DeletePoint(ctx, "prod", short)
		return status(err)
	})
	w.attempt(t, "vault-admin removes the lock after its lock date", 409, "puppet", func() (int, string) {
		_, err := puppet.Unlock(ctx, "prod")
		return status(err)
	})
	w.attempt(t, "vault-admin weakens the lock to governance", 409, "puppet", func() (int, string) {
		_, err := puppet.Lock(ctx, "prod", api.LockRequest{Mode: "governance", ChangeableFor: "0"})
		return status(err)
	})
	w.attempt(t, "vault-admin shortens the point's retention", 409, "puppet", func() (int, string) {
		soon := w.s.Clock.Now().Add(time.Hour)
		_, err := puppet.Retain(ctx, "prod", short, api.RetentionRequest{Expires: &soon})
		return status(err)
	})
	w.attempt(t, "vault-admin lowers the vault's retention below the lock's minimum", 409, "puppet", func() (int, string) {
		r := "1d"
		_, err := puppet.UpdateVault(ctx, "prod", api.VaultUpdate{Retention: &r})
		return status(err)
	})
	w.attempt(t, "vault-admin deletes the vault", 409, "puppet", func() (int, string) {
		return status(puppet.DeleteVault(ctx, "prod"))
	})
	// Maintenance does not bin the point before it expires.
	rep, err := puppet.Maintain(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Expired)+len(rep.Purged) != 0 {
		t.Fatalf("maintenance touched a retained point: %+v", rep)
	}
	target := restoreFrom(t, w.ops, "prod", short)
	if _, err := os.Stat(filepath.Join(target, w.src, "a.txt")); err != nil {
		t.Fatal(err)
	}
	w.verifyAudit(t)
}

// Inside the grace period a compliance lock can still be changed or
// removed; from the lock date on it cannot.
func TestLockGracePeriod(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if _, err := w.vadmin.Lock(ctx, "prod", api.LockRequest{Mode: "compliance", MinRetention: "7d", ChangeableFor: "71h"}); !client.IsStatus(err, 400) {
		t.Fatalf("compliance lock with a grace period under 72h: %v", err)
	}
	w.lockProd(t, "compliance")
	w.s.Clock.Advance(71 * time.Hour)
	v, err := w.vadmin.Unlock(ctx, "prod")
	if err != nil || v.Policy.Lock.Mode != "" {
		t.Fatalf("unlock in the grace period: %v", err)
	}
	w.lockProd(t, "compliance")
	w.s.Clock.Advance(72 * time.Hour)
	if _, err := w.vadmin.Unlock(ctx, "prod"); !client.IsStatus(err, 409) {
		t.Fatalf("unlock at the lock date: %v", err)
	}
	v, err = w.vadmin.Vault(ctx, "prod")
	if err != nil || !v.Immutable || v.Policy.Lock.Mode != "compliance" {
		t.Fatalf("vault after refused unlock: %+v %v", v, err)
	}
}

// Under a governance lock only a vault-admin with the bypass deletes a
// point early; the deletion is audited as a bypass.
func TestGovernanceBypass(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.lockProd(t, "governance")
	short := w.point[:8]
	w.attempt(t, "vault-admin without bypass deletes early", 409, "vadmin", func() (int, string) {
		_, err := w.vadmin.DeletePoint(ctx, "prod", short)
		return status(err)
	})
	boss := w.s.User(t, "boss")
	if _, err := w.s.Admin.Bind(ctx, api.BindingRequest{Principal: "boss", Role: "vault-admin", Vault: "prod", BypassGovernance: true}); err != nil {
		t.Fatal(err)
	}
	boss = w.s.Login(t, "boss", "correct horse battery staple")
	p, err := boss.DeletePoint(ctx, "prod", short)
	if err != nil {
		t.Fatalf("delete with the bypass: %v", err)
	}
	if p.State != "binned" {
		t.Fatalf("deleted point state %s, want binned", p.State)
	}
	es := w.entries(t)
	last := es[len(es)-1]
	if last.Action != "point.delete" || last.Actor != "boss" || string(last.Detail) == "" {
		t.Fatalf("last audit entry %+v", last)
	}
	// It is in the bin and comes back.
	if _, err := w.ops.StartRestore(ctx, "prod", short); err == nil {
		t.Fatal("restored a binned point")
	}
	if _, err := boss.Undelete(ctx, "prod", short); err != nil {
		t.Fatal(err)
	}
	restoreFrom(t, w.ops, "prod", short)
}

// The life of a point: retained until expiry, then to the bin, then purged
// after the bin's period; legal holds stop all of it until released.
func TestExpiryBinPurgeAndHolds(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.lockProd(t, "compliance")
	short := w.point[:8]
	hold, err := w.vadmin.Hold(ctx, "prod", api.HoldRequest{Point: short, Reason: "litigation 2026-17"})
	if err != nil {
		t.Fatal(err)
	}
	w.s.Clock.Advance(31 * day) // past the point's 30-day retention
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Expired) != 0 || len(rep.Kept) != 1 {
		t.Fatalf("held point expired: %+v", rep)
	}
	if _, err := w.vadmin.DeletePoint(ctx, "prod", short); !client.IsStatus(err, 409) {
		t.Fatalf("delete a held point: %v", err)
	}
	if _, err := w.vadmin.Release(ctx, "prod", hold.ID); err != nil {
		t.Fatal(err)
	}
	rep, err = w.vadmin.Maintain(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Expired) != 1 || rep.Expired[0] != w.point {
		t.Fatalf("expired point not binned: %+v", rep)
	}
	bin, err := w.vadmin.Points(ctx, "prod", client.PointFilter{State: "binned"})
	if err != nil || len(bin) != 1 || bin[0].BinReason != "expired" {
		t.Fatalf("bin: %+v %v", bin, err)
	}
	// Still in the bin for its period: nothing is purged, no pack deleted.
	w.s.Clock.Advance(6 * day)
	rep, err = w.vadmin.Maintain(ctx, "prod")
	if err != nil || len(rep.Purged) != 0 || rep.GC.PacksDeleted != 0 {
		t.Fatalf("purged too early: %+v %v", rep, err)
	}
	w.s.Clock.Advance(2 * day)
	rep, err = w.vadmin.Maintain(ctx, "prod")
	if err != nil || len(rep.Purged) != 1 || rep.GC.PacksDeleted == 0 {
		t.Fatalf("bin not purged after its period: %+v %v", rep, err)
	}
	all, err := w.vadmin.Points(ctx, "prod", client.PointFilter{State: "all"})
	if err != nil || len(all) != 0 {
		t.Fatalf("points left after purge: %+v %v", all, err)
	}
	// And the next backup, which dedups against nothing, still works.
	backupTo(t, w.host, "prod", "host1", w.src)
	restoreFrom(t, w.ops, "prod", "latest")
	w.verifyAudit(t)
}

// A restore under way keeps what it reads from garbage collection, even if
// its point is deleted and purged meanwhile.
func TestRestoreSessionOutlivesPurge(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	zero := "0"
	if _, err := w.vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{BinRetention: &zero}); err != nil {
		t.Fatal(err)
	}
	r, err := remote.StartRestore(ctx, w.ops, "prod", w.point[:8])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	if _, err := w.vadmin.DeletePoint(ctx, "prod", w.point[:8]); err != nil {
		t.Fatal(err)
	}
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil || len(rep.Purged) != 1 {
		t.Fatalf("purge: %+v %v", rep, err)
	}
	target := t.TempDir()
	if _, err := restorer.Restore(ctx, r, r.Point(), restorer.Options{Target: target, Verify: true}); err != nil {
		t.Fatalf("restore after its point was purged: %v", err)
	}
	r.Close(ctx)
	// Once the restore is over, the next pass collects the data.
	if rep, err = w.vadmin.Maintain(ctx, "prod"); err != nil || rep.GC.PacksDeleted == 0 {
		t.Fatalf("nothing collected after the restore ended: %+v %+v %v", rep, rep.GC, err)
	}
}

// Undelete resolves "latest" among binned points, gives an expired point a
// new expiry, and refuses one that its lock's maximum no longer allows.
func TestUndeleteExpired(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if _, err := w.vadmin.Lock(ctx, "prod", api.LockRequest{Mode: "governance", MaxRetention: "90d"}); err != nil {
		t.Fatal(err)
	}
	w.s.Clock.Advance(31 * day)
	if rep, err := w.vadmin.Maintain(ctx, "prod"); err != nil || len(rep.Expired) != 1 {
		t.Fatalf("expire: %+v %v", rep, err)
	}
	p, err := w.vadmin.Undelete(ctx, "prod", "latest")
	if err != nil {
		t.Fatalf("undelete latest binned: %v", err)
	}
	if want := w.s.Clock.Now().Add(30 * day); p.State != "active" || !p.Expires.Equal(want) {
		t.Fatalf("undeleted point: state %s expires %v, want active until %v", p.State, p.Expires, want)
	}
	// Expire it again, later than the maximum allows it back.
	w.s.Clock.Advance(31 * day)
	if rep, err := w.vadmin.Maintain(ctx, "prod"); err != nil || len(rep.Expired) != 1 {
		t.Fatalf("expire again: %+v %v", rep, err)
	}
	if _, err := w.vadmin.Undelete(ctx, "prod", w.point[:8]); !client.IsStatus(err, 409) {
		t.Fatalf("undelete beyond the lock's maximum: %v", err)
	}
}

// Maintenance passes over one vault at the same moment do not trip over
// each other.
func TestConcurrentMaintenance(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	zero := "0"
	if _, err := w.vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{BinRetention: &zero}); err != nil {
		t.Fatal(err)
	}
	w.s.Clock.Advance(31 * day)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := w.vadmin.Maintain(ctx, "prod")
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent maintenance: %v", err)
		}
	}
	all, err := w.vadmin.Points(ctx, "prod", client.PointFilter{State: "all"})
	if err != nil || len(all) != 0 {
		t.Fatalf("points left: %+v %v", all, err)
	}
}
