package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/store"
)

func TestPlansAndRuns(t *testing.T) {
	ctx := context.Background()
	db, path := open(t)
	p := store.Plan{Name: "db", Vault: "prod", Spec: []byte(`{"name":"db"}`), CreatedAt: t0, CreatedBy: "alice",
		UpdatedAt: t0, UpdatedBy: "alice", ScheduleSince: t0}
	update(t, db, func(tx store.Tx) error { return tx.PutPlan(ctx, &p) })
	p2 := p
	p2.Spec, p2.UpdatedAt, p2.UpdatedBy, p2.CreatedBy = []byte(`{"name":"db","x":1}`), t0.Add(time.Hour), "bob", "mallory"
	update(t, db, func(tx store.Tx) error {
		if err := tx.PutPlan(ctx, &p2); err != nil {
			return err
		}
		return tx.SetPlanRun(ctx, &store.PlanRun{Plan: "db", LastSlot: t0.Add(2 * time.Hour), RunSlot: t0.Add(2 * time.Hour)})
	})
	db.Close()
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx store.Tx) error {
		got, err := tx.Plan(ctx, "db")
		if err != nil {
			return err
		}
		if string(got.Spec) != string(p2.Spec) || got.CreatedBy != "alice" || got.UpdatedBy != "bob" || !got.UpdatedAt.Equal(p2.UpdatedAt) || !got.ScheduleSince.Equal(t0) {
			t.Errorf("plan read back as %+v", got)
		}
		runs, err := tx.PlanRuns(ctx)
		if err != nil {
			return err
		}
		if r := runs["db"]; !r.LastSlot.Equal(t0.Add(2*time.Hour)) || !r.RunSlot.Equal(t0.Add(2*time.Hour)) || !r.RunStarted.IsZero() {
			t.Errorf("run read back as %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx store.Tx) error { return tx.DeletePlan(ctx, "db") })
	err = db.View(ctx, func(tx store.Tx) error {
		if _, err := tx.Plan(ctx, "db"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted plan: %v", err)
		}
		plans, _ := tx.Plans(ctx)
		runs, _ := tx.PlanRuns(ctx)
		if len(plans) != 0 || len(runs) != 0 {
			t.Errorf("after delete: %d plans, %d runs", len(plans), len(runs))
		}
		return tx.DeletePlan(ctx, "db")
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting a missing plan: %v", err)
	}
}
