package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// bigSize spans three parts of MinPartSize, the last one short.
const bigSize = 2*MinPartSize + 12345

func TestMultipart(t *testing.T) {
	srv := newServer(t)
	for _, bucket := range []string{plainBucket, lockedBucket} {
		t.Run(bucket, func(t *testing.T) {
			cfg := testConfig(t, srv, bucket)
			cfg.UploadParallelism = 2
			b := open(t, cfg)
			ctx := t.Context()
			p := newPack(t, bigSize)
			putPack(t, b, p, storage.PutOptions{})
			wantOriginal(t, b, p)
			for _, r := range []struct{ off, n int64 }{
				{MinPartSize - 10, 20}, {2*MinPartSize - 1, 2}, {bigSize - 1, 1}, {0, MinPartSize + 1},
			} {
				rd, err := b.Get(ctx, p.h, r.off, r.n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rd)
				rd.Close()
				if err != nil || !bytes.Equal(got, p.data[r.off:r.off+r.n]) {
					t.Fatalf("Get [%d,%d] across parts: %v, wrong bytes", r.off, r.n, err)
				}
			}
			other := bytes.Repeat([]byte{1}, bigSize)
			if err := b.Put(ctx, p.h, bigSize, bytes.NewReader(other), storage.PutOptions{}); !errors.Is(err, storage.ErrExists) {
				t.Fatalf("second multipart Put: got %v, want ErrExists", err)
			}
			wantOriginal(t, open(t, cfg), p)
			if _, uploads := rootObjects(t, srv, bucket, cfg.Prefix); uploads != 0 {
				t.Fatalf("%d multipart uploads left behind", uploads)
			}
			if err := b.Delete(ctx, p.h); err != nil {
				t.Fatal(err)
			}
			if versions, _ := rootObjects(t, srv, bucket, cfg.Prefix); versions != 0 {
				t.Fatalf("%d versions left after Delete", versions)
			}
		})
	}
}

func TestMultipartRetained(t *testing.T) {
	srv := newServer(t)
	b := open(t, testConfig(t, srv, lockedBucket))
	p := newPack(t, bigSize)
	until := time.Now().Add(time.Hour)
	putPack(t, b, p, storage.PutOptions{RetainUntil: until, Mode: storage.RetentionGovernance})
	ret, err := b.Retention(t.Context(), p.h)
	if err != nil || ret.Mode != storage.RetentionGovernance || ret.Until.Before(until) {
		t.Fatalf("Retention of a multipart object: %+v, %v", ret, err)
	}
	if err := b.Delete(t.Context(), p.h); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete: got %v, want ErrRetained", err)
	}
	if err := b.DeleteBypass(t.Context(), p.h); err != nil {
		t.Fatalf("DeleteBypass: %v", err)
	}
}

// TestMultipartFailures: a multipart Put whose reader is short, long,
// failing or canceled stores nothing and leaves no upload behind.
func TestMultipartFailures(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(t, srv, lockedBucket)
	b := open(t, cfg)
	p := newPack(t, bigSize)
	boom := errors.New("disk on fire")
	cases := []struct {
		name string
		size int64
		r    func(ctx context.Context, cancel context.CancelFunc) io.Reader
		want error
	}{
		{"short", bigSize + 1, func(context.Context, context.CancelFunc) io.Reader { return bytes.NewReader(p.data) }, nil},
		{"long", bigSize - 1, func(context.Context, context.CancelFunc) io.Reader { return bytes.NewReader(p.data) }, nil},
		{"failing", bigSize, func(context.Context, context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(p.data[:MinPartSize+100]), errReader{boom})
		}, boom},
		{"canceled", bigSize, func(_ context.Context, cancel context.CancelFunc) io.Reader {
			return &cancelAfter{r: bytes.NewReader(p.data), n: MinPartSize + 100, cancel: cancel}
		}, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := b.Put(ctx, p.h, c.size, c.r(ctx, cancel), storage.PutOptions{})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("Put: got %v, want an error wrapping %v", err, c.want)
			}
			if _, err := b.Stat(t.Context(), p.h); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Stat after a failed Put: %v", err)
			}
			if versions, uploads := rootObjects(t, srv, lockedBucket, cfg.Prefix); versions != 0 || uploads != 0 {
				t.Fatalf("a failed Put left %d versions and %d uploads", versions, uploads)
			}
		})
	}
	putPack(t, b, p, storage.PutOptions{}) // nothing blocks a later Put
	wantOriginal(t, b, p)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelAfter cancels its context once n bytes have been read, and goes on
// yielding data.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func TestMultipartConcurrent(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(t, srv, lockedBucket)
	cfg.UploadParallelism = 8
	b := open(t, cfg)
	const writers = 4
	h := newPack(t, 1).h
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = newPack(t, bigSize).data
	}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			errs[i] = b.Put(t.Context(), h, bigSize, bytes.NewReader(contents[i]), storage.PutOptions{})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both stored %s", winner, i, h)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer stored it")
	}
	wantOriginal(t, open(t, cfg), pack{h: h, data: contents[winner]})
	if _, uploads := rootObjects(t, srv, lockedBucket, cfg.Prefix); uploads != 0 {
		t.Fatalf("%d uploads left behind", uploads)
	}
}
