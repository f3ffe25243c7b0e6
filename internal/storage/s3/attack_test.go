package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/s3/miniotest"
	"github.com/minio/minio-go/v7"
)

// The tests in this file act as the holder of the storage provider's root
// credentials, with a raw S3 client, against objects the backend stored.

// pack is test content named by its SHA-256, as a vault names a pack.
type pack struct {
	h    storage.Handle
	data []byte
}

func newPack(t *testing.T, size int) pack {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	sum := sha256.Sum256(data)
	return pack{h: storage.Handle{Kind: storage.KindPack, Name: hex.EncodeToString(sum[:])}, data: data}
}

func putPack(t *testing.T, b *Backend, p pack, opts storage.PutOptions) {
	t.Helper()
	if err := b.Put(t.Context(), p.h, int64(len(p.data)), bytes.NewReader(p.data), opts); err != nil {
		t.Fatalf("Put %s: %v", p.h, err)
	}
}

func readAll(t *testing.T, b storage.Backend, h storage.Handle) []byte {
	t.Helper()
	data, err := storage.ReadAll(t.Context(), b, h)
	if err != nil {
		t.Fatalf("ReadAll %s: %v", h, err)
	}
	return data
}

// wantOriginal fails unless b reads, stats and lists p as it was stored.
func wantOriginal(t *testing.T, b storage.Backend, p pack) {
	t.Helper()
	if got := readAll(t, b, p.h); !bytes.Equal(got, p.data) {
		t.Fatalf("%s reads as %d other bytes, want the original %d", p.h, len(got), len(p.data))
	}
	rd, err := b.Get(t.Context(), p.h, 10, 20)
	if err != nil {
		t.Fatalf("ranged Get: %v", err)
	}
	part, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || !bytes.Equal(part, p.data[10:30]) {
		t.Fatalf("ranged Get of %s: %v, wrong bytes", p.h, err)
	}
	fi, err := b.Stat(t.Context(), p.h)
	if err != nil || fi.Size != int64(len(p.data)) {
		t.Fatalf("Stat %s: %+v, %v; want size %d", p.h, fi, err, len(p.data))
	}
	found := false
	err = b.List(t.Context(), p.h.Kind, func(fi storage.Info) error {
		if fi.Handle == p.h {
			found = true
			if fi.Size != int64(len(p.data)) {
				t.Errorf("List reports %s with size %d, want %d", p.h, fi.Size, len(p.data))
			}
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("List: %v; %s found: %v", err, p.h, found)
	}
}

// rootVersions lists every version of key and every delete marker on it,
// newest first, with the root client.
func rootVersions(t *testing.T, root *minio.Client, bucket, key string) []minio.ObjectInfo {
	t.Helper()
	var vs []minio.ObjectInfo
	for v := range root.ListObjectsIter(t.Context(), bucket, minio.ListObjectsOptions{WithVersions: true, Prefix: key, Recursive: true}) {
		if v.Err != nil {
			t.Fatalf("list versions of %s: %v", key, v.Err)
		}
		if v.Key == key {
			vs = append(vs, v)
		}
	}
	return vs
}

// describeVersions lists versions briefly, newest first.
func describeVersions(vs []minio.ObjectInfo) string {
	var parts []string
	for _, v := range vs {
		if v.IsDeleteMarker {
			parts = append(parts, "delete marker "+v.VersionID)
		} else {
			parts = append(parts, fmt.Sprintf("version %s (%d bytes)", v.VersionID, v.Size))
		}
	}
	return fmt.Sprintf("%d: [%s]", len(vs), strings.Join(parts, ", "))
}

// tamper puts a new version with other content over key and then a delete
// marker on it, as the root user can on any versioned bucket.
func tamper(t *testing.T, root *minio.Client, bucket, key string) {
	t.Helper()
	ctx := t.Context()
	forged := bytes.Repeat([]byte("ransom "), 1000)
	if _, err := root.PutObject(ctx, bucket, key, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("root put of a new version: %v", err)
	}
	if _, err := root.PutObject(ctx, bucket, key, bytes.NewReader(forged[:5]), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("root put of another version: %v", err)
	}
	if err := root.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("root delete marker: %v", err)
	}
	// The key's current version is the delete marker: a plain S3 reader
	// sees the object gone.
	if _, err := root.StatObject(ctx, bucket, key, minio.StatObjectOptions{}); err == nil {
		t.Fatalf("root still sees %s after its delete marker", key)
	}
}

// wantRefused fails unless err is the service refusing to touch a locked
// version.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("root %s of a locked version: no error", what)
	}
	if !isRetained(err) {
		t.Fatalf("root %s of a locked version: %v, not an Object Lock refusal", what, err)
	}
}

func waitPast(t *testing.T, until time.Time) {
	t.Helper()
	time.Sleep(time.Until(until) + 1200*time.Millisecond)
}

func TestRootCannotTouchCompliance(t *testing.T) {
	t.Parallel() // it mostly waits
	srv := newServer(t)
	root := srv.Client(t)
	cfg := testConfig(t, srv, lockedBucket)
	b := open(t, cfg)
	p := newPack(t, 5000)
	until := time.Now().Add(4 * time.Second)
	putPack(t, b, p, storage.PutOptions{RetainUntil: until, Mode: storage.RetentionCompliance})
	key, _ := b.objectKey(p.h)
	ctx := t.Context()

	vs := rootVersions(t, root, lockedBucket, key)
	if len(vs) != 1 {
		t.Fatalf("%d versions after one Put", len(vs))
	}
	orig := vs[0].VersionID
	wantRefused(t, "delete", root.RemoveObject(ctx, lockedBucket, key, minio.RemoveObjectOptions{VersionID: orig}))
	wantRefused(t, "delete with the governance bypass", root.RemoveObject(ctx, lockedBucket, key,
		minio.RemoveObjectOptions{VersionID: orig, GovernanceBypass: true}))
	earlier := until.Add(-2 * time.Second)
	for _, mode := range []minio.RetentionMode{minio.Compliance, minio.Governance} {
		for _, bypass := range []bool{false, true} {
			err := root.PutObjectRetention(ctx, lockedBucket, key, minio.PutObjectRetentionOptions{
				VersionID: orig, Mode: &mode, RetainUntilDate: &earlier, GovernanceBypass: bypass,
			})
			wantRefused(t, "retention change to "+string(mode)+" earlier", err)
		}
	}
	gov := minio.Governance
	later := until.Add(time.Hour)
	wantRefused(t, "retention change to governance", root.PutObjectRetention(ctx, lockedBucket, key, minio.PutObjectRetentionOptions{
		VersionID: orig, Mode: &gov, RetainUntilDate: &later, GovernanceBypass: true,
	}))
	// MinIO's own ways to remove everything are refused on a locked bucket.
	for what, err := range map[string]error{
		"force delete of the key":    root.RemoveObject(ctx, lockedBucket, key, minio.RemoveObjectOptions{ForceDelete: true}),
		"force delete of the prefix": root.RemoveObject(ctx, lockedBucket, cfg.Prefix+"/", minio.RemoveObjectOptions{ForceDelete: true}),
		"suspending versioning":      root.SuspendVersioning(ctx, lockedBucket),
		"force delete of the bucket": root.RemoveBucketWithOptions(ctx, lockedBucket, minio.RemoveBucketOptions{ForceDelete: true}),
		"delete of the bucket":       root.RemoveBucket(ctx, lockedBucket),
	} {
		if err == nil {
			t.Fatalf("root %s: no error", what)
		}
	}
	if ret, err := b.Retention(ctx, p.h); err != nil || ret.Mode != storage.RetentionCompliance || ret.Until.Before(until) {
		t.Fatalf("Retention after the attempts: %+v, %v", ret, err)
	}
	if vs := rootVersions(t, root, lockedBucket, key); len(vs) != 1 || vs[0].VersionID != orig || vs[0].IsDeleteMarker {
		t.Fatalf("versions after the attempts: %s", describeVersions(vs))
	}

	tamper(t, root, lockedBucket, key)
	wantOriginal(t, b, p)
	fresh := open(t, cfg) // knows no version ids: learns them from the listing
	wantOriginal(t, fresh, p)
	if ret, err := fresh.Retention(ctx, p.h); err != nil || ret.Mode != storage.RetentionCompliance {
		t.Fatalf("Retention seen by a fresh backend: %+v, %v", ret, err)
	}
	if err := fresh.Put(ctx, p.h, int64(len(p.data)), bytes.NewReader(p.data), storage.PutOptions{}); err != nil && !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Put over the delete marker: %v", err)
	}
	wantOriginal(t, fresh, p)
	if err := b.Delete(ctx, p.h); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete under compliance: got %v, want ErrRetained", err)
	}
	wantOriginal(t, open(t, cfg), p)

	waitPast(t, until)
	if err := b.Delete(ctx, p.h); err != nil {
		t.Fatalf("Delete after the retention passed: %v", err)
	}
	if vs := rootVersions(t, root, lockedBucket, key); len(vs) != 0 {
		t.Fatalf("Delete left %s", describeVersions(vs))
	}
	if _, err := open(t, cfg).Stat(ctx, p.h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Delete: got %v, want ErrNotFound", err)
	}
}

func TestRootGovernanceBypass(t *testing.T) {
	srv := newServer(t)
	root := srv.Client(t)
	b := open(t, testConfig(t, srv, lockedBucket))
	ctx := t.Context()
	p := newPack(t, 3000)
	putPack(t, b, p, storage.PutOptions{RetainUntil: time.Now().Add(time.Hour), Mode: storage.RetentionGovernance})
	key, _ := b.objectKey(p.h)
	orig := rootVersions(t, root, lockedBucket, key)[0].VersionID
	wantRefused(t, "delete", root.RemoveObject(ctx, lockedBucket, key, minio.RemoveObjectOptions{VersionID: orig}))
	wantOriginal(t, b, p)
	// Shortening governance needs the bypass too, and root has it.
	gov, sooner := minio.Governance, time.Now().Add(time.Minute)
	wantRefused(t, "shortening", root.PutObjectRetention(ctx, lockedBucket, key, minio.PutObjectRetentionOptions{
		VersionID: orig, Mode: &gov, RetainUntilDate: &sooner,
	}))
	if err := root.PutObjectRetention(ctx, lockedBucket, key, minio.PutObjectRetentionOptions{
		VersionID: orig, Mode: &gov, RetainUntilDate: &sooner, GovernanceBypass: true,
	}); err != nil {
		t.Fatalf("root shortening governance with the bypass: %v", err)
	}
	// S3's rule: whoever may bypass governance (root may) deletes it.
	if err := root.RemoveObject(ctx, lockedBucket, key, minio.RemoveObjectOptions{VersionID: orig, GovernanceBypass: true}); err != nil {
		t.Fatalf("root delete with the governance bypass: %v", err)
	}
	if _, err := b.Stat(ctx, p.h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after root's bypass delete: got %v, want ErrNotFound", err)
	}
}

func TestRootLegalHold(t *testing.T) {
	srv := newServer(t)
	root := srv.Client(t)
	b := open(t, testConfig(t, srv, lockedBucket))
	ctx := t.Context()
	p := newPack(t, 3000)
	putPack(t, b, p, storage.PutOptions{})
	if err := b.SetLegalHold(ctx, p.h, true); err != nil {
		t.Fatalf("SetLegalHold: %v", err)
	}
	key, _ := b.objectKey(p.h)
	orig := rootVersions(t, root, lockedBucket, key)[0].VersionID
	for _, bypass := range []bool{false, true} {
		wantRefused(t, "delete of a held version", root.RemoveObject(ctx, lockedBucket, key,
			minio.RemoveObjectOptions{VersionID: orig, GovernanceBypass: bypass}))
	}
	tamper(t, root, lockedBucket, key)
	wantOriginal(t, b, p)
	if err := b.Delete(ctx, p.h); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete under legal hold: got %v, want ErrRetained", err)
	}
	wantOriginal(t, b, p)
	// The refused Delete took the foreign versions and the marker away,
	// newest first, and left the original.
	if vs := rootVersions(t, root, lockedBucket, key); len(vs) != 1 || vs[0].VersionID != orig {
		t.Fatalf("after a refused Delete: %s, want only the original version", describeVersions(vs))
	}
	if err := b.SetLegalHold(ctx, p.h, false); err != nil {
		t.Fatalf("lift the legal hold: %v", err)
	}
	if err := b.Delete(ctx, p.h); err != nil {
		t.Fatalf("Delete after the hold was lifted: %v", err)
	}
	if vs := rootVersions(t, root, lockedBucket, key); len(vs) != 0 {
		t.Fatalf("Delete left %s", describeVersions(vs))
	}

	// A legal hold keeps an object from deletion, not from whoever may
	// lift holds: root may.
	q := newPack(t, 100)
	putPack(t, b, q, storage.PutOptions{})
	if err := b.SetLegalHold(ctx, q.h, true); err != nil {
		t.Fatal(err)
	}
	qkey, _ := b.objectKey(q.h)
	off := minio.LegalHoldDisabled
	qv := rootVersions(t, root, lockedBucket, qkey)[0].VersionID
	if err := root.PutObjectLegalHold(ctx, lockedBucket, qkey, minio.PutObjectLegalHoldOptions{VersionID: qv, Status: &off}); err != nil {
		t.Fatalf("root lifting the hold: %v", err)
	}
	if err := root.RemoveObject(ctx, lockedBucket, qkey, minio.RemoveObjectOptions{VersionID: qv}); err != nil {
		t.Fatalf("root delete after lifting the hold: %v", err)
	}
}

// TestOldestVersionWithoutLock: on a versioned bucket without Object Lock,
// too, new versions and delete markers do not change what the backend
// reads (they can only be removed, which the backend then reports).
func TestOldestVersionWithoutLock(t *testing.T) {
	srv := newServer(t)
	root := srv.Client(t)
	cfg := testConfig(t, srv, versionedBucket)
	b := open(t, cfg)
	p := newPack(t, 7000)
	putPack(t, b, p, storage.PutOptions{})
	key, _ := b.objectKey(p.h)
	tamper(t, root, versionedBucket, key)
	wantOriginal(t, b, p)
	wantOriginal(t, open(t, cfg), p)
	if err := b.Delete(t.Context(), p.h); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if vs := rootVersions(t, root, versionedBucket, key); len(vs) != 0 {
		t.Fatalf("Delete left %s", describeVersions(vs))
	}
}

// TestDeleteMarkerOnly: a key that holds nothing but delete markers does
// not exist; Delete removes the markers and reports ErrNotFound.
func TestDeleteMarkerOnly(t *testing.T) {
	srv := newServer(t)
	root := srv.Client(t)
	b := open(t, testConfig(t, srv, lockedBucket))
	p := newPack(t, 100)
	key, _ := b.objectKey(p.h)
	ctx := t.Context()
	// MinIO places no delete marker on a key without versions (AWS does):
	// make a version, mark it deleted, then remove the version itself.
	info, err := root.PutObject(ctx, lockedBucket, key, bytes.NewReader(p.data), int64(len(p.data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := root.RemoveObject(ctx, lockedBucket, key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := root.RemoveObject(ctx, lockedBucket, key, minio.RemoveObjectOptions{VersionID: info.VersionID}); err != nil {
		t.Fatal(err)
	}
	if vs := rootVersions(t, root, lockedBucket, key); len(vs) != 1 || !vs[0].IsDeleteMarker {
		t.Fatalf("versions %s, want one delete marker", describeVersions(vs))
	}
	if _, err := b.Stat(t.Context(), p.h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat: got %v, want ErrNotFound", err)
	}
	n := 0
	b.List(t.Context(), storage.KindPack, func(storage.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("List reports %d objects", n)
	}
	if err := b.Delete(t.Context(), p.h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Delete: got %v, want ErrNotFound", err)
	}
	if vs := rootVersions(t, root, lockedBucket, key); len(vs) != 0 {
		t.Fatalf("Delete left %s", describeVersions(vs))
	}
	putPack(t, b, p, storage.PutOptions{})
	wantOriginal(t, b, p)
}

// TestStaleVersion: a backend that cached a version id reads the object
// another backend deleted and stored again.
func TestStaleVersion(t *testing.T) {
	srv := newServer(t)
	for _, bucket := range []string{plainBucket, lockedBucket} {
		t.Run(bucket, func(t *testing.T) {
			cfg := testConfig(t, srv, bucket)
			a, other := open(t, cfg), open(t, cfg)
			p := newPack(t, 4000)
			putPack(t, a, p, storage.PutOptions{})
			wantOriginal(t, a, p)
			if err := other.Delete(t.Context(), p.h); err != nil {
				t.Fatal(err)
			}
			again := pack{h: p.h, data: bytes.Repeat([]byte{7}, 6000)}
			putPack(t, other, again, storage.PutOptions{})
			wantOriginal(t, a, again)
			if err := other.Delete(t.Context(), p.h); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Get(t.Context(), p.h, 0, -1); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get after another backend deleted it: got %v, want ErrNotFound", err)
			}
		})
	}
}

// rootObjects counts the keys under prefix that root sees, with every
// version, and the multipart uploads in progress.
func rootObjects(t *testing.T, srv *miniotest.Server, bucket, prefix string) (versions, uploads int) {
	t.Helper()
	root := srv.Client(t)
	for v := range root.ListObjectsIter(t.Context(), bucket, minio.ListObjectsOptions{WithVersions: true, Prefix: prefix, Recursive: true}) {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		versions++
	}
	res, err := minio.Core{Client: root}.ListMultipartUploads(context.Background(), bucket, prefix, "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return versions, len(res.Uploads)
}
