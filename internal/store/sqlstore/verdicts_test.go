package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

func TestVerdictsAndEvents(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateVault(ctx, &store.Vault{Name: "prod", StorageID: "s", Backend: "local", Location: "/x", Scan: true, CreatedAt: t0, CreatedBy: "ann"}); err != nil {
			return err
		}
		if _, err := tx.PointVerdict(ctx, "prod", "p1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("verdict before any scan: %v", err)
		}
		var many []store.ScanEvidence
		for i := range store.MaxStoredEvidence + 50 {
			many = append(many, store.ScanEvidence{Path: fmt.Sprintf("/f%d", i), Reason: "encrypted", Weight: 1, Strong: true})
		}
		for i, lvl := range []string{store.VerdictClean, store.VerdictInfected} {
			v := &store.PointVerdict{Vault: "prod", Point: "p1", Job: int64(i + 1), ScannedAt: t0.Add(time.Duration(i) * time.Hour),
				Level: lvl, Score: float64(i) * 12.5, Previous: "p0", Stats: store.ScanStats{Changes: 25 * i, BytesRead: 1000}}
			if lvl == store.VerdictInfected {
				v.Evidence, v.EvidenceTotal = many, len(many)
			}
			if err := tx.RecordPointVerdict(ctx, v); err != nil {
				return err
			}
		}
		return tx.RecordPointVerdict(ctx, &store.PointVerdict{Vault: "prod", Point: "p2", ScannedAt: t0, Level: store.VerdictClean})
	})
	err := db.View(ctx, func(tx store.Tx) error {
		v, err := tx.Vault(ctx, "prod")
		if err != nil || !v.Scan {
			t.Errorf("vault scan setting: %+v %v", v, err)
		}
		pv, err := tx.PointVerdict(ctx, "prod", "p1")
		if err != nil {
			return err
		}
		if pv.Level != store.VerdictInfected || pv.Score != 12.5 || pv.Job != 2 || pv.Previous != "p0" || !pv.ScannedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("latest verdict: %+v", pv)
		}
		if len(pv.Evidence) != store.MaxStoredEvidence || pv.EvidenceTotal != store.MaxStoredEvidence+50 || pv.Evidence[0].Path != "/f0" || !pv.Evidence[0].Strong {
			t.Errorf("evidence: %d kept of %d, first %+v", len(pv.Evidence), pv.EvidenceTotal, pv.Evidence[0])
		}
		if pv.Stats.Changes != 25 || pv.Stats.BytesRead != 1000 {
			t.Errorf("stats: %+v", pv.Stats)
		}
		all, err := tx.PointVerdicts(ctx, "prod")
		if err != nil {
			return err
		}
		if len(all) != 2 || all["p1"].Level != store.VerdictInfected || all["p2"].Level != store.VerdictClean || all["p1"].Evidence != nil {
			t.Errorf("verdicts: %+v", all)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx store.Tx) error {
		v, err := tx.Vault(ctx, "prod")
		if err != nil {
			return err
		}
		v.Scan = false
		if err := tx.UpdateVault(ctx, v); err != nil {
			return err
		}
		for i, kind := range []string{"scan.verdict", "scan.verdict_changed", "scan.verdict"} {
			e := &store.Event{Time: t0.Add(time.Duration(i) * time.Minute), Kind: kind, Vault: "prod", Point: "p1", Data: map[string]any{"level": "infected", "n": i}}
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
			if e.ID != int64(i+1) {
				t.Errorf("event %d got id %d", i, e.ID)
			}
		}
		return nil
	})
	err = db.View(ctx, func(tx store.Tx) error {
		v, err := tx.Vault(ctx, "prod")
		if err != nil || v.Scan {
			t.Errorf("vault scan setting after update: %+v %v", v, err)
		}
		es, err := tx.Events(ctx, 1, 10)
		if err != nil {
			return err
		}
		if len(es) != 2 || es[0].ID != 2 || es[0].Kind != "scan.verdict_changed" || es[0].Data["level"] != "infected" || !es[0].Time.Equal(t0.Add(time.Minute)) || es[1].Point != "p1" {
			t.Errorf("events after 1: %+v", es)
		}
		es, err = tx.Events(ctx, 0, 1)
		if err != nil || len(es) != 1 || es[0].ID != 1 {
			t.Errorf("events limited: %+v %v", es, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScanColumnAddedToOldVaults opens a database made before vaults had a
// scan setting: its vaults keep their settings and do not scan.
func TestScanColumnAddedToOldVaults(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bunker.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range sqliteSchema[:v1Statements] {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO meta (key, value) VALUES ('schema_version', '1');
		INSERT INTO vaults (name, storage_id, backend, location, policy, created_at, created_by) VALUES ('old', 's', 'local', '/x', '{}', 1, 'ann')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx store.Tx) error {
		v, err := tx.Vault(ctx, "old")
		if err != nil {
			return err
		}
		if v.Scan || v.Policy != (retention.Policy{}) {
			t.Errorf("old vault: %+v", v)
		}
		_, err = tx.Events(ctx, 0, 10)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
