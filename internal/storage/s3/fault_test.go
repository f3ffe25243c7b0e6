package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// fault is what the proxy does to one request.
type fault int

const (
	pass         fault = iota
	slowDown           // answer 503 SlowDown without forwarding
	internal           // answer 500 InternalError without forwarding
	dropAnswer         // forward, then close the connection instead of answering
	truncateBody       // forward, then cut the answer's body short
)

// faultProxy stands between the backend and MinIO on 127.0.0.1 and
// injects the faults that decide returns. Requests keep their Host header,
// so their signatures stay valid.
type faultProxy struct {
	srv    *httptest.Server
	decide func(r *http.Request, n int) fault // n counts requests from 0
	count  atomic.Int64
	mu     sync.Mutex
	seen   map[fault]int

	conns       atomic.Int64 // connections accepted
	uploads     atomic.Int64 // PUTs in flight
	maxUploads  atomic.Int64 // the most PUTs in flight at once
	uploadDelay time.Duration
}

func newFaultProxy(t *testing.T, target string, decide func(r *http.Request, n int) fault) *faultProxy {
	t.Helper()
	p := &faultProxy{decide: decide, seen: map[fault]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		panic(http.ErrAbortHandler) // close the connection, answer nothing
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		switch resp.Request.Context().Value(faultKey{}) {
		case dropAnswer:
			resp.Body.Close()
			return errors.New("answer dropped")
		case truncateBody:
			resp.Body = &cutBody{rc: resp.Body, left: 1000}
		}
		return nil
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			n := p.uploads.Add(1)
			defer p.uploads.Add(-1)
			for old := p.maxUploads.Load(); n > old && !p.maxUploads.CompareAndSwap(old, n); old = p.maxUploads.Load() {
			}
			time.Sleep(p.uploadDelay)
		}
		f := p.decide(r, int(p.count.Add(1)-1))
		p.mu.Lock()
		p.seen[f]++
		p.mu.Unlock()
		switch f {
		case slowDown, internal:
			io.Copy(io.Discard, r.Body)
			code, status := "SlowDown", http.StatusServiceUnavailable
			if f == internal {
				code, status = "InternalError", http.StatusInternalServerError
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>injected</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), faultKey{}, f)))
	}))
	p.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

type faultKey struct{}

// cutBody ends in an error after left bytes.
type cutBody struct {
	rc   io.ReadCloser
	left int
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("cut")
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= n
	return n, err
}

func (c *cutBody) Close() error { return c.rc.Close() }

func (p *faultProxy) endpoint() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *faultProxy) injected(f fault) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[f]
}

// exercise runs puts (single and multipart), gets, stats, lists and
// deletes through b and checks their results.
func exercise(t *testing.T, b *Backend) {
	t.Helper()
	ctx := t.Context()
	var packs []pack
	for _, size := range []int{1000, 300 << 10, bigSize} {
		p := newPack(t, size)
		putPack(t, b, p, storage.PutOptions{})
		packs = append(packs, p)
	}
	for _, p := range packs {
		wantOriginal(t, b, p)
	}
	n := 0
	if err := b.List(ctx, storage.KindPack, func(storage.Info) error { n++; return nil }); err != nil || n != len(packs) {
		t.Fatalf("List: %d packs, %v", n, err)
	}
	for _, p := range packs {
		if err := b.Delete(ctx, p.h); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := b.Stat(ctx, p.h); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat after Delete: %v", err)
		}
	}
}

// TestThrottled: every other request is answered 503 SlowDown or 500; the
// backend retries and everything succeeds.
func TestThrottled(t *testing.T) {
	t.Parallel() // it mostly waits
	srv := newServer(t)
	for _, bucket := range []string{plainBucket, lockedBucket} {
		t.Run(bucket, func(t *testing.T) {
			p := newFaultProxy(t, srv.Endpoint, func(r *http.Request, n int) fault {
				switch n % 4 {
				case 1:
					return slowDown
				case 3:
					return internal
				}
				return pass
			})
			cfg := testConfig(t, srv, bucket)
			cfg.Endpoint = p.endpoint()
			exercise(t, open(t, cfg))
			if p.injected(slowDown) == 0 || p.injected(internal) == 0 {
				t.Fatalf("no fault injected: %v", p.seen)
			}
		})
	}
}

// TestThrottledTooLong: when every request is throttled, the error says
// the retries ran out, wraps the service's answer, and nothing is stored.
func TestThrottledTooLong(t *testing.T) {
	srv := newServer(t)
	throttle := atomic.Bool{}
	p := newFaultProxy(t, srv.Endpoint, func(*http.Request, int) fault {
		if throttle.Load() {
			return slowDown
		}
		return pass
	})
	cfg := testConfig(t, srv, lockedBucket)
	cfg.Endpoint = p.endpoint()
	b := open(t, cfg)
	throttle.Store(true)
	o := newPack(t, 100)
	err := b.Put(t.Context(), o.h, 100, bytes.NewReader(o.data), storage.PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "gave up after 5 attempts") || errorCode(err) != "SlowDown" {
		t.Fatalf("Put while throttled: %v; want the retries exhausted, wrapping SlowDown", err)
	}
	if n := p.injected(slowDown); n != 5 {
		t.Fatalf("%d requests sent, want 5 (MaxRetries 4)", n)
	}
	throttle.Store(false)
	if _, err := b.Stat(t.Context(), o.h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
}

// TestLostAnswer: a PUT or upload completion that reached the service but
// whose answer was lost is retried; the retry finds the key stored by this
// very Put, which succeeds.
func TestLostAnswer(t *testing.T) {
	srv := newServer(t)
	for _, size := range []int{1000, bigSize} {
		dropped := atomic.Bool{}
		p := newFaultProxy(t, srv.Endpoint, func(r *http.Request, n int) fault {
			commit := r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "" ||
				r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
			if commit && dropped.CompareAndSwap(false, true) {
				return dropAnswer
			}
			return pass
		})
		cfg := testConfig(t, srv, lockedBucket)
		cfg.Endpoint = p.endpoint()
		b := open(t, cfg)
		o := newPack(t, size)
		putPack(t, b, o, storage.PutOptions{})
		if p.injected(dropAnswer) != 1 {
			t.Fatalf("size %d: no answer dropped", size)
		}
		wantOriginal(t, open(t, cfg), o)
		if err := b.Put(t.Context(), o.h, int64(size), bytes.NewReader(o.data), storage.PutOptions{}); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("size %d: second Put: got %v, want ErrExists", size, err)
		}
	}
}

// TestBrokenRead: GET answers cut short mid-body are resumed where they
// broke, and the reader yields exactly the object.
func TestBrokenRead(t *testing.T) {
	srv := newServer(t)
	cuts := atomic.Int64{}
	p := newFaultProxy(t, srv.Endpoint, func(r *http.Request, n int) fault {
		if r.Method == http.MethodGet && r.Header.Get("Range") != "" && cuts.Add(1) <= 3 {
			return truncateBody
		}
		return pass
	})
	cfg := testConfig(t, srv, lockedBucket)
	cfg.Endpoint = p.endpoint()
	b := open(t, cfg)
	o := newPack(t, 1<<20)
	putPack(t, b, o, storage.PutOptions{})
	if got := readAll(t, b, o.h); !bytes.Equal(got, o.data) {
		t.Fatalf("read %d bytes, not the object", len(got))
	}
	if p.injected(truncateBody) != 3 {
		t.Fatalf("%d reads cut, want 3", p.injected(truncateBody))
	}
}

// TestOutage stops MinIO in the middle of a sequence of puts, gets and
// lists. Back within the retry window, the sequence completes; down for
// longer, the operations fail with a clear error and work once it returns.
func TestOutage(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(t, srv, lockedBucket)
	cfg.MaxRetries = 12 // at least ~4.7s of backoff, at most ~9.5s
	cfg.RetryDelay = 100 * time.Millisecond
	cfg.RetryMaxDelay = time.Second
	b := open(t, cfg)

	const steps = 12
	progress := make(chan int, steps)
	done := make(chan error, 1)
	var (
		stored  []pack
		slowest time.Duration
	)
	go func() {
		defer close(progress)
		for i := range steps {
			start := time.Now()
			p := newPack(t, 200<<10)
			if err := b.Put(t.Context(), p.h, int64(len(p.data)), bytes.NewReader(p.data), storage.PutOptions{}); err != nil {
				done <- err
				return
			}
			stored = append(stored, p)
			data, err := storage.ReadAll(t.Context(), b, p.h)
			if err != nil || !bytes.Equal(data, p.data) {
				done <- errors.Join(errors.New("read back"), err)
				return
			}
			n := 0
			if err := b.List(t.Context(), storage.KindPack, func(storage.Info) error { n++; return nil }); err != nil || n != i+1 {
				done <- errors.Join(errors.New("list"), err)
				return
			}
			slowest = max(slowest, time.Since(start))
			progress <- i
			time.Sleep(50 * time.Millisecond)
		}
		done <- nil
	}()
	for i := range progress {
		if i == 2 {
			start := time.Now()
			srv.Stop()
			time.Sleep(time.Second)
			srv.Start()
			t.Logf("MinIO down for %v", time.Since(start).Round(time.Millisecond))
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("sequence across a short outage: %v", err)
	}
	if len(stored) != steps {
		t.Fatalf("%d of %d puts done", len(stored), steps)
	}
	if slowest < 500*time.Millisecond {
		t.Fatalf("the slowest step took %v: none waited for MinIO to come back", slowest)
	}

	// Beyond the retry window.
	short := cfg
	short.MaxRetries = 2
	short.RetryDelay = 50 * time.Millisecond
	short.RetryMaxDelay = 50 * time.Millisecond
	quick := open(t, short)
	srv.Kill() // as a crash would
	p := newPack(t, 1000)
	err := quick.Put(t.Context(), p.h, 1000, bytes.NewReader(p.data), storage.PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !errors.Is(err, syscall.ECONNREFUSED) ||
		!strings.Contains(err.Error(), p.h.Name) {
		t.Fatalf("Put during a long outage: %v; want the object, the attempts and the refused connection", err)
	}
	if _, err := quick.Get(t.Context(), stored[0].h, 0, -1); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Get during a long outage: %v", err)
	}
	if err := quick.List(t.Context(), storage.KindPack, func(storage.Info) error { return nil }); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("List during a long outage: %v", err)
	}
	srv.Start()
	putPack(t, quick, p, storage.PutOptions{})
	for _, s := range append(stored, p) {
		wantOriginal(t, quick, s)
	}
}

// TestOpenUnreachable: an endpoint where nothing listens is reported as
// unreachable after the retries.
func TestOpenUnreachable(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(t, srv, plainBucket)
	srv.Stop()
	cfg.MaxRetries = 1
	_, err := Open(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the endpoint") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Open of a stopped endpoint: %v", err)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		t.Fatalf("Open of a stopped endpoint reports an S3 answer: %v", resp)
	}
}

// TestUploadParallelism: uploads in flight never exceed the configured
// bound, however many Puts run at once, and requests reuse connections.
func TestUploadParallelism(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Endpoint, func(*http.Request, int) fault { return pass })
	p.uploadDelay = 20 * time.Millisecond
	cfg := testConfig(t, srv, lockedBucket)
	cfg.Endpoint = p.endpoint()
	cfg.UploadParallelism = 3
	b := open(t, cfg)
	var wg sync.WaitGroup
	packs := make([]pack, 12)
	for i := range packs {
		size := 100 << 10
		if i%4 == 0 {
			size = bigSize
		}
		packs[i] = newPack(t, size)
		wg.Go(func() { putPack(t, b, packs[i], storage.PutOptions{}) })
	}
	wg.Wait()
	if got := p.maxUploads.Load(); got != 3 {
		t.Fatalf("at most %d uploads were in flight at once, want 3", got)
	}
	before := p.conns.Load()
	for range 5 {
		for _, pk := range packs {
			if _, err := b.Stat(t.Context(), pk.h); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := p.conns.Load() - before; n > 1 {
		t.Fatalf("60 sequential requests opened %d new connections, want them to reuse one", n)
	}
}
