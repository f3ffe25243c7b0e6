package s3

import (
	"testing"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/storagetest"
)

func TestContract(t *testing.T) {
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
