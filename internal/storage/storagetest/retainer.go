package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// RetainerFixture is one backend for RunRetainer and a way to let time
// pass for it.
type RetainerFixture struct {
	// Backend is empty, implements storage.Retainer, and supports
	// retention (RetentionSupported reports true).
	Backend storage.Backend
	// Advance lets at least d pass on the clock by which Backend judges
	// retention: it moves an injected clock forward, or sleeps when the
	// backend keeps its own time.
	Advance func(d time.Duration)
}

// retainShort is the retention RunRetainer lets pass with Advance. It is
// short so that a backend on a real clock (a server's) can run the contract
// by sleeping, and long enough that a retention set just now has not passed
// when the next call reaches the backend.
const retainShort = 3 * time.Second

// retainLong is a retention that never passes while the contract runs. The
// contract gives it only to governance objects, which it removes with
// DeleteBypass, and to objects it checks are refused.
const retainLong = time.Hour

// RunRetainer checks that backends built by newFixture hold retained objects
// as storage.Retainer documents: Delete refuses them until their retention
// passes or while a legal hold is on, DeleteBypass lets governance go early
// but never compliance or a hold, Extend never shortens and compliance
// stays compliance, and retention comes back as it was set. It tests
// behaviour only, so any backend that enforces retention itself can run it;
// it is called once per subtest, and RunRetainer closes each backend when
// its subtest ends. Retain-until dates are whole seconds, so backends that
// store seconds report them exactly.
func RunRetainer(t *testing.T, newFixture func(t *testing.T) RetainerFixture) {
	tests := []struct {
		name string
		fn   func(*testing.T, *retainerEnv)
	}{
		{"Supported", testRetainerRetentionSupported},
		{"PutRetained", testRetainerPutRetained},
		{"PlainObject", testRetainerPlainObjectUnretained},
		{"DeleteRefusedUntilExpiry", testRetainerDeleteRefusedUntilExpiry},
		{"GovernanceBypass", testRetainerGovernanceBypass},
		{"ComplianceNoBypass", testRetainerComplianceNoBypass},
		{"LegalHold", testRetainerLegalHold},
		{"LegalHoldWithoutRetention", testRetainerLegalHoldWithoutRetention},
		{"ExtendNeverShortens", testRetainerExtendNeverShortens},
		{"ExtendToCompliance", testRetainerExtendToCompliance},
		{"ExtendPlainObject", testRetainerExtendPlainObject},
		{"ExtendConcurrent", testRetainerExtendConcurrent},
		{"PutExistingKeepsRetention", testRetainerPutExistingKeepsRetention},
		{"InvalidRetention", testRetainerInvalidRetention},
		{"Missing", testRetainerMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			r, ok := fx.Backend.(storage.Retainer)
			if !ok {
				t.Fatalf("%T does not implement storage.Retainer", fx.Backend)
			}
			t.Cleanup(func() {
				if err := fx.Backend.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, &retainerEnv{b: fx.Backend, r: r, advance: fx.Advance})
		})
	}
}

// retainerEnv is the backend under test, seen both ways.
type retainerEnv struct {
	b       storage.Backend
	r       storage.Retainer
	advance func(time.Duration)
}

// retainedUntil returns a retain-until d from now, on a whole second.
func retainedUntil(d time.Duration) time.Time {
	return time.Now().Add(d).Truncate(time.Second).Add(time.Second).UTC()
}

// putRetained stores o under mode until u.
func (e *retainerEnv) putRetained(t *testing.T, o object, mode storage.RetentionMode, u time.Time) {
	t.Helper()
	opts := storage.PutOptions{Mode: mode, RetainUntil: u}
	if err := e.b.Put(t.Context(), o.h, int64(len(o.data)), bytes.NewReader(o.data), opts); err != nil {
		t.Fatalf("Put %s with %s retention until %s: %v", o.h, mode, u.Format(time.RFC3339), err)
	}
}

// wantRetention fails unless h's retention is want.
func (e *retainerEnv) wantRetention(t *testing.T, h storage.Handle, want storage.Retention) {
	t.Helper()
	got, err := e.r.Retention(t.Context(), h)
	if err != nil {
		t.Fatalf("Retention %s: %v", h, err)
	}
	if got.Mode != want.Mode || !got.Until.Equal(want.Until) || got.LegalHold != want.LegalHold {
		t.Fatalf("Retention %s = %s, want %s", h, describeRetention(got), describeRetention(want))
	}
}

func describeRetention(r storage.Retention) string {
	s := fmt.Sprintf("mode %q", r.Mode)
	if !r.Until.IsZero() {
		s += " until " + r.Until.UTC().Format(time.RFC3339Nano)
	}
	if r.LegalHold {
		s += ", legal hold"
	}
	return s
}

// wantRefused fails unless deleting h (with the governance bypass when
// bypass is set) is refused with ErrRetained and h keeps its content.
func (e *retainerEnv) wantRefused(t *testing.T, o object, bypass bool) {
	t.Helper()
	op, del := "Delete", e.b.Delete
	if bypass {
		op, del = "DeleteBypass", e.r.DeleteBypass
	}
	if err := del(t.Context(), o.h); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("%s of retained %s: got %v, want ErrRetained", op, o.h, err)
	}
	wantContent(t, e.b, o.h, o.data)
}

// wantDeleted deletes h (with the bypass when bypass is set) and checks it
// is gone.
func (e *retainerEnv) wantDeleted(t *testing.T, h storage.Handle, bypass bool) {
	t.Helper()
	op, del := "Delete", e.b.Delete
	if bypass {
		op, del = "DeleteBypass", e.r.DeleteBypass
	}
	if err := del(t.Context(), h); err != nil {
		t.Fatalf("%s %s: %v", op, h, err)
	}
	wantAbsent(t, e.b, h)
}

func testRetainerRetentionSupported(t *testing.T, e *retainerEnv) {
	ok, reason, err := e.r.RetentionSupported(t.Context())
	if err != nil || !ok {
		t.Fatalf("RetentionSupported = %v, %q, %v; the fixture must support retention", ok, reason, err)
	}
}

func testRetainerPutRetained(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindPack, 3000)
	u := retainedUntil(retainLong)
	e.putRetained(t, o, storage.RetentionCompliance, u)
	wantContent(t, e.b, o.h, o.data)
	if got := get(t, e.b, o.h, 100, 50); !bytes.Equal(got, o.data[100:150]) {
		t.Fatalf("ranged Get of a retained object differs")
	}
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionCompliance, Until: u})
	fi, err := e.b.Stat(t.Context(), o.h)
	if err != nil {
		t.Fatalf("Stat %s: %v", o.h, err)
	}
	if fi.Size != int64(len(o.data)) || !fi.RetainUntil.Equal(u) {
		t.Fatalf("Stat %s: size %d, retain-until %v; want %d, %v", o.h, fi.Size, fi.RetainUntil, len(o.data), u)
	}
	if got := listAll(t, e.b, storage.KindPack); len(got) != 1 || got[o.h.Name] != int64(len(o.data)) {
		t.Fatalf("List packs = %v, want only %s", got, o.h.Name)
	}
	e.wantRefused(t, o, false)
}

func testRetainerPlainObjectUnretained(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindIndex, 500)
	put(t, e.b, o)
	e.wantRetention(t, o.h, storage.Retention{})
	fi, err := e.b.Stat(t.Context(), o.h)
	if err != nil || !fi.RetainUntil.IsZero() {
		t.Fatalf("Stat of a plain object: retain-until %v, %v; want zero", fi.RetainUntil, err)
	}
	e.wantDeleted(t, o.h, false)
	other := newObject(t, storage.KindIndex, 500)
	put(t, e.b, other)
	e.wantDeleted(t, other.h, true)
}

func testRetainerDeleteRefusedUntilExpiry(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindPoint, 800)
	u := retainedUntil(retainShort)
	e.putRetained(t, o, storage.RetentionCompliance, u)
	e.wantRefused(t, o, false)
	e.wantRefused(t, o, true)
	if got := listAll(t, e.b, storage.KindPoint); len(got) != 1 {
		t.Fatalf("a refused Delete changed the listing: %v", got)
	}
	e.advance(time.Until(u) + time.Second)
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionCompliance, Until: u})
	e.wantDeleted(t, o.h, false)
	put(t, e.b, o) // the name is free again
	wantContent(t, e.b, o.h, o.data)
}

func testRetainerGovernanceBypass(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindPack, 1200)
	u := retainedUntil(retainLong)
	e.putRetained(t, o, storage.RetentionGovernance, u)
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionGovernance, Until: u})
	e.wantRefused(t, o, false)
	e.wantDeleted(t, o.h, true)
}

func testRetainerComplianceNoBypass(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindKey, 300)
	e.putRetained(t, o, storage.RetentionCompliance, retainedUntil(retainLong))
	for range 2 {
		e.wantRefused(t, o, true)
		e.wantRefused(t, o, false)
	}
}

func testRetainerLegalHold(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindPack, 2000)
	u := retainedUntil(retainShort)
	e.putRetained(t, o, storage.RetentionGovernance, u)
	if err := e.r.SetLegalHold(t.Context(), o.h, true); err != nil {
		t.Fatalf("SetLegalHold on: %v", err)
	}
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionGovernance, Until: u, LegalHold: true})
	e.wantRefused(t, o, false)
	e.wantRefused(t, o, true)
	e.advance(time.Until(u) + time.Second)
	e.wantRefused(t, o, false) // the retention has passed, the hold has not
	e.wantRefused(t, o, true)
	if err := e.r.SetLegalHold(t.Context(), o.h, true); err != nil {
		t.Fatalf("SetLegalHold on, again: %v", err)
	}
	if err := e.r.SetLegalHold(t.Context(), o.h, false); err != nil {
		t.Fatalf("SetLegalHold off: %v", err)
	}
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionGovernance, Until: u})
	e.wantDeleted(t, o.h, false)
}

func testRetainerLegalHoldWithoutRetention(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindIndex, 700)
	put(t, e.b, o)
	if err := e.r.SetLegalHold(t.Context(), o.h, true); err != nil {
		t.Fatalf("SetLegalHold on a plain object: %v", err)
	}
	e.wantRetention(t, o.h, storage.Retention{LegalHold: true})
	e.wantRefused(t, o, false)
	e.wantRefused(t, o, true)
	if err := e.r.SetLegalHold(t.Context(), o.h, false); err != nil {
		t.Fatalf("SetLegalHold off: %v", err)
	}
	e.wantRetention(t, o.h, storage.Retention{})
	e.wantDeleted(t, o.h, false)
}

func testRetainerExtendNeverShortens(t *testing.T, e *retainerEnv) {
	ctx := t.Context()
	o := newObject(t, storage.KindPoint, 900)
	u1 := retainedUntil(retainShort)
	e.putRetained(t, o, storage.RetentionCompliance, u1)
	compliance := func(u time.Time) storage.Retention {
		return storage.Retention{Mode: storage.RetentionCompliance, Until: u}
	}
	for _, earlier := range []time.Time{u1.Add(-time.Second), u1, time.Now().Add(-time.Hour), {}} {
		for _, mode := range []storage.RetentionMode{storage.RetentionCompliance, storage.RetentionGovernance, storage.RetentionNone} {
			if err := e.r.Extend(ctx, o.h, earlier, mode); err != nil {
				t.Fatalf("Extend to %v (%q), not after the current date: %v", earlier, mode, err)
			}
			e.wantRetention(t, o.h, compliance(u1))
		}
	}
	u2 := u1.Add(retainShort)
	if err := e.r.Extend(ctx, o.h, u2, storage.RetentionGovernance); err != nil {
		t.Fatalf("Extend to a later date: %v", err)
	}
	e.wantRetention(t, o.h, compliance(u2)) // compliance stays compliance
	e.wantRefused(t, o, true)
	e.advance(time.Until(u1) + time.Second)
	e.wantRefused(t, o, false) // past the first date, not the second
	if err := e.r.Extend(ctx, o.h, u1, storage.RetentionCompliance); err != nil {
		t.Fatalf("Extend back to the first date: %v", err)
	}
	e.wantRetention(t, o.h, compliance(u2))
	e.advance(time.Until(u2) + time.Second)
	e.wantDeleted(t, o.h, false)
}

func testRetainerExtendToCompliance(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindPack, 400)
	u := retainedUntil(retainShort)
	e.putRetained(t, o, storage.RetentionGovernance, u)
	later := u.Add(time.Second)
	if err := e.r.Extend(t.Context(), o.h, later, storage.RetentionCompliance); err != nil {
		t.Fatalf("Extend governance to compliance: %v", err)
	}
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionCompliance, Until: later})
	e.wantRefused(t, o, true)
	e.advance(time.Until(later) + time.Second)
	e.wantDeleted(t, o.h, false)
}

func testRetainerExtendPlainObject(t *testing.T, e *retainerEnv) {
	ctx := t.Context()
	o := newObject(t, storage.KindIndex, 600)
	put(t, e.b, o)
	u := retainedUntil(retainLong)
	if err := e.r.Extend(ctx, o.h, u, storage.RetentionNone); err == nil {
		t.Fatal("Extend of an object without retention, without a mode: no error")
	}
	e.wantRetention(t, o.h, storage.Retention{})
	if err := e.r.Extend(ctx, o.h, u, storage.RetentionGovernance); err != nil {
		t.Fatalf("Extend of an object without retention: %v", err)
	}
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionGovernance, Until: u})
	e.wantRefused(t, o, false)
	e.wantDeleted(t, o.h, true)
}

func testRetainerExtendConcurrent(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindPack, 100)
	base := retainedUntil(retainLong)
	e.putRetained(t, o, storage.RetentionGovernance, base)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = e.r.Extend(t.Context(), o.h, base.Add(time.Duration(i+1)*time.Second), storage.RetentionGovernance)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Extend %d: %v", i, err)
		}
	}
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionGovernance, Until: base.Add(n * time.Second)})
	e.wantDeleted(t, o.h, true)
}

func testRetainerPutExistingKeepsRetention(t *testing.T, e *retainerEnv) {
	o := newObject(t, storage.KindPack, 1000)
	u := retainedUntil(retainLong)
	e.putRetained(t, o, storage.RetentionGovernance, u)
	other := bytes.Repeat([]byte{'x'}, len(o.data))
	for _, opts := range []storage.PutOptions{
		{},
		{Mode: storage.RetentionGovernance, RetainUntil: u.Add(time.Hour)},
		{Mode: storage.RetentionCompliance, RetainUntil: u.Add(-time.Minute)},
	} {
		err := e.b.Put(t.Context(), o.h, int64(len(other)), bytes.NewReader(other), opts)
		if !errors.Is(err, storage.ErrExists) {
			t.Fatalf("Put over a retained object with %+v: got %v, want ErrExists", opts, err)
		}
	}
	wantContent(t, e.b, o.h, o.data)
	e.wantRetention(t, o.h, storage.Retention{Mode: storage.RetentionGovernance, Until: u})
	e.wantDeleted(t, o.h, true)
}

func testRetainerInvalidRetention(t *testing.T, e *retainerEnv) {
	ctx := t.Context()
	o := newObject(t, storage.KindPack, 100)
	for _, opts := range []storage.PutOptions{
		{Mode: storage.RetentionGovernance},
		{RetainUntil: retainedUntil(retainLong)},
		{Mode: "FOREVER", RetainUntil: retainedUntil(retainLong)},
		{Mode: storage.RetentionCompliance, RetainUntil: time.Now().Add(-time.Hour)},
	} {
		if err := e.b.Put(ctx, o.h, int64(len(o.data)), bytes.NewReader(o.data), opts); err == nil {
			t.Fatalf("Put with %+v: no error", opts)
		}
		wantAbsent(t, e.b, o.h)
	}
	put(t, e.b, o)
	if err := e.r.Extend(ctx, o.h, retainedUntil(retainLong), "FOREVER"); err == nil {
		t.Fatal("Extend with an unknown mode: no error")
	}
	e.wantRetention(t, o.h, storage.Retention{})
	e.wantDeleted(t, o.h, false)
}

func testRetainerMissing(t *testing.T, e *retainerEnv) {
	ctx := t.Context()
	h := newObject(t, storage.KindPack, 10).h
	if _, err := e.r.Retention(ctx, h); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Retention of a missing object: got %v, want ErrNotFound", err)
	}
	if err := e.r.Extend(ctx, h, retainedUntil(retainLong), storage.RetentionGovernance); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Extend of a missing object: got %v, want ErrNotFound", err)
	}
	if err := e.r.SetLegalHold(ctx, h, true); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetLegalHold on a missing object: got %v, want ErrNotFound", err)
	}
	if err := e.r.DeleteBypass(ctx, h); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteBypass of a missing object: got %v, want ErrNotFound", err)
	}
	wantAbsent(t, e.b, h)
}
