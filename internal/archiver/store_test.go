package archiver

import (
	"bytes"
	"context"
	"crypto/rand"
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
	stored := map[blob.ID][]byte{}
	for range 1000 {
		other := make([]byte, 100<<10)
		rand.Read(other)
		oid := r.Key().BlobID(other)
		stored[oid] = other
		a.store(ctx, oid, other)
		select {
		case job := <-got:
			orig := stored[job.id]
			if !bytes.Equal(job.data, orig) || &job.data[0] == &orig[0] {
				t.Fatal("the waiting saver did not get a copy of the chunk")
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("no chunk was handed to the waiting saver")
}
