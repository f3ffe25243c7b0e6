package repo_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
)

// storedBlob saves data, flushes, and returns where it went and its sealed bytes.
func storedBlob(t *testing.T, r *repo.Repository, data []byte) (blob.Handle, index.Location, []byte) {
	t.Helper()
	ctx := context.Background()
	h := blob.Handle{ID: r.Key().BlobID(data), Type: blob.DataBlob}
	if _, err := r.SaveBlob(ctx, h.Type, h.ID, data); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l, ok := r.Index().Lookup(h)
	if !ok {
		t.Fatal("saved blob is not indexed")
	}
	rd, err := r.Backend().Get(ctx, storage.Handle{Kind: storage.KindPack, Name: l.Pack.String()}, int64(l.Offset), int64(l.Length))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	sealed := make([]byte, l.Length)
	if _, err := rd.Read(sealed); err != nil {
		t.Fatal(err)
	}
	return h, l, sealed
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenBlobStoresPlaintextInBuf(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	for _, tc := range []struct {
		name       string
		data       []byte
		compressed bool
	}{
		{"compressed", bytes.Repeat([]byte("compressible "), 20000), true},
		{"stored", randomBytes(t, 200000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, l, sealed := storedBlob(t, r, tc.data)
			if got := l.Flags&1 != 0; got != tc.compressed {
				t.Fatalf("blob compressed: %v, want %v", got, tc.compressed)
			}
			orig := bytes.Clone(sealed)
			buf := make([]byte, 0, len(tc.data))
			out, err := r.OpenBlob(h, l, sealed, buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, tc.data) {
				t.Fatal("plaintext differs from what was saved")
			}
			if &out[:1][0] != &buf[:1][0] {
				t.Error("plaintext not stored in a buf large enough for it")
			}
			if !bytes.Equal(sealed, orig) {
				t.Error("OpenBlob modified the sealed bytes")
			}
			small := make([]byte, 0, len(tc.data)-1)
			out, err = r.OpenBlob(h, l, sealed, small)
			if err != nil || !bytes.Equal(out, tc.data) {
				t.Fatalf("with a small buf: %v", err)
			}
			if &out[:1][0] == &small[:1][0] {
				t.Error("plaintext stored in a buf too small for it")
			}
		})
	}
}

// TestOpenBlobAllocations checks that opening the blobs of a pack reuses the
// pack's sealer and the read buffers instead of deriving and allocating per
// blob.
func TestOpenBlobAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	v := repotest.New(t)
	r := v.Open(t)
	for _, data := range [][]byte{bytes.Repeat([]byte("compressible "), 20000), randomBytes(t, 200000)} {
		h, l, sealed := storedBlob(t, r, data)
		buf := make([]byte, 0, len(data))
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := r.OpenBlob(h, l, sealed, buf); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("OpenBlob allocates %.0f times per blob, want at most 1", allocs)
		}
	}
}

// TestOpenBlobBindsSaltAndID checks that a sealer kept for one pack never
// opens a blob presented with another pack's salt, or under another id.
func TestOpenBlobBindsSaltAndID(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	data := randomBytes(t, 100000)
	h, l, sealed := storedBlob(t, r, data)
	if _, err := r.OpenBlob(h, l, sealed, nil); err != nil {
		t.Fatal(err)
	}
	other := l
	other.Salt[0] ^= 1
	if _, err := r.OpenBlob(h, other, sealed, nil); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("blob opened under another pack's salt: %v", err)
	}
	if _, err := r.OpenBlob(h, l, sealed, nil); err != nil {
		t.Errorf("blob no longer opens under its own salt: %v", err)
	}
	wrong := h
	wrong.ID[0] ^= 1
	if _, err := r.OpenBlob(wrong, l, sealed, nil); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("blob opened under another id: %v", err)
	}
	tree := h
	tree.Type = blob.TreeBlob
	if _, err := r.OpenBlob(tree, l, sealed, nil); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("blob opened as another type: %v", err)
	}
}

// LoadBlobAuthOnly skips only the check of the content against its id: a
// blob stored under the wrong id loads, where LoadBlob refuses it, while a
// flipped byte of the sealed blob still fails authentication.
func TestLoadBlobAuthOnly(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	r := v.Open(t)
	data := randomBytes(t, 50000)
	wrong := r.Key().BlobID([]byte("other content"))
	if _, err := r.SaveBlob(ctx, blob.DataBlob, wrong, data); err != nil {
		t.Fatal(err)
	}
	h, l, _ := storedBlob(t, r, randomBytes(t, 50000))
	if _, err := r.LoadBlob(ctx, blob.DataBlob, wrong, nil); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("LoadBlob of content under the wrong id: %v", err)
	}
	got, err := r.LoadBlobAuthOnly(ctx, blob.DataBlob, wrong, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("LoadBlobAuthOnly of content under the wrong id: %d bytes, %v", len(got), err)
	}
	var packPath string
	err = filepath.WalkDir(v.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == l.Pack.String() {
			packPath = p
		}
		return err
	})
	if err != nil || packPath == "" {
		t.Fatalf("pack %s not found: %v", l.Pack, err)
	}
	if err := os.Chmod(packPath, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(packPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, int64(l.Offset)+100); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := f.WriteAt(b, int64(l.Offset)+100); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(t).LoadBlobAuthOnly(ctx, blob.DataBlob, h.ID, nil); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("LoadBlobAuthOnly of a flipped byte: %v", err)
	}
}
