package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/store"
)

func delivery(id string, at time.Time) store.Delivery {
	return store.Delivery{ID: id, EventID: "ev-" + id, Kind: "backup.failed", Rule: "r", Target: []byte(`{"webhook":{}}`),
		TargetName: "webhook https://h/…", Envelope: []byte(`{"id":"ev-` + id + `"}`), NextAt: at, CreatedAt: at}
}

func claim(t *testing.T, db *DB, owner string, now time.Time, limit int) []store.Delivery {
	t.Helper()
	var got []store.Delivery
	update(t, db, func(tx store.Tx) error {
		var err error
		got, err = tx.ClaimDeliveries(context.Background(), store.Claim{Owner: owner, Now: now, Until: now.Add(time.Minute), Limit: limit})
		return err
	})
	return got
}

func ids(ds []store.Delivery) string {
	s := ""
	for _, d := range ds {
		s += fmt.Sprintf("%s/%d ", d.ID, d.Attempts)
	}
	return s
}

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	update(t, db, func(tx store.Tx) error {
		ds := []store.Delivery{delivery("a", t0), delivery("b", t0), delivery("c", t0.Add(time.Hour))}
		if err := tx.EnqueueDeliveries(ctx, ds); err != nil {
			return err
		}
		if ds[0].Seq == 0 || ds[1].Seq <= ds[0].Seq {
			t.Errorf("seqs %d %d", ds[0].Seq, ds[1].Seq)
		}
		again := []store.Delivery{delivery("a", t0)}
		if err := tx.EnqueueDeliveries(ctx, again); err != nil {
			return err
		}
		if again[0].Seq != ds[0].Seq {
			t.Errorf("a delivery enqueued twice got seq %d, then %d", ds[0].Seq, again[0].Seq)
		}
		return nil
	})
	// Oldest first, only what is due, each once while leased.
	if got := ids(claim(t, db, "w1", t0, 1)); got != "a/1 " {
		t.Fatalf("first claim: %s", got)
	}
	if got := ids(claim(t, db, "w2", t0, 10)); got != "b/1 " {
		t.Fatalf("second claim: %s", got)
	}
	if got := claim(t, db, "w2", t0.Add(30*time.Second), 10); len(got) != 0 {
		t.Fatalf("leased deliveries claimed again: %s", ids(got))
	}
	// A lease that lapses lets another claim it, and fences the first.
	got := claim(t, db, "w2", t0.Add(61*time.Second), 10)
	if ids(got) != "a/2 b/2 " || got[0].LeaseOwner != "w2" {
		t.Fatalf("claim after the lease: %s %+v", ids(got), got)
	}
	err := db.Update(ctx, func(tx store.Tx) error { return tx.RescheduleDelivery(ctx, "a", 1, t0, "late") })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a superseded attempt rescheduled: %v", err)
	}
	update(t, db, func(tx store.Tx) error {
		if err := tx.RescheduleDelivery(ctx, "a", 2, t0.Add(5*time.Minute), "503"); err != nil {
			return err
		}
		if err := tx.DeadLetterDelivery(ctx, "b", 2, t0.Add(2*time.Minute), "gave up: 404"); err != nil {
			return err
		}
		return tx.MarkDelivered(ctx, "nope", t0)
	})
	if got := claim(t, db, "w1", t0.Add(4*time.Minute), 10); len(got) != 0 {
		t.Fatalf("claimed before due: %s", ids(got))
	}
	if got := ids(claim(t, db, "w1", t0.Add(time.Hour), 10)); got != "a/3 c/1 " {
		t.Fatalf("claim when due: %s", got)
	}
	update(t, db, func(tx store.Tx) error {
		if err := tx.MarkDelivered(ctx, "a", t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.MarkDelivered(ctx, "a", t0.Add(2*time.Hour)); err != nil {
			return err
		}
		a, err := tx.Delivery(ctx, "a")
		if err != nil {
			return err
		}
		if a.State != store.DeliveryDelivered || !a.DoneAt.Equal(t0.Add(time.Hour)) || a.Attempts != 3 || a.LastError != "" {
			t.Errorf("delivered: %+v", a)
		}
		if err := tx.RescheduleDelivery(ctx, "a", 3, t0, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a delivered delivery rescheduled: %v", err)
		}
		if _, err := tx.Delivery(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing delivery: %v", err)
		}
		return tx.DeadLetterDelivery(ctx, "c", 1, t0.Add(time.Hour), "permanent")
	})
	// Dead letters: listed, paged, replayed one and all.
	update(t, db, func(tx store.Tx) error {
		dead, err := tx.DeadLetters(ctx, 0, 10)
		if err != nil {
			return err
		}
		if ids(dead) != "b/2 c/1 " || dead[0].LastError != "gave up: 404" || dead[0].State != store.DeliveryDead || string(dead[0].Envelope) != `{"id":"ev-b"}` {
			t.Errorf("dead letters: %s %+v", ids(dead), dead)
		}
		if page, _ := tx.DeadLetters(ctx, dead[0].Seq, 10); ids(page) != "c/1 " {
			t.Errorf("second page: %s", ids(page))
		}
		if err := tx.ReplayDeadLetter(ctx, "a", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("replayed a delivered delivery: %v", err)
		}
		return tx.ReplayDeadLetter(ctx, "b", t0.Add(2*time.Hour))
	})
	got = claim(t, db, "w1", t0.Add(2*time.Hour), 10)
	if ids(got) != "b/1 " || got[0].Replays != 1 {
		t.Fatalf("after replaying b: %s %+v", ids(got), got)
	}
	update(t, db, func(tx store.Tx) error {
		n, err := tx.ReplayDeadLetters(ctx, t0.Add(3*time.Hour))
		if err != nil || n != 1 {
			t.Errorf("replay all: %d %v", n, err)
		}
		return tx.MarkDelivered(ctx, "b", t0.Add(3*time.Hour))
	})
	if got := ids(claim(t, db, "w1", t0.Add(3*time.Hour), 10)); got != "c/1 " {
		t.Fatalf("after replaying all: %s", got)
	}
	update(t, db, func(tx store.Tx) error {
		n, err := tx.PurgeDeliveries(ctx, t0.Add(150*time.Minute))
		if err != nil || n != 1 {
			t.Errorf("purge: %d %v", n, err)
		}
		if _, err := tx.Delivery(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("purged delivery: %v", err)
		}
		if _, err := tx.Delivery(ctx, "b"); err != nil {
			t.Errorf("delivered after the cut: %v", err)
		}
		return nil
	})
}

func TestEventRulesAndEnvelopeEvents(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	r := &store.EventRule{Name: "failures", Spec: []byte(`{"name":"failures"}`), CreatedAt: t0, CreatedBy: "ann", UpdatedAt: t0, UpdatedBy: "ann"}
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateEventRule(ctx, r); err != nil {
			return err
		}
		if err := tx.CreateEventRule(ctx, r); !errors.Is(err, store.ErrExists) {
			t.Errorf("duplicate rule: %v", err)
		}
		r.Spec, r.UpdatedAt, r.UpdatedBy = []byte(`{"name":"failures","enabled":true}`), t0.Add(time.Hour), "bob"
		if err := tx.UpdateEventRule(ctx, r); err != nil {
			return err
		}
		if err := tx.CreateEventRule(ctx, &store.EventRule{Name: "another", Spec: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.AppendEvent(ctx, &store.Event{UID: "u1", Time: t0, Kind: "backup.completed", Source: "s1", Vault: "prod", Point: "p1",
			Subject: "p1", Actor: "web1", Data: map[string]any{"job": 3}})
	})
	update(t, db, func(tx store.Tx) error {
		got, err := tx.EventRule(ctx, "failures")
		if err != nil {
			return err
		}
		if string(got.Spec) != `{"name":"failures","enabled":true}` || got.CreatedBy != "ann" || got.UpdatedBy != "bob" || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("rule: %+v", got)
		}
		all, err := tx.EventRules(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "another" {
			t.Errorf("rules: %+v %v", all, err)
		}
		if err := tx.DeleteEventRule(ctx, "another"); err != nil {
			return err
		}
		if err := tx.DeleteEventRule(ctx, "another"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
		if err := tx.UpdateEventRule(ctx, &store.EventRule{Name: "ghost"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update a missing rule: %v", err)
		}
		evs, err := tx.Events(ctx, 0, 10)
		if err != nil || len(evs) != 1 {
			return fmt.Errorf("events %+v %v", evs, err)
		}
		e := evs[0]
		if e.UID != "u1" || e.Source != "s1" || e.Subject != "p1" || e.Actor != "web1" || e.Point != "p1" {
			t.Errorf("event: %+v", e)
		}
		return nil
	})
}

// TestOutboxAddedToOldDatabases opens a database made before events had
// envelopes and before the outbox: its events read back, and deliveries
// can be queued.
func TestOutboxAddedToOldDatabases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bunker.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	n := slices.IndexFunc(sqliteSchema, func(s string) bool { return strings.Contains(s, "ADD COLUMN uid") })
	for _, stmt := range sqliteSchema[:n] {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('schema_statements', ?);
		INSERT INTO events (time, kind, vault, point, data) VALUES (1, 'scan.verdict', 'prod', 'p1', '{"level":"clean"}')`, strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	update(t, db, func(tx store.Tx) error {
		evs, err := tx.Events(ctx, 0, 10)
		if err != nil || len(evs) != 1 || evs[0].Point != "p1" || evs[0].UID != "" {
			t.Errorf("old event: %+v %v", evs, err)
		}
		return tx.EnqueueDeliveries(ctx, []store.Delivery{delivery("x", t0)})
	})
}

func TestDeliveriesListed(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	ds := []store.Delivery{delivery("a", t0), delivery("b", t0), delivery("c", t0), delivery("d", t0)}
	ds[2].Rule = "other"
	update(t, db, func(tx store.Tx) error { return tx.EnqueueDeliveries(ctx, ds) })
	// b becomes a dead letter.
	got := claim(t, db, "x", t0, 2)
	if ids(got) != "a/1 b/1 " {
		t.Fatalf("claimed %s", ids(got))
	}
	update(t, db, func(tx store.Tx) error { return tx.DeadLetterDelivery(ctx, "b", 1, t0, "gone") })

	list := func(f store.DeliveryFilter) string {
		t.Helper()
		var out []store.Delivery
		update(t, db, func(tx store.Tx) error {
			var err error
			out, err = tx.Deliveries(ctx, f)
			return err
		})
		s := ""
		for _, d := range out {
			s += d.ID + ":" + string(d.State) + " "
		}
		return s
	}
	for _, c := range []struct {
		f    store.DeliveryFilter
		want string
	}{
		{store.DeliveryFilter{}, "d:pending c:pending b:dead a:pending "},
		{store.DeliveryFilter{State: store.DeliveryDead}, "b:dead "},
		{store.DeliveryFilter{State: store.DeliveryPending, Rule: "r"}, "d:pending a:pending "},
		{store.DeliveryFilter{Rule: "other"}, "c:pending "},
		{store.DeliveryFilter{Limit: 2}, "d:pending c:pending "},
		{store.DeliveryFilter{Before: ds[2].Seq}, "b:dead a:pending "},
		{store.DeliveryFilter{Rule: "none"}, ""},
	} {
		if got := list(c.f); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.f, got, c.want)
		}
	}
}
