package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/eventrule"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/store/sqlstore"
)

// A backup.completed event recorded through record carries the server's
// name, clock and the point, and enqueues a delivery for a matching rule
// in the same transaction; a rule that does not match enqueues nothing.
func TestEventRecordEnqueuesMatchingRule(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := func() time.Time { return now }
	s := &Server{cfg: Config{Now: clock, Name: "bunker-1"}, st: db,
		events: &eventrule.Emitter{Source: "bunker-1", Now: clock}}
	for _, spec := range []string{
		`{"name":"prod-backups","pattern":{"kind":["backup.completed"],"vault":["prod"]},"targets":[{"webhook":{"url":"https://hooks.example/b","secret":"hook"}}]}`,
		`{"name":"failures","pattern":{"kind":["backup.failed"]},"targets":[{"webhook":{"url":"https://hooks.example/f","secret":"hook"}}]}`,
	} {
		r, err := eventrule.ParseRule([]byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(r)
		if err := db.Update(ctx, func(tx store.Tx) error {
			return tx.CreateEventRule(ctx, &store.EventRule{Name: r.Name, Spec: raw, CreatedAt: now, UpdatedAt: now})
		}); err != nil {
			t.Fatal(err)
		}
	}
	sp := &store.Point{Vault: "prod", ID: "3fa9", Hostname: "web1", Paths: []string{"/srv"}, Parent: "2e01",
		Summary: &repo.Summary{FilesNew: 2, FilesUnchanged: 3, TotalBytes: 100, BytesStored: 40}, Expires: now.Add(time.Hour)}
	var box outbox
	var ds []store.Delivery
	if err := db.Update(ctx, func(tx store.Tx) error {
		if err := s.record(ctx, tx, &box, backupCompleted(sp, "host1", 90*time.Second)); err != nil {
			return err
		}
		ds, err = tx.DeadLetters(ctx, 0, 10) // none yet: all pending
		if err != nil || len(ds) != 0 {
			t.Errorf("dead letters %v %v", ds, err)
		}
		ds, err = tx.ClaimDeliveries(ctx, store.Claim{Owner: "t", Now: now, Until: now.Add(time.Minute), Limit: 10})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Rule != "prod-backups" || ds[0].Kind != event.BackupCompleted {
		t.Fatalf("deliveries %+v", ds)
	}
	e, err := event.Parse(ds[0].Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != "bunker-1" || !e.Time.Equal(now) || e.Vault != "prod" || e.Subject != "3fa9" || e.Actor != "host1" {
		t.Errorf("envelope %+v", e)
	}
	if got := e.Detail["files"]; got != json.Number("5") {
		t.Errorf("files %v", got)
	}
	if e.Detail["hostname"] != "web1" || e.Detail["parent"] != "2e01" || e.Detail["bytes_added"] != json.Number("40") || e.Detail["expires"] != "2026-12-01T13:00:00Z" {
		t.Errorf("detail %v", e.Detail)
	}
	if len(box) != 1 || box[0].ID == 0 || box[0].UID != e.ID {
		t.Errorf("outbox %+v", box)
	}
}

// vault.lock_changed carries the new and previous modes and the lock's
// bounds in the catalogue's fields.
func TestEventLockChanged(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	lock, err := retention.NewLock(retention.Governance, time.Hour, 0, 72*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	e := lockChanged("prod", "sec", retention.None, lock)
	if e.Kind != event.VaultLockChanged || e.Vault != "prod" || e.Subject != "prod" || e.Actor != "sec" {
		t.Fatalf("%+v", e)
	}
	d := e.Detail
	if d["mode"] != "governance" || d["previous_mode"] != "none" || d["min_retention_seconds"] != 3600.0 || d["max_retention_seconds"] != 0.0 ||
		d["changeable_until"] != "2026-12-04T12:00:00Z" {
		t.Errorf("detail %v", d)
	}
	if d := lockChanged("prod", "sec", retention.Governance, retention.Lock{}).Detail; d["mode"] != "none" || d["changeable_until"] != nil {
		t.Errorf("removed: %v", d)
	}
}
