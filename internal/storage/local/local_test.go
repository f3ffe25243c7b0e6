package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/storagetest"
)

func TestBackendContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return newVault(t)
	})
}

// newVault creates a vault in a fresh temporary directory.
func newVault(t *testing.T) *Backend {
	t.Helper()
	b, err := Create(filepath.Join(t.TempDir(), "vault"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return b
}

// packOf returns a pack handle named by the SHA-256 of data.
func packOf(data []byte) storage.Handle {
	sum := sha256.Sum256(data)
	return storage.Handle{Kind: storage.KindPack, Name: hex.EncodeToString(sum[:])}
}

func mustPut(t *testing.T, b *Backend, h storage.Handle, data []byte) {
	t.Helper()
	if err := b.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatalf("Put %s: %v", h, err)
	}
}

// tempNames lists what is in the vault's tmp directory.
func tempNames(t *testing.T, b *Backend) []string {
	t.Helper()
	entries, err := os.ReadDir(b.tmpDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateLayout(t *testing.T) {
	b := newVault(t)
	for _, sub := range []string{"keys", "packs", "index", "points", "tmp"} {
		fi, err := os.Stat(filepath.Join(b.Location(), sub))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != dirMode {
			t.Errorf("%s: %v, %v", sub, fi, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(b.Location(), "lock")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("lock file: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(b.Location(), "config")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a new vault has a config: %v", err)
	}
}

func TestCreateRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Create(dir)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Create in a non-empty directory: got %v, want a 'not empty' error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("Create changed a non-empty directory: %d entries", len(entries))
	}
	if _, err := Create(filepath.Join(dir, "precious")); err == nil {
		t.Fatalf("Create over a file: no error")
	}
}

func TestCreateInEmptyDirThenOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir); err != nil {
		t.Fatalf("Create in an empty directory: %v", err)
	}
	if _, err := Create(dir); err == nil {
		t.Fatalf("Create twice: no error")
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if b.Location() != dir {
		t.Fatalf("Location %q, want %q", b.Location(), dir)
	}
}

func TestOpenRefusesNonVault(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open missing directory: got %v, want ErrNotExist", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a bunker vault") {
		t.Errorf("Open empty directory: got %v, want 'not a bunker vault'", err)
	}
	b := newVault(t)
	if err := os.Remove(filepath.Join(b.Location(), "index")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(b.Location()); err == nil || !strings.Contains(err.Error(), "index") {
		t.Errorf("Open vault without index/: got %v, want an error naming index", err)
	}
}

func TestPutLayoutAndMode(t *testing.T) {
	b := newVault(t)
	data := []byte("pack content")
	h := packOf(data)
	mustPut(t, b, h, data)
	path := filepath.Join(b.Location(), "packs", h.Name[:2], h.Name)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("pack not at %s: %v", path, err)
	}
	if fi.Mode().Perm() != objectMode {
		t.Fatalf("pack mode %v, want %v", fi.Mode().Perm(), os.FileMode(objectMode))
	}
	cfg := storage.Handle{Kind: storage.KindConfig, Name: "config"}
	mustPut(t, b, cfg, []byte("cfg"))
	if got, err := os.ReadFile(filepath.Join(b.Location(), "config")); err != nil || string(got) != "cfg" {
		t.Fatalf("config file: %q, %v", got, err)
	}
	key := storage.Handle{Kind: storage.KindKey, Name: h.Name}
	mustPut(t, b, key, []byte("key"))
	if _, err := os.Stat(filepath.Join(b.Location(), "keys", h.Name)); err != nil {
		t.Fatalf("key file: %v", err)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("temporaries left after Put: %v", names)
	}
}

func TestFailedPutLeavesNoTemporary(t *testing.T) {
	b := newVault(t)
	data := []byte("twelve bytes")
	h := packOf(data)
	if err := b.Put(t.Context(), h, 100, bytes.NewReader(data), storage.PutOptions{}); err == nil {
		t.Fatal("short Put: no error")
	}
	mustPut(t, b, h, data)
	if err := b.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("repeated Put: %v", err)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("temporaries left after failed Puts: %v", names)
	}
}

func TestPutRetentionUnsupported(t *testing.T) {
	b := newVault(t)
	data := []byte("locked")
	h := packOf(data)
	for _, opts := range []storage.PutOptions{
		{Mode: storage.RetentionCompliance, RetainUntil: time.Now().Add(time.Hour)},
		{Mode: storage.RetentionGovernance},
		{RetainUntil: time.Now().Add(time.Hour)},
	} {
		err := b.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data), opts)
		if !errors.Is(err, storage.ErrUnsupported) {
			t.Fatalf("Put with %+v: got %v, want ErrUnsupported", opts, err)
		}
	}
	if _, err := b.Stat(t.Context(), h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("refused Put stored the object: %v", err)
	}
}

func TestPutCreatesPackDir(t *testing.T) {
	b := newVault(t)
	data := []byte("into a new fan-out directory")
	h := packOf(data)
	sub := filepath.Join(b.Location(), "packs", h.Name[:2])
	if _, err := os.Lstat(sub); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists before the first Put: %v", sub, err)
	}
	mustPut(t, b, h, data)
	if fi, err := os.Stat(sub); err != nil || !fi.IsDir() || fi.Mode().Perm() != dirMode {
		t.Fatalf("%s after Put: %v, %v", sub, fi, err)
	}
	other := bytes.Repeat(data, 2)
	for packOf(other).Name[:2] != h.Name[:2] {
		other = append(other, '.')
	}
	mustPut(t, b, packOf(other), other) // into the now existing directory
	got, err := storage.ReadAll(t.Context(), b, h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll: %q, %v", got, err)
	}
}

func TestLinkNoReplace(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("new"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("old"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := linkNoReplace(src, dst); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("link over an existing name: got %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "old" {
		t.Fatalf("existing file changed to %q", got)
	}
	if err := os.Remove(dst); err != nil {
		t.Fatal(err)
	}
	if err := linkNoReplace(src, dst); err != nil {
		t.Fatalf("link to a free name: %v", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "new" {
		t.Fatalf("linked file holds %q", got)
	}
	if _, err := os.Lstat(src); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("source still present after link: %v", err)
	}
}

func TestMoveNoReplaceKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("new"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("old"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := moveNoReplace(src, dst); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("move over an existing name: got %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "old" {
		t.Fatalf("existing file changed to %q", got)
	}
}

func TestCleanTemp(t *testing.T) {
	b := newVault(t)
	tmp := b.tmpDir()
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{"put-stale1", "put-stale2"} {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "put-fresh"), []byte("in progress"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := b.CleanTemp(time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("CleanTemp: removed %d, %v; want 2", n, err)
	}
	names := tempNames(t, b)
	if strings.Join(names, ",") != "put-fresh,subdir" {
		t.Fatalf("tmp holds %v after CleanTemp, want put-fresh and subdir", names)
	}
}

// endlessReader yields zeros, cancels after its first Read and fails the
// test's Put if it is read more than a few times after that.
type endlessReader struct {
	cancel      context.CancelFunc
	afterCancel int
}

var errKeptReading = errors.New("kept reading after its context was canceled")

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	} else if r.afterCancel++; r.afterCancel > 2 {
		return 0, errKeptReading
	}
	clear(p)
	return len(p), nil
}

func TestPutStopsReadingWhenCanceled(t *testing.T) {
	b := newVault(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h := packOf([]byte("never stored"))
	err := b.Put(ctx, h, 1<<30, &endlessReader{cancel: cancel}, storage.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: got %v, want context.Canceled", err)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("temporaries left after a canceled Put: %v", names)
	}
}

// TestCopyExact checks that a reader yielding fewer or more bytes than
// claimed fails, and that a canceled context writes nothing.
func TestCopyExact(t *testing.T) {
	data := bytes.Repeat([]byte("pack"), 1<<18) // 1 MiB
	size := int64(len(data))
	var out bytes.Buffer
	if err := copyExact(&out, bytes.NewReader(data), size); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("copyExact: %v, wrote %d of %d bytes", err, out.Len(), size)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"short", data[:size-1], "ended after"},
		{"long", append(bytes.Clone(data), 'x'), "more than"},
	} {
		if err := copyExact(io.Discard, bytes.NewReader(tc.data), size); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	out.Reset()
	if err := copyExact(&out, &ctxReader{ctx: ctx, r: bytes.NewReader(data)}, size); !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Errorf("canceled copy: got %v after writing %d bytes, want context.Canceled and nothing written", err, out.Len())
	}
}
