package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

// saveBlobs stores n distinct data blobs of about size bytes and returns
// their handles and contents.
func saveBlobs(t *testing.T, r *repo.Repository, n, size int) ([]blob.Handle, map[blob.Handle][]byte) {
	t.Helper()
	ctx := context.Background()
	var hs []blob.Handle
	want := map[blob.Handle][]byte{}
	for i := range n {
		data := bytes.Repeat([]byte(fmt.Sprintf("blob %d of the batch ", i)), size/20)
		id := r.Key().BlobID(data)
		if _, err := r.SaveBlob(ctx, blob.DataBlob, id, data); err != nil {
			t.Fatal(err)
		}
		h := blob.Handle{ID: id, Type: blob.DataBlob}
		hs = append(hs, h)
		want[h] = data
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return hs, want
}

func decode(t *testing.T, p repo.Payload) []byte {
	t.Helper()
	if !p.Compressed {
		return append([]byte(nil), p.Data...)
	}
	c, err := repo.NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := c.Decompress(nil, p.Data, p.RawLen)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// LoadPayloads delivers every blob asked for, once, authenticated, with far
// fewer reads than blobs when they lie together in their packs.
func TestLoadPayloads(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	hs, want := saveBlobs(t, v.Open(t), 300, 20<<10) // a few 1 MiB packs
	r, cb := openCounting(t, v, 0)
	got := map[blob.Handle]int{}
	err := r.LoadPayloads(ctx, hs, func(p repo.Payload) error {
		got[p.Handle]++
		if !bytes.Equal(decode(t, p), want[p.Handle]) {
			t.Errorf("%s: wrong content", p.Handle)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if got[h] != 1 {
			t.Fatalf("%s delivered %d times", h, got[h])
		}
	}
	packs := countPacks(t, r)
	if n := cb.gets.Load(); n > int64(packs) {
		t.Fatalf("%d reads for %d blobs in %d packs: reads were not merged", n, len(hs), packs)
	}

	// ErrStop ends it early, without an error.
	n := 0
	if err := r.LoadPayloads(ctx, hs, func(repo.Payload) error {
		n++
		if n == 10 {
			return repo.ErrStop
		}
		return nil
	}); err != nil || n != 10 {
		t.Fatalf("stop after 10: %d delivered, %v", n, err)
	}

	// A blob the vault does not hold is an error before anything is read.
	missing := blob.Handle{ID: r.Key().BlobID([]byte("never stored")), Type: blob.DataBlob}
	if err := r.LoadPayloads(ctx, append(hs[:3:3], missing), func(repo.Payload) error { return nil }); !errors.Is(err, repo.ErrBlobMissing) {
		t.Fatalf("missing blob: %v", err)
	}
}

// Damage to one blob of a merged read is reported for that blob, and the
// blobs before it in the read are still delivered intact.
func TestLoadPayloadsDamage(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	hs, want := saveBlobs(t, v.Open(t), 20, 10<<10) // one pack
	r := v.Open(t)
	l, _ := r.Index().Lookup(hs[10])
	path := filepath.Join(v.Dir, string(storage.KindPack), l.Pack.String()[:2], l.Pack.String())
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0x00, 0xff}, int64(l.Offset)+5); err != nil {
		t.Fatal(err)
	}
	f.Close()
	delivered := 0
	err = r.LoadPayloads(ctx, hs, func(p repo.Payload) error {
		if !bytes.Equal(decode(t, p), want[p.Handle]) {
			t.Errorf("%s: wrong content delivered", p.Handle)
		}
		delivered++
		return nil
	})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(hs[10].ID.Short())) {
		t.Fatalf("damaged blob: got %v, want an error naming %s", err, hs[10].ID.Short())
	}
	if delivered == 0 {
		t.Fatal("nothing delivered before the damaged blob")
	}
}

// With read-ahead, blobs asked for one call at a time in the order they
// were stored come from a few reads of their packs, and a read never goes
// past where a pack's last blob ends.
// A batch that asks for a read-ahead's worth or more is read as asked, and
// in a batch of several stretches of one pack only the last reads ahead:
// extending each would read the same bytes several times.
func TestLoadPayloadsReadsBatchesAsAsked(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	// Incompressible blobs, so that the pack is as large as they are.
	w := v.Open(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var hs []blob.Handle
	for range 400 {
		data := make([]byte, 20<<10)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		id := w.Key().BlobID(data)
		if _, err := w.SaveBlob(ctx, blob.DataBlob, id, data); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, blob.Handle{ID: id, Type: blob.DataBlob})
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cb := &countingBackend{Backend: be}
	const ahead = 4 << 20
	r, err := repo.Open(ctx, cb, v.Master, repo.Options{ReadAhead: ahead})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	load := func(hs []blob.Handle) int64 {
		t.Helper()
		before, n := cb.bytes.Load(), 0
		if err := r.LoadPayloads(ctx, hs, func(repo.Payload) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != len(hs) {
			t.Fatalf("%d of %d blobs delivered", n, len(hs))
		}
		return cb.bytes.Load() - before
	}
	// Every twentieth blob of the first 300, each a stretch of its own,
	// then 200 blobs in a row: either is read as asked, though the second
	// is more than a read-ahead's worth and the first is not.
	var sparse []blob.Handle
	for i := 0; i < 300; i += 20 {
		sparse = append(sparse, hs[i])
	}
	if got := load(sparse); got > ahead+int64(len(sparse))*(21<<10) {
		t.Fatalf("%d blobs far apart in one pack read %d bytes: each read ahead", len(sparse), got)
	}
	// Two stretches of 150 blobs, more than a read-ahead's worth together:
	// read as asked, neither extended.
	two := append(slices.Clone(hs[0:150]), hs[200:350]...)
	var asked int64
	for _, h := range two {
		l, _ := r.Index().Lookup(h)
		asked += int64(l.Length)
	}
	if got := load(two); got > asked+(64<<10) {
		t.Fatalf("a batch of two stretches read %d bytes, %d asked for: it was read ahead", got, asked)
	}
}

func TestLoadPayloadsReadAhead(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	hs, want := saveBlobs(t, v.Open(t), 300, 20<<10)
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cb := &countingBackend{Backend: be}
	r, err := repo.Open(ctx, cb, v.Master, repo.Options{ReadAhead: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		err := r.LoadPayloads(ctx, []blob.Handle{h}, func(p repo.Payload) error {
			if !bytes.Equal(decode(t, p), want[p.Handle]) {
				t.Errorf("%s: wrong content", p.Handle)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", h, err) // a read past a pack's end fails here
		}
	}
	packs := countPacks(t, r)
	if n := cb.gets.Load(); n > int64(packs) {
		t.Fatalf("%d reads for %d blobs asked for one at a time in %d packs: nothing was read ahead", n, len(hs), packs)
	}
}
