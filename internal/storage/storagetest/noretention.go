package storagetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// RunNoRetention checks a backend that implements storage.Retainer where
// retention is not available (an S3 bucket without Object Lock): it says
// so with a reason, refuses a Put with retention (ErrUnsupported) without
// storing anything, refuses Extend and SetLegalHold the same way, reports
// no retention, and stores and deletes plain objects as usual.
// newBackend must return an empty backend; RunNoRetention closes it.
func RunNoRetention(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	b := newBackend(t)
	defer func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	r, ok := b.(storage.Retainer)
	if !ok {
		t.Fatalf("%T does not implement storage.Retainer", b)
	}
	ctx := t.Context()
	supported, reason, err := r.RetentionSupported(ctx)
	if err != nil || supported || reason == "" {
		t.Fatalf("RetentionSupported = %v, %q, %v; want false with a reason", supported, reason, err)
	}
	o := newObject(t, storage.KindPack, 100)
	for _, mode := range []storage.RetentionMode{storage.RetentionGovernance, storage.RetentionCompliance} {
		opts := storage.PutOptions{Mode: mode, RetainUntil: time.Now().Add(time.Hour)}
		if err := b.Put(ctx, o.h, int64(len(o.data)), bytes.NewReader(o.data), opts); !errors.Is(err, storage.ErrUnsupported) {
			t.Fatalf("Put with %s retention: got %v, want ErrUnsupported", mode, err)
		}
	}
	wantEmpty(t, b)
	put(t, b, o)
	if err := r.Extend(ctx, o.h, time.Now().Add(time.Hour), storage.RetentionGovernance); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("Extend: got %v, want ErrUnsupported", err)
	}
	if err := r.SetLegalHold(ctx, o.h, true); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("SetLegalHold: got %v, want ErrUnsupported", err)
	}
	if got, err := r.Retention(ctx, o.h); err != nil || got != (storage.Retention{}) {
		t.Errorf("Retention = %+v, %v; want none", got, err)
	}
	if err := b.Delete(ctx, o.h); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantEmpty(t, b)
}
