package sqlstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/store"
)

func TestTeamsAndSettings(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	team := &approval.Team{Name: "guards", Threshold: 2, Reject: approval.RejectAny, CreatedAt: t0, CreatedBy: "admin"}
	team.Apply(approval.Change{Invite: []string{"amy", "bob"}}, "admin", t0)
	update(t, db, func(tx store.Tx) error { return tx.CreateTeam(ctx, team) })
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.CreateTeam(ctx, team) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate team: %v", err)
	}
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	if err := team.Accept("amy", pub, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	team.Threshold = 3
	update(t, db, func(tx store.Tx) error { return tx.UpdateTeam(ctx, team) })
	err := db.View(ctx, func(tx store.Tx) error {
		got, err := tx.Team(ctx, "guards")
		if err != nil {
			return err
		}
		amy := got.Member("amy")
		if got.Threshold != 3 || len(got.Members) != 2 || amy.State != approval.Active || !bytes.Equal(amy.PublicKey, pub) ||
			amy.KeyID != approval.KeyID(pub) || !amy.AcceptedAt.Equal(t0.Add(time.Hour)) || got.Member("bob").State != approval.Invited {
			t.Errorf("team read back: %+v", got)
		}
		ts, err := tx.Teams(ctx)
		if err != nil || len(ts) != 1 || len(ts[0].Members) != 2 {
			t.Errorf("teams: %+v %v", ts, err)
		}
		if _, err := tx.Team(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing team: %v", err)
		}
		if _, err := tx.ApprovalSettings(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing settings: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	set := &store.ApprovalSettings{Scope: "prod", Team: "guards", Unguarded: []approval.Operation{approval.HoldRelease}, SetAt: t0, SetBy: "ann"}
	update(t, db, func(tx store.Tx) error { return tx.SetApprovalSettings(ctx, set) })
	update(t, db, func(tx store.Tx) error {
		got, err := tx.ApprovalSettings(ctx, "prod")
		if err != nil {
			return err
		}
		if !got.Guards(approval.VaultDelete) || got.Guards(approval.HoldRelease) || got.SetBy != "ann" {
			t.Errorf("settings: %+v", got)
		}
		return tx.DeleteApprovalSettings(ctx, "prod")
	})
	var none *store.ApprovalSettings
	if none.Guards(approval.VaultDelete) {
		t.Error("no settings guard nothing")
	}
	if err := db.Update(ctx, func(tx store.Tx) error {
		return tx.SetApprovalSettings(ctx, &store.ApprovalSettings{Scope: "x", Team: "no such team", SetAt: t0})
	}); err == nil {
		t.Error("settings naming an unknown team")
	}
}

func TestApprovalRequestsVotesGrants(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	update(t, db, func(tx store.Tx) error {
		return tx.CreateTeam(ctx, &approval.Team{Name: "guards", Threshold: 2, Reject: approval.RejectAny, CreatedAt: t0})
	})
	req := approval.Request{ID: "0123456789abcdef0123456789abcdef", Operation: approval.VaultDelete, Scope: "prod", Target: "vault/prod",
		Params: json.RawMessage(`{}`), Requester: "ann", Team: "guards", Created: t0}
	r, err := approval.Open(req, t0, approval.DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx store.Tx) error { return tx.CreateApprovalRequest(ctx, r) })
	r.State, r.ConfirmedAt = approval.PendingApproval, t0.Add(time.Minute)
	update(t, db, func(tx store.Tx) error { return tx.UpdateApprovalRequest(ctx, r, approval.AwaitingConfirmation) })
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.UpdateApprovalRequest(ctx, r, approval.AwaitingConfirmation) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update from a stale state: %v", err)
	}
	b := approval.Ballot{Member: "amy", Vote: approval.Approve, KeyID: "ed25519:00", Signature: []byte{1, 2}, Reason: "fine", At: t0.Add(2 * time.Minute)}
	update(t, db, func(tx store.Tx) error { return tx.AddBallot(ctx, req.ID, b) })
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.AddBallot(ctx, req.ID, b) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second vote: %v", err)
	}
	err = db.View(ctx, func(tx store.Tx) error {
		got, err := tx.ApprovalRequest(ctx, req.ID)
		if err != nil {
			return err
		}
		if got.Canonical != r.Canonical || got.Hash != r.Hash || got.State != approval.PendingApproval || len(got.Ballots) != 1 ||
			got.Ballots[0].Reason != "fine" || got.Request.Requester != "ann" || !got.ConfirmedAt.Equal(r.ConfirmedAt) {
			t.Errorf("request read back: %+v", got)
		}
		if err := got.Check(); err != nil {
			t.Errorf("stored request does not check: %v", err)
		}
		list, err := tx.ApprovalRequests(ctx, store.ApprovalFilter{State: approval.PendingApproval, Team: "guards"})
		if err != nil || len(list) != 1 || len(list[0].Ballots) != 1 {
			t.Errorf("list: %+v %v", list, err)
		}
		list, err = tx.ApprovalRequests(ctx, store.ApprovalFilter{Prefix: req.ID[:8]})
		if err != nil || len(list) != 1 {
			t.Errorf("list by id prefix: %+v %v", list, err)
		}
		list, err = tx.ApprovalRequests(ctx, store.ApprovalFilter{Requester: "bob"})
		if err != nil || len(list) != 0 {
			t.Errorf("list by another requester: %+v %v", list, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &store.Grant{ID: "tok1", Request: req.ID, Vault: "vault", Principal: "rex", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	update(t, db, func(tx store.Tx) error { return tx.CreateGrant(ctx, g) })
	if err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreateGrant(ctx, &store.Grant{ID: "tok2", Request: req.ID, Vault: "vault", Principal: "rex", CreatedAt: t0, ExpiresAt: t0})
	}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second grant of one request: %v", err)
	}
	g.RevokedAt, g.RevokedBy = t0.Add(time.Minute), "amy"
	update(t, db, func(tx store.Tx) error { return tx.UpdateGrant(ctx, g) })
	err = db.View(ctx, func(tx store.Tx) error {
		got, err := tx.Grant(ctx, "tok1")
		if err != nil {
			return err
		}
		if got.Valid(t0) || got.RevokedBy != "amy" {
			t.Errorf("grant read back: %+v", got)
		}
		gs, err := tx.Grants(ctx, "rex")
		if err != nil || len(gs) != 1 {
			t.Errorf("grants: %+v %v", gs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAirGappedVaultAndItsSettings(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateTeam(ctx, &approval.Team{Name: "guards", Threshold: 2, Reject: approval.RejectAny, CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateVault(ctx, &store.Vault{Name: "vault", StorageID: "s", Backend: "local", Location: "/x", AirGapped: true, CreatedAt: t0}); err != nil {
			return err
		}
		return tx.SetApprovalSettings(ctx, &store.ApprovalSettings{Scope: "vault", Team: "guards", SetAt: t0})
	})
	update(t, db, func(tx store.Tx) error {
		v, err := tx.Vault(ctx, "vault")
		if err != nil || !v.AirGapped {
			t.Errorf("vault read back: %+v %v", v, err)
		}
		return tx.DeleteVault(ctx, "vault")
	})
	err := db.View(ctx, func(tx store.Tx) error {
		_, err := tx.ApprovalSettings(ctx, "vault")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted vault's approval settings: %v", err)
	}
}
