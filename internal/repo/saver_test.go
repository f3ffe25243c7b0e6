package repo_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
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
