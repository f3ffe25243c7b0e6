package archiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"runtime"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
)

func TestStoreHandsOffOnlyToIdleSavers(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	a, err := New(r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.blobs = make(chan blobJob)
	ctx := context.Background()
	chunk := make([]byte, 100<<10)
	rand.Read(chunk)
	id := r.Key().BlobID(chunk)

	// No saver waits: the reader saves the chunk itself, from its own buffer.
	a.store(ctx, id, chunk)
	if !r.Has(blob.Handle{ID: id, Type: blob.DataBlob}) {
		t.Fatal("chunk not saved")
	}
	if n := a.bufs.Idle(); n != 0 {
		t.Fatalf("saving in place copied the chunk (%d bytes pooled)", n)
	}

	// A saver waits: it gets a copy, since the chunker reuses its buffer.
	// The receiving goroutine may not wait yet when store looks, in which
	// case store saves the chunk itself; try again with a new chunk.
	got := make(chan blobJob)
	go func() {
		for j := range a.blobs {
			got <- j
		}
	}()
	defer close(a.blobs)
	a.idle.Store(1)

	// Every core is saving already: no copy, the reader saves it itself.
	a.saving.Store(int32(runtime.GOMAXPROCS(0)))
	busy := make([]byte, 100<<10)
	rand.Read(busy)
	a.store(ctx, r.Key().BlobID(busy), busy)
	select {
	case <-got:
		t.Fatal("a chunk was handed to a saver while every core was saving")
	case <-time.After(50 * time.Millisecond):
	}
	if !r.Has(blob.Handle{ID: r.Key().BlobID(busy), Type: blob.DataBlob}) {
		t.Fatal("the reader did not save the chunk itself")
	}
	a.saving.Store(0)

	stored := map[blob.ID][]byte{}
	for range 1000 {
		other := make([]byte, 100<<10)
		rand.Read(other)
		oid := r.Key().BlobID(other)
		stored[oid] = other
		a.store(ctx, oid, other)
		select {
		case job := <-got:
			orig := stored[job.items[0].id]
			if !bytes.Equal(job.data, orig) || &job.data[0] == &orig[0] {
				t.Fatal("the waiting saver did not get a copy of the chunk")
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("no chunk was handed to the waiting saver")
}

func TestSmallChunksAreSavedInBatches(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	a, err := New(r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.blobs = make(chan blobJob)
	ctx := context.Background()
	rd, err := a.newReader()
	if err != nil {
		t.Fatal(err)
	}
	has := func(id blob.ID) bool { return r.Has(blob.Handle{ID: id, Type: blob.DataBlob}) }
	var ids []blob.ID
	for i := range batchItems - 1 {
		chunk := make([]byte, 1000+i)
		rand.Read(chunk)
		id := r.Key().BlobID(chunk)
		ids = append(ids, id)
		a.batchSmall(ctx, rd, id, chunk)
		a.batchSmall(ctx, rd, id, chunk) // the same small file again: kept once
		chunk[0] ^= 1                    // the reader's buffer is reused: the batch holds a copy
	}
	if len(rd.batch.items) != batchItems-1 {
		t.Fatalf("batch holds %d chunks, want %d", len(rd.batch.items), batchItems-1)
	}
	for _, id := range ids {
		if has(id) {
			t.Fatal("a small chunk was saved before its batch was full")
		}
	}
	last := make([]byte, 500)
	rand.Read(last)
	a.batchSmall(ctx, rd, r.Key().BlobID(last), last) // fills the batch
	if len(rd.batch.items) != 0 {
		t.Fatalf("full batch not saved: %d chunks left", len(rd.batch.items))
	}
	for _, id := range append(ids, r.Key().BlobID(last)) {
		if !has(id) {
			t.Fatal("a chunk of the full batch was not saved")
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// What was saved is what was read, not what the reader's buffer became.
	for _, id := range ids {
		got, err := r.LoadBlob(ctx, blob.DataBlob, id, nil)
		if err != nil || r.Key().BlobID(got) != id {
			t.Fatalf("saved chunk does not load as read: %v", err)
		}
	}

	// A partial batch is saved when the reader flushes it.
	tail := make([]byte, 700)
	rand.Read(tail)
	a.batchSmall(ctx, rd, r.Key().BlobID(tail), tail)
	a.flushBatch(ctx, rd)
	if !has(r.Key().BlobID(tail)) || len(rd.batch.items) != 0 {
		t.Fatal("flushBatch did not save the partial batch")
	}
}
