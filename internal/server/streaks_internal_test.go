package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/store/sqlstore"
)

// The failing copies are learnt again from the store; a point that is
// no longer listed has its count forgotten there, and only the streaks of
// that peer, vault and kind are looked at.
func TestFailureStreaksForgetGonePoints(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var f failureStreaks
	keys := []store.FailureStreak{
		streakKey(store.StreakPull, "site-a", "prod", "p1"),
		streakKey(store.StreakPull, "site-a", "prod", "p2"),
		streakKey(store.StreakPull, "site-a", "prod", ""), // the listing
		streakKey(store.StreakPull, "site-a", "db", "p3"),
		streakKey(store.StreakPush, "site-a", "prod", "p4"),
	}
	for _, k := range keys {
		if err := db.Update(ctx, func(tx store.Tx) error { _, err := f.add(ctx, tx, k); return err }); err != nil {
			t.Fatal(err)
		}
	}
	// A server started again knows which copies fail.
	var again failureStreaks
	if err := again.seed(ctx, db); err != nil || len(again.failing) != len(keys) {
		t.Fatalf("seeded %d failing copies (%v), want %d", len(again.failing), err, len(keys))
	}
	if err := again.forgetGone(ctx, db, store.StreakPull, "site-a", "prod", map[string]bool{"p1": true}); err != nil {
		t.Fatal(err)
	}
	var left []store.FailureStreak
	if err := db.View(ctx, func(tx store.Tx) error { var err error; left, err = tx.FailureStreaks(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	got := map[store.FailureStreak]bool{}
	for _, s := range left {
		s.Failures = 0
		got[s] = true
	}
	if len(got) != 4 || got[keys[1]] || !got[keys[0]] || !got[keys[2]] || !got[keys[3]] || !got[keys[4]] {
		t.Fatalf("streaks after p2 went: %v", left)
	}
	if _, ok := again.failing[keys[1]]; ok || len(again.failing) != 4 {
		t.Fatalf("failing set after p2 went: %v", again.failing)
	}
}
