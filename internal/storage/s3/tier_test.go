package s3

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// A plain bucket moves an object to another class in place: the content
// and the name stay, MinIO reports the new class, and a second call
// changes nothing. A class MinIO does not offer is refused with its code.
func TestSetStorageClass(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	cfg := testConfig(t, srv, plainBucket)
	b := open(t, cfg)
	data := bytes.Repeat([]byte("cold data "), 1000)
	h := storage.Handle{Kind: storage.KindPack, Name: strings.Repeat("ab", 32)}
	if err := b.Put(ctx, h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	changed, err := b.SetStorageClass(ctx, h, "REDUCED_REDUNDANCY")
	if err != nil || !changed {
		t.Fatalf("SetStorageClass: %v %v", changed, err)
	}
	key, _ := b.objectKey(h)
	info, err := srv.Client(t).StatObject(ctx, plainBucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := classOf(info); c != "REDUCED_REDUNDANCY" {
		t.Errorf("class %q after the move", c)
	}
	got, err := storage.ReadAll(ctx, b, h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the move: %v (%d bytes)", err, len(got))
	}
	if changed, err := b.SetStorageClass(ctx, h, "REDUCED_REDUNDANCY"); err != nil || changed {
		t.Errorf("second move: %v %v", changed, err)
	}
	_, err = b.SetStorageClass(ctx, h, "GLACIER")
	if err == nil || !strings.Contains(err.Error(), "GLACIER") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("GLACIER on MinIO: %v", err)
	}
	t.Logf("MinIO on GLACIER: %v", err)
}

// On a bucket with Object Lock the original version is the object: a copy
// would only add a version, so the move is refused, and the object, its
// retention and its class stay as they were.
func TestSetStorageClassLockedRefused(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	b := open(t, testConfig(t, srv, lockedBucket))
	data := []byte("locked data")
	h := storage.Handle{Kind: storage.KindPack, Name: strings.Repeat("cd", 32)}
	if err := b.Put(ctx, h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := b.SetStorageClass(ctx, h, "REDUCED_REDUNDANCY")
	if !errors.Is(err, storage.ErrUnsupported) || !strings.Contains(err.Error(), "lifecycle rule") {
		t.Fatalf("move on a locked bucket: %v", err)
	}
	key, _ := b.objectKey(h)
	n := 0
	for o := range srv.Client(t).ListObjects(ctx, lockedBucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d versions after a refused move, want 1", n)
	}
}
