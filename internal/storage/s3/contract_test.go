package s3

import (
	"time"

	"testing"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/storagetest"
)

func TestContract(t *testing.T) {
	t.Parallel() // with a MinIO of its own
	srv := newServer(t)
	for _, bucket := range []string{plainBucket, versionedBucket, lockedBucket} {
		t.Run(bucket, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Backend {
				b, err := Open(t.Context(), testConfig(t, srv, bucket))
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return b
			})
		})
	}
}

func TestNoRetention(t *testing.T) {
	srv := newServer(t)
	for _, bucket := range []string{plainBucket, versionedBucket} {
		t.Run(bucket, func(t *testing.T) {
			storagetest.RunNoRetention(t, func(t *testing.T) storage.Backend {
				return open(t, testConfig(t, srv, bucket))
			})
		})
	}
}

func TestRetainer(t *testing.T) {
	t.Parallel() // it mostly waits
	srv := newServer(t)
	storagetest.RunRetainer(t, func(t *testing.T) storagetest.RetainerFixture {
		return storagetest.RetainerFixture{
			Backend: open(t, testConfig(t, srv, lockedBucket)),
			Advance: func(d time.Duration) { time.Sleep(d) }, // MinIO keeps its own time
		}
	})
}
