package eventrule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/store/sqlstore"
)

var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func openStore(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "bunker.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// addRule stores a rule.
func addRule(t *testing.T, db store.Store, spec string) {
	t.Helper()
	r, err := ParseRule([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Stored("ann", t0)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx store.Tx) error { return tx.CreateEventRule(context.Background(), rec) })
	if err != nil {
		t.Fatal(err)
	}
}

// emit emits one event in a transaction of its own.
func emit(t *testing.T, db store.Store, em *Emitter, e *event.Envelope) []store.Delivery {
	t.Helper()
	var ds []store.Delivery
	err := db.Update(context.Background(), func(tx store.Tx) error {
		var err error
		ds, err = em.Emit(context.Background(), tx, e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func getDelivery(t *testing.T, db store.Store, id string) *store.Delivery {
	t.Helper()
	var d *store.Delivery
	err := db.View(context.Background(), func(tx store.Tx) error {
		var err error
		d, err = tx.Delivery(context.Background(), id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func runOnce(t *testing.T, d *Deliverer) int {
	t.Helper()
	n, err := d.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// receiver is a webhook receiver that answers with status.
type receiver struct {
	mu     sync.Mutex
	status atomic.Int32
	reqs   []*http.Request
	bodies [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs, rc.bodies = append(rc.reqs, r), append(rc.bodies, b)
	rc.mu.Unlock()
	w.WriteHeader(int(rc.status.Load()))
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// eventIDs returns the event ids received, in order.
func (rc *receiver) eventIDs() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var ids []string
	for _, r := range rc.reqs {
		ids = append(ids, r.Header.Get(notify.HeaderEventID))
	}
	return ids
}

var hookSecret = []byte("0123456789abcdef0123456789abcdef")

func secrets(_ context.Context, name string) ([]byte, error) {
	if name == "hook" {
		return hookSecret, nil
	}
	return nil, fmt.Errorf("no secret %s", name)
}

func webhookRule(name, url, pattern string) string {
	return `{"name":"` + name + `","pattern":` + pattern + `,"targets":[{"webhook":{"url":"` + url + `","secret":"hook"}}]}`
}

func TestWebhookRetriesDeadLetterReplay(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{now: t0}
	rc := &receiver{}
	rc.status.Store(http.StatusInternalServerError)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	addRule(t, db, webhookRule("failures", srv.URL+"/hook/T0", `{"kind":[{"suffix":".failed"}]}`))
	em := &Emitter{Source: "bunker-1", Now: clk.Now}
	ds := emit(t, db, em, &event.Envelope{Kind: event.BackupFailed, Vault: "prod", Subject: "17", Actor: "web1",
		Detail: map[string]any{"job": 17, "error": "disk full"}})
	if len(ds) != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	id := ds[0].ID
	var outcomes []Outcome
	d, err := NewDeliverer(DelivererOptions{Store: db, Sender: &Runner{Secret: secrets, Now: clk.Now}, Owner: "w1",
		BaseDelay: time.Second, MaxDelay: time.Minute, MaxAttempts: 3, Now: clk.Now,
		Jitter: func(time.Duration) time.Duration { return 0 }, OnOutcome: func(o Outcome) { outcomes = append(outcomes, o) }})
	if err != nil {
		t.Fatal(err)
	}
	// Attempt 1 fails; the next is due a second later, not before.
	if n := runOnce(t, d); n != 1 || rc.count() != 1 {
		t.Fatalf("first run: %d claimed, %d received", n, rc.count())
	}
	if got := getDelivery(t, db, id); got.State != store.DeliveryPending || !got.NextAt.Equal(t0.Add(time.Second)) || !strings.Contains(got.LastError, "500") {
		t.Fatalf("after attempt 1: %+v", got)
	}
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("retried before the backoff: %d", n)
	}
	clk.Advance(time.Second)
	runOnce(t, d)
	if got := getDelivery(t, db, id); got.Attempts != 2 || !got.NextAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after attempt 2: %+v", got)
	}
	// Attempt 3 is the last: a dead letter.
	clk.Advance(2 * time.Second)
	runOnce(t, d)
	if len(outcomes) != 3 || !outcomes[2].Dead || outcomes[1].Dead || !outcomes[1].Next.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("outcomes %+v", outcomes)
	}
	clk.Advance(time.Hour)
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("a dead letter was claimed: %d", n)
	}
	var dead []store.Delivery
	err = db.View(ctx, func(tx store.Tx) error {
		var err error
		dead, err = tx.DeadLetters(ctx, 0, 10)
		return err
	})
	if err != nil || len(dead) != 1 || dead[0].ID != id || !strings.HasPrefix(dead[0].LastError, "gave up after 3 attempts: webhook") ||
		!strings.Contains(dead[0].LastError, "500") || strings.Contains(dead[0].TargetName+dead[0].LastError, "T0") {
		t.Fatalf("dead letters %+v %v", dead, err)
	}
	// The receiver recovers; the replayed delivery gets through.
	rc.status.Store(http.StatusNoContent)
	err = db.Update(ctx, func(tx store.Tx) error { return tx.ReplayDeadLetter(ctx, id, clk.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	if n := runOnce(t, d); n != 1 || rc.count() != 4 {
		t.Fatalf("replay: %d claimed, %d received", n, rc.count())
	}
	if got := getDelivery(t, db, id); got.State != store.DeliveryDelivered || got.Replays != 1 || got.Attempts != 1 {
		t.Fatalf("after the replay: %+v", got)
	}
	// Every request carried the same event and delivery ids, was signed,
	// and held the event.
	for i, r := range rc.reqs {
		if err := notify.VerifyWebhook(hookSecret, r.Header, rc.bodies[i], clk.Now(), 2*time.Hour); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
		if r.Header.Get(notify.HeaderEventID) != ds[0].EventID || r.Header.Get(notify.HeaderEvent) != event.BackupFailed ||
			r.Header.Get(notify.HeaderDeliveryID) != id {
			t.Errorf("request %d headers %v", i, r.Header)
		}
	}
	var p notify.Payload
	if err := json.Unmarshal(rc.bodies[3], &p); err != nil {
		t.Fatal(err)
	}
	if p.Bunker.ID != ds[0].EventID || p.Bunker.Source != "bunker-1" || p.Bunker.Subject != "job 17" || p.Bunker.Actor != "web1" ||
		p.Bunker.Detail["error"] != "disk full" || !strings.Contains(p.Text, "backup.failed, vault prod: job 17 (by web1)") {
		t.Errorf("payload %+v", p)
	}
}

func TestPermanentFailureIsDeadAtOnce(t *testing.T) {
	db := openStore(t)
	rc := &receiver{}
	rc.status.Store(http.StatusNotFound)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	addRule(t, db, webhookRule("all", srv.URL, `{"kind":[{"exists":true}]}`))
	addRule(t, db, `{"name":"nosecret","pattern":{"kind":[{"exists":true}]},"targets":[{"webhook":{"url":"`+srv.URL+`","secret":"other"}}]}`)
	ds := emit(t, db, &Emitter{Source: "s"}, &event.Envelope{Kind: event.JobFailed, Subject: "3"})
	d, _ := NewDeliverer(DelivererOptions{Store: db, Sender: &Runner{Secret: secrets}, Owner: "w", Jitter: func(time.Duration) time.Duration { return 0 }})
	runOnce(t, d)
	byRule := map[string]*store.Delivery{}
	for _, x := range ds {
		byRule[x.Rule] = getDelivery(t, db, x.ID)
	}
	if got := byRule["all"]; got.State != store.DeliveryDead || got.Attempts != 1 || !strings.Contains(got.LastError, "404") {
		t.Errorf("404: %+v", got)
	}
	// A missing secret may be added later: retried.
	if got := byRule["nosecret"]; got.State != store.DeliveryPending || !strings.Contains(got.LastError, "webhook secret other: no secret other") {
		t.Errorf("missing secret: %+v", got)
	}
}

func TestLeaseLapseRedelivers(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{now: t0}
	var copies atomic.Int32
	var subject atomic.Value
	copyFn := func(_ context.Context, action string, e *event.Envelope) error {
		copies.Add(1)
		subject.Store(action + " " + e.Subject)
		return nil
	}
	addRule(t, db, `{"name":"to-central","pattern":{"kind":["backup.completed"]},"targets":[{"copy":{"action":"central"}}]}`)
	ds := emit(t, db, &Emitter{Source: "s", Now: clk.Now}, &event.Envelope{Kind: event.BackupCompleted, Vault: "prod", Subject: "3fa9"})
	// A process claims the delivery and dies before it settles it.
	err := db.Update(ctx, func(tx store.Tx) error {
		got, err := tx.ClaimDeliveries(ctx, store.Claim{Owner: "crashed", Now: clk.Now(), Until: clk.Now().Add(time.Minute), Limit: 10})
		if len(got) != 1 {
			t.Errorf("crashed claim: %+v", got)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDeliverer(DelivererOptions{Store: db, Sender: &Runner{Copy: copyFn}, Owner: "w2", AttemptTimeout: 10 * time.Second,
		Lease: time.Minute, Now: clk.Now})
	clk.Advance(59 * time.Second)
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("claimed under another's lease: %d", n)
	}
	clk.Advance(time.Second)
	if n := runOnce(t, d); n != 1 || copies.Load() != 1 || subject.Load() != "central 3fa9" {
		t.Fatalf("after the lease: %d claimed, %d copies, %v", n, copies.Load(), subject.Load())
	}
	if got := getDelivery(t, db, ds[0].ID); got.State != store.DeliveryDelivered || got.Attempts != 2 || got.LeaseOwner != "w2" {
		t.Fatalf("redelivered: %+v", got)
	}
}

func TestAbandonedTooOftenIsDead(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{now: t0}
	var copies atomic.Int32
	addRule(t, db, `{"name":"c","pattern":{"kind":["backup.completed"]},"targets":[{"copy":{"action":"central"}}]}`)
	ds := emit(t, db, &Emitter{Source: "s", Now: clk.Now}, &event.Envelope{Kind: event.BackupCompleted, Subject: "p"})
	for range 2 {
		err := db.Update(ctx, func(tx store.Tx) error {
			_, err := tx.ClaimDeliveries(ctx, store.Claim{Owner: "crashing", Now: clk.Now(), Until: clk.Now().Add(time.Minute), Limit: 1})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	d, _ := NewDeliverer(DelivererOptions{Store: db, Owner: "w", MaxAttempts: 2, Now: clk.Now,
		Sender: &Runner{Copy: func(context.Context, string, *event.Envelope) error { copies.Add(1); return nil }}})
	runOnce(t, d)
	got := getDelivery(t, db, ds[0].ID)
	if got.State != store.DeliveryDead || copies.Load() != 0 || !strings.Contains(got.LastError, "claimed 2 times without finishing") {
		t.Fatalf("poison delivery: %+v, %d copies", got, copies.Load())
	}
}

func TestShutdownReleasesClaim(t *testing.T) {
	db := openStore(t)
	addRule(t, db, `{"name":"c","pattern":{"kind":["backup.completed"]},"targets":[{"copy":{"action":"slow"}}]}`)
	ds := emit(t, db, &Emitter{Source: "s"}, &event.Envelope{Kind: event.BackupCompleted, Subject: "p"})
	started := make(chan struct{})
	slow := func(ctx context.Context, _ string, _ *event.Envelope) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	d, _ := NewDeliverer(DelivererOptions{Store: db, Sender: &Runner{Copy: slow}, Owner: "w", Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := getDelivery(t, db, ds[0].ID)
	if got.State != store.DeliveryPending || !got.LeaseUntil.IsZero() || got.Attempts != 1 || !strings.HasPrefix(got.LastError, "interrupted: ") ||
		got.NextAt.After(time.Now()) {
		t.Fatalf("after shutdown: %+v", got)
	}
}

func TestOrderingAndConcurrency(t *testing.T) {
	db := openStore(t)
	rc := &receiver{}
	rc.status.Store(http.StatusOK)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	addRule(t, db, webhookRule("all", srv.URL, `{"kind":[{"prefix":"backup."}]}`))
	em := &Emitter{Source: "s"}
	var want []string
	for i := range 30 {
		ds := emit(t, db, em, &event.Envelope{Kind: event.BackupCompleted, Subject: fmt.Sprint(i)})
		want = append(want, ds[0].EventID)
	}
	// One at a time, deliveries go out in the order they were emitted.
	d, _ := NewDeliverer(DelivererOptions{Store: db, Sender: &Runner{Secret: secrets}, Owner: "w", Concurrency: 1})
	for runOnce(t, d) > 0 {
	}
	if got := rc.eventIDs(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
	// Two deliverers at once, eight attempts each: every delivery exactly
	// once, since no lease lapses.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var ds []store.Delivery
	for i := range 2 {
		dl, err := NewDeliverer(DelivererOptions{Store: db, Sender: &Runner{Secret: secrets}, Owner: fmt.Sprint("w", i), Concurrency: 8, Poll: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { dl.Run(ctx) })
	}
	var emitters sync.WaitGroup
	var mu sync.Mutex
	for g := range 3 {
		emitters.Go(func() {
			for i := range 20 {
				var got []store.Delivery
				err := db.Update(context.Background(), func(tx store.Tx) error {
					var err error
					got, err = em.Emit(context.Background(), tx, &event.Envelope{Kind: event.BackupCompleted, Subject: fmt.Sprint(g, "-", i)})
					return err
				})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				ds = append(ds, got...)
				mu.Unlock()
			}
		})
	}
	emitters.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for rc.count() < 30+len(ds) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // for any duplicate to arrive
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, id := range rc.eventIDs()[30:] {
		seen[id]++
	}
	for _, x := range ds {
		if seen[x.EventID] != 1 {
			t.Errorf("event %s received %d times", x.EventID, seen[x.EventID])
		}
		if got := getDelivery(t, db, x.ID); got.State != store.DeliveryDelivered {
			t.Errorf("delivery %s: %s", x.ID, got.State)
		}
	}
	if len(seen) != len(ds) || len(ds) != 60 {
		t.Errorf("%d events received, %d emitted", len(seen), len(ds))
	}
}

func TestBackoff(t *testing.T) {
	var jitter time.Duration
	d, err := NewDeliverer(DelivererOptions{Store: openStore(t), Sender: &Runner{}, Owner: "w", BaseDelay: time.Second, MaxDelay: 10 * time.Second,
		Jitter: func(w time.Duration) time.Duration { return min(jitter, w) }})
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, d.backoff(n, errors.New("x")))
	}
	if fmt.Sprint(got) != "[1s 2s 4s 8s 10s 10s]" {
		t.Errorf("waits %v", got)
	}
	jitter = time.Hour // more than half is taken as half
	if w := d.backoff(3, errors.New("x")); w != 2*time.Second {
		t.Errorf("most jitter: %v", w)
	}
	jitter = 0
	if w := d.backoff(1, &notify.DeliveryError{Err: errors.New("429"), RetryAfter: 3 * time.Second}); w != 3*time.Second {
		t.Errorf("retry-after: %v", w)
	}
	if w := d.backoff(1, fmt.Errorf("wrapped: %w", &notify.DeliveryError{Err: errors.New("429"), RetryAfter: time.Hour})); w != 10*time.Second {
		t.Errorf("long retry-after: %v", w)
	}
	rnd, _ := NewDeliverer(DelivererOptions{Store: openStore(t), Sender: &Runner{}, Owner: "w", BaseDelay: time.Second})
	for range 100 {
		if w := rnd.backoff(4, errors.New("x")); w < 4*time.Second || w > 8*time.Second {
			t.Fatalf("random jitter out of bounds: %v", w)
		}
	}
}

func TestNewDelivererRefuses(t *testing.T) {
	db := openStore(t)
	for _, o := range []DelivererOptions{
		{Sender: &Runner{}, Owner: "w"},
		{Store: db, Owner: "w"},
		{Store: db, Sender: &Runner{}},
		{Store: db, Sender: &Runner{}, Owner: "w", BaseDelay: time.Minute, MaxDelay: time.Second},
		{Store: db, Sender: &Runner{}, Owner: "w", MaxAttempts: -1},
		{Store: db, Sender: &Runner{}, Owner: "w", AttemptTimeout: time.Minute, Lease: time.Minute},
		{Store: db, Sender: &Runner{}, Owner: "w", Concurrency: 1000},
	} {
		if _, err := NewDeliverer(o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
}

func TestEmit(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &clock{now: t0}
	addRule(t, db, `{"name":"infected","pattern":{"kind":["scan.verdict"],"detail":{"level":["infected"]}},"targets":[{"copy":{"action":"quarantine"}},{"copy":{"action":"forensics"}}]}`)
	addRule(t, db, `{"name":"off","enabled":false,"pattern":{"kind":["scan.verdict"]},"targets":[{"copy":{"action":"x"}}]}`)
	// A stored rule that no longer parses is skipped.
	err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreateEventRule(ctx, &store.EventRule{Name: "broken", Spec: []byte(`{"name":"broken","pattern":{"kind":[]}}`), CreatedAt: t0, UpdatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	em := &Emitter{Source: "bunker-1", Now: clk.Now}
	e := &event.Envelope{Kind: event.ScanVerdict, Vault: "prod", Subject: "p1", Detail: map[string]any{"level": "infected", "score": 31}}
	ds := emit(t, db, em, e)
	if len(ds) != 2 || ds[0].Rule != "infected" || ds[0].ID != DeliveryID(e.ID, "infected", 0) || ds[1].ID != DeliveryID(e.ID, "infected", 1) ||
		!ds[0].NextAt.Equal(t0) || ds[0].TargetName != "copy quarantine" || ds[0].Kind != event.ScanVerdict {
		t.Fatalf("deliveries %+v", ds)
	}
	if e.ID == "" || e.Version != event.Version || !e.Time.Equal(t0) || e.Source != "bunker-1" {
		t.Errorf("envelope not completed: %+v", e)
	}
	env, err := event.Parse(ds[0].Envelope)
	if err != nil || env.ID != e.ID || env.Detail["level"] != "infected" {
		t.Errorf("stored envelope %s: %v", ds[0].Envelope, err)
	}
	emit(t, db, em, &event.Envelope{Kind: event.ScanVerdict, Vault: "prod", Subject: "p2", Detail: map[string]any{"level": "clean"}})
	// An event whose change rolls back leaves nothing behind.
	err = db.Update(ctx, func(tx store.Tx) error {
		if _, err := em.Emit(ctx, tx, &event.Envelope{Kind: event.ScanVerdict, Subject: "p3", Detail: map[string]any{"level": "infected"}}); err != nil {
			return err
		}
		return errors.New("the change failed")
	})
	if err == nil {
		t.Fatal("no error")
	}
	err = db.View(ctx, func(tx store.Tx) error {
		evs, err := tx.Events(ctx, 0, 10)
		if err != nil {
			return err
		}
		if len(evs) != 2 || evs[0].UID != e.ID || evs[0].Point != "p1" || evs[0].Subject != "p1" || evs[0].Source != "bunker-1" || evs[0].Data["level"] != "infected" {
			t.Errorf("events %+v", evs)
		}
		got, err := tx.ClaimDeliveries(ctx, store.Claim{Owner: "t", Now: t0, Until: t0.Add(time.Minute), Limit: 10})
		if len(got) != 2 {
			t.Errorf("queued: %+v", got)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*event.Envelope{{Kind: "Nope"}, {Kind: "a.b", Detail: map[string]any{"f": func() {}}}} {
		err := db.Update(ctx, func(tx store.Tx) error { _, err := em.Emit(ctx, tx, bad); return err })
		if err == nil {
			t.Errorf("emitted %+v", bad)
		}
	}
}
