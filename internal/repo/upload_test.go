package repo_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
)

func countPacks(t *testing.T, r *repo.Repository) int {
	t.Helper()
	n := 0
	if err := r.Backend().List(context.Background(), storage.KindPack, func(storage.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSaveUploaded(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	c, err := repo.NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte("compressible content "), 4000)
	id := r.Key().BlobID(data)
	payload, compressed := c.Compress(nil, data)
	if !compressed || len(payload) >= len(data) {
		t.Fatal("test data did not compress")
	}
	u := repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: payload, Compressed: true, RawLen: len(data)}
	isNew, _, err := r.SaveUploaded(ctx, u, nil)
	if err != nil || !isNew {
		t.Fatalf("SaveUploaded = %v, %v", isNew, err)
	}
	if isNew, _, err = r.SaveUploaded(ctx, u, nil); err != nil || isNew {
		t.Fatalf("second upload: new=%v err=%v, want a duplicate", isNew, err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := v.Open(t).LoadBlob(ctx, blob.DataBlob, id, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("load uploaded blob: %v", err)
	}
	p, comp, raw, err := r.LoadPayload(ctx, u.Handle)
	if err != nil || !comp || raw != len(data) {
		t.Fatalf("LoadPayload: comp=%v raw=%d err=%v", comp, raw, err)
	}
	back, err := c.Decompress(nil, p, raw)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("payload does not decompress to the blob: %v", err)
	}
}

// A client that sends content under another blob's id, or malformed
// payloads, gets an error and nothing is stored.
func TestSaveUploadedRefusesForgeries(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	c, _ := repo.NewCompressor()
	defer c.Close()
	data := bytes.Repeat([]byte("honest "), 3000)
	other := bytes.Repeat([]byte("planted "), 3000)
	id := r.Key().BlobID(data)
	forged, _ := c.Compress(nil, other)

	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, 4<<20), nil)
	enc.Close()

	cases := []struct {
		name string
		u    repo.Upload
		want error
	}{
		{"other content under the id", repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: forged, Compressed: true, RawLen: len(other)}, repo.ErrMismatch},
		{"raw other content", repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: other, RawLen: len(other)}, repo.ErrMismatch},
		{"expands past its length", repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: bomb, Compressed: true, RawLen: 1000}, repo.ErrUpload},
		{"length lie", repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: data, RawLen: len(data) - 1}, repo.ErrUpload},
		{"garbage", repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: []byte("not zstd at all"), Compressed: true, RawLen: len(data)}, repo.ErrUpload},
		{"larger than a chunk", repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: bomb, Compressed: true, RawLen: 4 << 20}, repo.ErrUpload},
		{"unknown type", repo.Upload{Handle: blob.Handle{ID: id, Type: 9}, Payload: data, RawLen: len(data)}, repo.ErrUpload},
	}
	for _, tc := range cases {
		if _, _, err := r.SaveUploaded(ctx, tc.u, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countPacks(t, r); n != 0 {
		t.Fatalf("%d packs stored after refused uploads", n)
	}
	// The honest blob can still be uploaded afterwards: refusals release
	// their claim on the id.
	if isNew, _, err := r.SaveUploaded(ctx, repo.Upload{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, Payload: data, RawLen: len(data)}, nil); err != nil || !isNew {
		t.Fatalf("honest upload after forgeries: %v %v", isNew, err)
	}
}

// A forgery under the id of a blob the vault already holds is refused too,
// not quietly dropped as a duplicate.
func TestSaveUploadedRefusesForgeryOfHeldBlob(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("held "), 1000)
	h := blob.Handle{ID: r.Key().BlobID(data), Type: blob.DataBlob}
	if _, _, err := r.SaveUploaded(ctx, repo.Upload{Handle: h, Payload: data, RawLen: len(data)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.SaveUploaded(ctx, repo.Upload{Handle: h, Payload: []byte("lie"), RawLen: 3}, nil); !errors.Is(err, repo.ErrMismatch) {
		t.Fatalf("forgery of a held blob: %v", err)
	}
}
