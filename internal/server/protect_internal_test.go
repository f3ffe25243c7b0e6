package server

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/store/sqlstore"
)

// fakeRetainer records retention per object and fails after a number of
// calls, to interrupt a pass half way.
type fakeRetainer struct {
	mu      sync.Mutex
	until   map[storage.Handle]time.Time
	calls   int
	failAt  int // fail every call from this one on; 0 never
	extends int
}

func (f *fakeRetainer) RetentionSupported(context.Context) (bool, string, error) {
	return true, "", nil
}
func (f *fakeRetainer) Retention(_ context.Context, h storage.Handle) (storage.Retention, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return storage.Retention{Mode: storage.RetentionCompliance, Until: f.until[h]}, nil
}
func (f *fakeRetainer) Extend(_ context.Context, h storage.Handle, until time.Time, _ storage.RetentionMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failAt > 0 && f.calls >= f.failAt {
		return errors.New("storage unreachable")
	}
	f.extends++
	if until.After(f.until[h]) {
		f.until[h] = until
	}
	return nil
}
func (f *fakeRetainer) SetLegalHold(context.Context, storage.Handle, bool) error { return nil }
func (f *fakeRetainer) DeleteBypass(context.Context, storage.Handle) error       { return nil }

func testProtector(t *testing.T, fr *fakeRetainer, now time.Time) *protector {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &Server{cfg: Config{Now: func() time.Time { return now }, RetentionSlack: time.Hour}, metrics: newMetrics(), st: db}
	lock, _ := retention.NewLock(retention.Compliance, 0, 0, 72*time.Hour, now)
	return &protector{s: s, vault: "prod", retainer: fr, known: map[string]store.ObjectRetention{}, dirty: map[string]bool{},
		policy: retention.Policy{Lock: lock, Retention: 24 * time.Hour}}
}

// A pass interrupted half way keeps what it did, and the next pass does the
// rest and nothing twice.
func TestEnsureInterruptedAndResumed(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fr := &fakeRetainer{until: map[storage.Handle]time.Time{}, failAt: 6}
	p := testProtector(t, fr, now)
	var objs []storage.Handle
	for i := range 10 {
		objs = append(objs, storage.Handle{Kind: storage.KindPack, Name: string(rune('a'+i)) + "0"})
	}
	need := now.Add(30 * 24 * time.Hour)
	n, err := p.ensure(ctx, objs, need)
	if err == nil || n != 5 {
		t.Fatalf("interrupted pass: %d extended, err %v; want 5 and an error", n, err)
	}
	// What was done is in the catalog: a new protector (a restarted server)
	// starts from it.
	p2 := testProtector(t, fr, now)
	p2.s.st = p.s.st
	if err := p2.s.st.View(ctx, func(tx store.Tx) error {
		var err error
		p2.known, err = tx.ObjectRetentions(ctx, "prod")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(p2.known) != 5 {
		t.Fatalf("%d objects recorded after the interrupted pass, want 5", len(p2.known))
	}
	fr.failAt = 0
	before := fr.extends
	if n, err := p2.ensure(ctx, objs, need); err != nil || n != 5 {
		t.Fatalf("resumed pass: %d extended, %v; want the 5 left", n, err)
	}
	if fr.extends-before != 5 {
		t.Fatalf("resumed pass extended %d objects", fr.extends-before)
	}
	for _, h := range objs {
		if fr.until[h].Before(need) {
			t.Errorf("%s retained until %v, needed until %v", h, fr.until[h], need)
		}
	}
	// Within the slack, a later need costs nothing.
	if n, _ := p2.ensure(ctx, objs, need.Add(30*time.Minute)); n != 0 {
		t.Fatalf("%d extensions for a need inside the slack", n)
	}
	if n, _ := p2.ensure(ctx, objs, need.Add(2*time.Hour)); n != 10 {
		t.Fatalf("%d extensions for a need beyond the slack, want 10", n)
	}
}

// New objects get the lock's mode and a retention covering the vault's
// retention, bin period and slack; none without a lock.
func TestPutOptions(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p := testProtector(t, &fakeRetainer{until: map[storage.Handle]time.Time{}}, now)
	p.policy.BinRetention = 7 * 24 * time.Hour
	o := p.putOptions(storage.Handle{Kind: storage.KindPack, Name: "x"})
	if o.Mode != storage.RetentionCompliance || !o.RetainUntil.Equal(now.Add(24*time.Hour+7*24*time.Hour+time.Hour)) {
		t.Fatalf("put options %+v", o)
	}
	p.setPolicy(retention.Policy{})
	if o := p.putOptions(storage.Handle{Kind: storage.KindPack, Name: "y"}); o != (storage.PutOptions{}) {
		t.Fatalf("unlocked vault wrote with %+v", o)
	}
}
