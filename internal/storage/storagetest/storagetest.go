// Package storagetest is the contract that every storage.Backend must meet.
// A backend's tests call Run with a constructor for empty instances.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/storage"
)

// Run checks that backends built by newBackend behave as storage.Backend
// documents. newBackend must return an empty backend; it is called once per
// subtest, and Run closes each backend when its subtest ends.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, storage.Backend)
	}{
		{"PutGet", testPutGet},
		{"Empty", testEmpty},
		{"Ranges", testRanges},
		{"RangePastEnd", testRangePastEnd},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"PutOnce", testPutOnce},
		{"InvalidNames", testInvalidNames},
		{"ShortReader", testShortReader},
		{"LongReader", testLongReader},
		{"FailingReader", testFailingReader},
		{"List", testList},
		{"ListStops", testListStops},
		{"Delete", testDelete},
		{"ConcurrentPut", testConcurrentPut},
		{"Canceled", testCanceled},
		{"CanceledMidPut", testCanceledMidPut},
		{"CanceledMidGet", testCanceledMidGet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, b)
		})
	}
}

// object is test content and the handle it is stored under.
type object struct {
	h    storage.Handle
	data []byte
}

// newObject returns size random bytes named by their SHA-256, as a vault
// names its objects.
func newObject(t *testing.T, k storage.Kind, size int) object {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	return object{h: storage.Handle{Kind: k, Name: hashName(data)}, data: data}
}

func hashName(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func put(t *testing.T, b storage.Backend, o object) {
	t.Helper()
	err := b.Put(t.Context(), o.h, int64(len(o.data)), bytes.NewReader(o.data), storage.PutOptions{})
	if err != nil {
		t.Fatalf("Put %s: %v", o.h, err)
	}
}

func get(t *testing.T, b storage.Backend, h storage.Handle, offset, length int64) []byte {
	t.Helper()
	rd, err := b.Get(t.Context(), h, offset, length)
	if err != nil {
		t.Fatalf("Get %s [%d,%d]: %v", h, offset, length, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("read %s [%d,%d]: %v", h, offset, length, err)
	}
	return data
}

// wantContent fails unless h holds exactly want.
func wantContent(t *testing.T, b storage.Backend, h storage.Handle, want []byte) {
	t.Helper()
	got := get(t, b, h, 0, -1)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes (sha256 %s), want %d bytes (sha256 %s)",
			h, len(got), hashName(got)[:12], len(want), hashName(want)[:12])
	}
}

// wantAbsent fails unless h does not exist.
func wantAbsent(t *testing.T, b storage.Backend, h storage.Handle) {
	t.Helper()
	if _, err := b.Stat(t.Context(), h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat %s: got %v, want ErrNotFound", h, err)
	}
}

// listAll returns the names and sizes List reports for kind k.
func listAll(t *testing.T, b storage.Backend, k storage.Kind) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := b.List(t.Context(), k, func(fi storage.Info) error {
		if fi.Handle.Kind != k {
			t.Errorf("List %s reported %s", k, fi.Handle)
		}
		if _, dup := got[fi.Handle.Name]; dup {
			t.Errorf("List %s reported %s twice", k, fi.Handle)
		}
		got[fi.Handle.Name] = fi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List %s: %v", k, err)
	}
	return got
}

// wantEmpty fails if any kind holds an object.
func wantEmpty(t *testing.T, b storage.Backend) {
	t.Helper()
	for _, k := range storage.Kinds {
		if got := listAll(t, b, k); len(got) > 0 {
			t.Fatalf("List %s: %d objects, want none: %v", k, len(got), got)
		}
	}
}

// configObject returns content stored under the vault config's handle.
func configObject(size int) object {
	data := bytes.Repeat([]byte("config "), size/7+1)[:size]
	return object{h: storage.Handle{Kind: storage.KindConfig, Name: "config"}, data: data}
}

func testPutGet(t *testing.T, b storage.Backend) {
	objs := []object{configObject(300)}
	for _, k := range storage.Kinds[1:] {
		objs = append(objs, newObject(t, k, 1000))
	}
	objs = append(objs, newObject(t, storage.KindPack, 3<<20+17))
	for _, o := range objs {
		put(t, b, o)
	}
	for _, o := range objs {
		wantContent(t, b, o.h, o.data)
		data, err := storage.ReadAll(t.Context(), b, o.h)
		if err != nil || !bytes.Equal(data, o.data) {
			t.Fatalf("ReadAll %s: %d bytes, %v", o.h, len(data), err)
		}
	}
}

func testEmpty(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindIndex, 0)
	put(t, b, o)
	wantContent(t, b, o.h, nil)
	if got := get(t, b, o.h, 0, 0); len(got) != 0 {
		t.Fatalf("Get [0,0] of empty object: %d bytes", len(got))
	}
	if fi, err := b.Stat(t.Context(), o.h); err != nil || fi.Size != 0 {
		t.Fatalf("Stat empty object: %+v, %v", fi, err)
	}
}

func testRanges(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindPack, 1<<20+3)
	put(t, b, o)
	n := int64(len(o.data))
	cases := []struct{ offset, length int64 }{
		{0, -1}, {0, n}, {0, 0}, {0, 1}, {1, 10}, {n - 1, 1}, {n - 1, -1},
		{n, 0}, {n, -1}, {12345, 200000}, {n / 2, -1}, {65535, 65537},
	}
	for _, c := range cases {
		end := n
		if c.length >= 0 {
			end = c.offset + c.length
		}
		got := get(t, b, o.h, c.offset, c.length)
		if want := o.data[c.offset:end]; !bytes.Equal(got, want) {
			t.Errorf("Get [%d,%d]: got %d bytes, want %d matching bytes", c.offset, c.length, len(got), len(want))
		}
	}
}

func testRangePastEnd(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindPack, 100)
	put(t, b, o)
	cases := []struct{ offset, length int64 }{
		{0, 101}, {50, 51}, {100, 1}, {101, -1}, {101, 0}, {1 << 40, 1}, {-1, 10}, {1, 1<<63 - 1},
	}
	for _, c := range cases {
		rd, err := b.Get(t.Context(), o.h, c.offset, c.length)
		if err == nil {
			data, rerr := io.ReadAll(rd)
			rd.Close()
			if rerr == nil {
				t.Errorf("Get [%d,%d] of a 100-byte object returned %d bytes and no error", c.offset, c.length, len(data))
			}
			err = rerr
		}
		if err != nil && !strings.Contains(err.Error(), o.h.Name) {
			t.Errorf("Get [%d,%d]: error %q does not name the object", c.offset, c.length, err)
		}
	}
}

func testStat(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindPoint, 4321)
	put(t, b, o)
	fi, err := b.Stat(t.Context(), o.h)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if fi.Handle != o.h || fi.Size != int64(len(o.data)) {
		t.Fatalf("Stat: got %v size %d, want %v size %d", fi.Handle, fi.Size, o.h, len(o.data))
	}
	if fi.ModTime.IsZero() {
		t.Fatalf("Stat: zero ModTime")
	}
}

func testNotFound(t *testing.T, b storage.Backend) {
	hs := []storage.Handle{
		newObject(t, storage.KindPack, 1).h,
		{Kind: storage.KindConfig, Name: "config"},
	}
	for _, h := range hs {
		if _, err := b.Get(t.Context(), h, 0, -1); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get missing %s: got %v, want ErrNotFound", h, err)
		}
		if _, err := b.Stat(t.Context(), h); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat missing %s: got %v, want ErrNotFound", h, err)
		}
		if err := b.Delete(t.Context(), h); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Delete missing %s: got %v, want ErrNotFound", h, err)
		}
	}
}

func testPutOnce(t *testing.T, b storage.Backend) {
	for _, o := range []object{newObject(t, storage.KindKey, 500), configObject(40)} {
		put(t, b, o)
		for _, other := range [][]byte{bytes.Repeat([]byte{'x'}, len(o.data)), []byte("short"), nil} {
			err := b.Put(t.Context(), o.h, int64(len(other)), bytes.NewReader(other), storage.PutOptions{})
			if !errors.Is(err, storage.ErrExists) {
				t.Fatalf("second Put %s: got %v, want ErrExists", o.h, err)
			}
		}
		wantContent(t, b, o.h, o.data)
	}
}

// invalidHandles are handles no backend may accept.
func invalidHandles() []storage.Handle {
	hex64 := strings.Repeat("ab", 32)
	var hs []storage.Handle
	for _, k := range storage.Kinds[1:] {
		for _, name := range []string{
			"", "config", hex64[:63], hex64 + "0", strings.ToUpper(hex64),
			"../" + hex64[3:], hex64[:30] + "/" + hex64[31:], strings.Repeat(".", 64),
			hex64[:63] + "g", hex64[:63] + "\x00", strings.Repeat("z", 64), "..", "/",
		} {
			hs = append(hs, storage.Handle{Kind: k, Name: name})
		}
	}
	for _, name := range []string{"", "Config", "config/", "../config", "config\x00", hex64, "lock", "tmp"} {
		hs = append(hs, storage.Handle{Kind: storage.KindConfig, Name: name})
	}
	for _, k := range []storage.Kind{"", "tmp", "..", "packs/ab", "data"} {
		hs = append(hs, storage.Handle{Kind: k, Name: hex64})
	}
	return hs
}

func testInvalidNames(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	data := []byte("payload")
	for _, h := range invalidHandles() {
		if err := b.Put(ctx, h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Put %q/%q: got %v, want ErrInvalidName", h.Kind, h.Name, err)
		}
		if _, err := b.Get(ctx, h, 0, -1); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Get %q/%q: got %v, want ErrInvalidName", h.Kind, h.Name, err)
		}
		if _, err := b.Stat(ctx, h); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Stat %q/%q: got %v, want ErrInvalidName", h.Kind, h.Name, err)
		}
		if err := b.Delete(ctx, h); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Delete %q/%q: got %v, want ErrInvalidName", h.Kind, h.Name, err)
		}
	}
	err := b.List(ctx, "../packs", func(storage.Info) error { return nil })
	if !errors.Is(err, storage.ErrInvalidName) {
		t.Errorf("List of unknown kind: got %v, want ErrInvalidName", err)
	}
	wantEmpty(t, b)
}

func testShortReader(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindPack, 70000)
	err := b.Put(t.Context(), o.h, int64(len(o.data))+1, bytes.NewReader(o.data), storage.PutOptions{})
	if err == nil {
		t.Fatalf("Put with a reader one byte short: no error")
	}
	wantAbsent(t, b, o.h)
	wantEmpty(t, b)
	put(t, b, o) // the failed attempt must not block a later one
	wantContent(t, b, o.h, o.data)
}

func testLongReader(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindIndex, 5000)
	err := b.Put(t.Context(), o.h, int64(len(o.data))-1, bytes.NewReader(o.data), storage.PutOptions{})
	if err == nil {
		t.Fatalf("Put with a reader one byte too long: no error")
	}
	wantAbsent(t, b, o.h)
	wantEmpty(t, b)
}

// failingReader yields n bytes of data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testFailingReader(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindPack, 200000)
	boom := errors.New("disk on fire")
	r := &failingReader{data: o.data[:100000], err: boom}
	err := b.Put(t.Context(), o.h, int64(len(o.data)), r, storage.PutOptions{})
	if !errors.Is(err, boom) {
		t.Fatalf("Put with a failing reader: got %v, want the reader's error", err)
	}
	wantEmpty(t, b)
}

func testList(t *testing.T, b storage.Backend) {
	want := map[storage.Kind]map[string]int64{}
	for _, k := range storage.Kinds[1:] {
		want[k] = map[string]int64{}
		for i := range 5 {
			o := newObject(t, k, 10*i+1)
			put(t, b, o)
			want[k][o.h.Name] = int64(len(o.data))
		}
	}
	// The same name in two kinds is two objects.
	shared := newObject(t, storage.KindIndex, 33)
	put(t, b, shared)
	want[storage.KindIndex][shared.h.Name] = 33
	put(t, b, object{h: storage.Handle{Kind: storage.KindPoint, Name: shared.h.Name}, data: shared.data[:7]})
	want[storage.KindPoint][shared.h.Name] = 7

	cfg := configObject(12)
	put(t, b, cfg)
	want[storage.KindConfig] = map[string]int64{"config": 12}

	for _, k := range storage.Kinds {
		got := listAll(t, b, k)
		if !equalSizes(got, want[k]) {
			t.Errorf("List %s:\n got  %v\n want %v", k, got, want[k])
		}
	}
}

func equalSizes(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testListStops(t *testing.T, b storage.Backend) {
	for range 3 {
		put(t, b, newObject(t, storage.KindPack, 10))
	}
	stop := errors.New("stop here")
	calls := 0
	err := b.List(t.Context(), storage.KindPack, func(storage.Info) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List: got %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Fatalf("List called back %d times after an error, want 1", calls)
	}
}

func testDelete(t *testing.T, b storage.Backend) {
	keep := newObject(t, storage.KindPack, 10)
	gone := newObject(t, storage.KindPack, 20)
	put(t, b, keep)
	put(t, b, gone)
	if err := b.Delete(t.Context(), gone.h); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantAbsent(t, b, gone.h)
	if _, err := b.Get(t.Context(), gone.h, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get deleted: got %v, want ErrNotFound", err)
	}
	if err := b.Delete(t.Context(), gone.h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second Delete: got %v, want ErrNotFound", err)
	}
	if got := listAll(t, b, storage.KindPack); len(got) != 1 || got[keep.h.Name] != 10 {
		t.Fatalf("List after Delete: %v, want only %s", got, keep.h.Name)
	}
	wantContent(t, b, keep.h, keep.data)
	put(t, b, gone) // a deleted name can be stored again
	wantContent(t, b, gone.h, gone.data)
}

func testConcurrentPut(t *testing.T, b storage.Backend) {
	const writers = 8
	h := newObject(t, storage.KindPack, 1).h
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = newObject(t, storage.KindPack, 256<<10).data
	}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			errs[i] = b.Put(t.Context(), h, int64(len(contents[i])), bytes.NewReader(contents[i]), storage.PutOptions{})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both stored %s", winner, i, h)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Fatalf("writer %d: got %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer stored %s", h)
	}
	wantContent(t, b, h, contents[winner])
}

func canceledContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

func testCanceled(t *testing.T, b storage.Backend) {
	stored := newObject(t, storage.KindPack, 100)
	put(t, b, stored)
	ctx := canceledContext(t)

	o := newObject(t, storage.KindPack, 100)
	if err := b.Put(ctx, o.h, 100, bytes.NewReader(o.data), storage.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: got %v, want context.Canceled", err)
	}
	if _, err := b.Get(ctx, stored.h, 0, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: got %v, want context.Canceled", err)
	}
	if _, err := b.Stat(ctx, stored.h); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat: got %v, want context.Canceled", err)
	}
	called := false
	err := b.List(ctx, storage.KindPack, func(storage.Info) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("List: got %v (callback called: %v), want context.Canceled", err, called)
	}
	if err := b.Delete(ctx, stored.h); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: got %v, want context.Canceled", err)
	}
	wantAbsent(t, b, o.h)
	wantContent(t, b, stored.h, stored.data)
}

// cancelingReader cancels its context after the first Read and keeps
// yielding data.
type cancelingReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p[:min(len(p), 4096)])
	c.cancel()
	return n, err
}

func testCanceledMidPut(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindPack, 1<<20)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancelingReader{r: bytes.NewReader(o.data), cancel: cancel}
	err := b.Put(ctx, o.h, int64(len(o.data)), r, storage.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put canceled mid-stream: got %v, want context.Canceled", err)
	}
	wantAbsent(t, b, o.h)
	wantEmpty(t, b)
}

func testCanceledMidGet(t *testing.T, b storage.Backend) {
	o := newObject(t, storage.KindPack, 1<<20)
	put(t, b, o)
	ctx, cancel := context.WithCancel(t.Context())
	rd, err := b.Get(ctx, o.h, 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rd.Close()
	if _, err := io.ReadFull(rd, make([]byte, 1000)); err != nil {
		t.Fatalf("first read: %v", err)
	}
	cancel()
	n, err := io.Copy(io.Discard, rd)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %d bytes, error %v, want context.Canceled", n, err)
	}
}
