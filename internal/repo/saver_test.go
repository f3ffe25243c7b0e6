package repo_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

// TestSaveWhileAPackUploads saves blobs that each fill a pack from two
// goroutines at once: a saver waiting for the pack writer while the other
// one hands it to upload must get a new writer and not wait forever.
func TestSaveWhileAPackUploads(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	size := r.Config().PackSize
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			var wg sync.WaitGroup
			for range 2 {
				data := make([]byte, size)
				if _, err := rand.Read(data); err != nil {
					t.Error(err)
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(data), data); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		if err := r.Flush(ctx); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("a blob save waited forever for a pack writer")
	}
	if got := r.SaveStats().Blobs; got != 100 {
		t.Errorf("%d blobs saved, want 100", got)
	}
}

// blockingBackend holds every pack upload until release is closed.
type blockingBackend struct {
	storage.Backend
	release chan struct{}
}

func (b blockingBackend) Put(ctx context.Context, h storage.Handle, size int64, r io.Reader, opts storage.PutOptions) error {
	if h.Kind == storage.KindPack {
		<-b.release
	}
	return b.Backend.Put(ctx, h, size, r, opts)
}

// TestSlowStorageHoldsBackSaves checks that while uploads cannot finish,
// saves wait instead of filling ever more packs in memory: no more packs
// are filled than there are writers and upload slots.
func TestSlowStorageHoldsBackSaves(t *testing.T) {
	v := repotest.New(t)
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	slow := blockingBackend{Backend: be, release: make(chan struct{})}
	r, err := repo.Open(context.Background(), slow, v.Master, repo.Options{Uploads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	size := r.Config().PackSize
	var wg sync.WaitGroup
	blobs := make([][]byte, 6)
	for i := range blobs {
		blobs[i] = make([]byte, size)
		rand.Read(blobs[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(blobs[i]), blobs[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	// Each blob fills a pack. One writer and two uploads: the third pack
	// waits for an upload slot, and nothing more is packed.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && r.SaveStats().Blobs < 3 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := r.SaveStats().Blobs; got != 3 {
		t.Errorf("%d packs filled while uploads were stuck, want 3 (one writer, two uploads)", got)
	}
	close(slow.release)
	wg.Wait()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, b := range blobs {
		if got, err := r.LoadBlob(ctx, blob.DataBlob, r.Key().BlobID(b), nil); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
}
