package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage/s3/miniotest"
)

// Buckets every test server has.
const (
	plainBucket     = "plain"     // no versioning, no Object Lock
	versionedBucket = "versioned" // versioning, no Object Lock
	lockedBucket    = "locked"    // Object Lock (and so versioning)
)

// newServer starts a MinIO with the three test buckets.
func newServer(t *testing.T) *miniotest.Server {
	t.Helper()
	srv := miniotest.New(t)
	srv.MakeBucket(t, plainBucket, false)
	srv.MakeBucket(t, versionedBucket, false)
	srv.EnableVersioning(t, versionedBucket)
	srv.MakeBucket(t, lockedBucket, true)
	return srv
}

// testConfig returns the config of a vault in bucket on srv under a fresh
// prefix, with the root credentials and quick retries.
func testConfig(t *testing.T, srv *miniotest.Server, bucket string) Config {
	t.Helper()
	var id [6]byte
	rand.Read(id[:])
	return Config{
		Endpoint:        srv.Endpoint,
		Region:          "us-east-1",
		Bucket:          bucket,
		Prefix:          "vaults/" + hex.EncodeToString(id[:]),
		AccessKeyID:     miniotest.RootUser,
		SecretAccessKey: miniotest.RootPassword,
		DisableTLS:      true,
		PartSize:        MinPartSize,
		MaxRetries:      4,
		RetryDelay:      20 * time.Millisecond,
		RetryMaxDelay:   200 * time.Millisecond,
	}
}

// open opens cfg and closes the backend when t ends.
func open(t *testing.T, cfg Config) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
