package local

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// plantPath returns where the pack h lives and makes its directory.
func plantPath(t *testing.T, b *Backend, h storage.Handle) string {
	t.Helper()
	path, err := b.objectPath(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		t.Fatal(err)
	}
	return path
}

func listNames(t *testing.T, b *Backend, k storage.Kind) []string {
	t.Helper()
	var names []string
	err := b.List(t.Context(), k, func(fi storage.Info) error {
		names = append(names, fi.Handle.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List %s: %v", k, err)
	}
	return names
}

func TestSymlinkAtObjectPath(t *testing.T) {
	b := newVault(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("root password"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := packOf([]byte("anything"))
	path := plantPath(t, b, h)
	if err := os.Symlink(secret, path); err != nil {
		t.Fatal(err)
	}
	if rd, err := b.Get(t.Context(), h, 0, -1); err == nil {
		data, _ := io.ReadAll(rd)
		rd.Close()
		t.Fatalf("Get followed a symbolic link and read %q", data)
	} else if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Get: error %q does not say symbolic link", err)
	}
	if _, err := b.Stat(t.Context(), h); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat of a symbolic link: got %v, want a not-a-regular-file error", err)
	}
	if names := listNames(t, b, storage.KindPack); len(names) != 0 {
		t.Errorf("List reported a symbolic link: %v", names)
	}
	evil := []byte("overwritten!!")
	if err := b.Put(t.Context(), h, int64(len(evil)), bytes.NewReader(evil), storage.PutOptions{}); !errors.Is(err, storage.ErrExists) {
		t.Errorf("Put over a symbolic link: got %v, want ErrExists", err)
	}
	if err := b.Delete(t.Context(), h); err != nil {
		t.Errorf("Delete of a symbolic link: %v", err)
	}
	if got, err := os.ReadFile(secret); err != nil || string(got) != "root password" {
		t.Fatalf("symbolic link target changed: %q, %v", got, err)
	}
}

func TestFIFOAtObjectPath(t *testing.T) {
	b := newVault(t)
	h := packOf([]byte("fifo"))
	path := plantPath(t, b, h)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		rd, err := b.Get(t.Context(), h, 0, -1)
		if err == nil {
			rd.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Get of a FIFO: got %v, want a not-a-regular-file error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get blocked on a FIFO")
	}
	if names := listNames(t, b, storage.KindPack); len(names) != 0 {
		t.Errorf("List reported a FIFO: %v", names)
	}
}

func TestDirectoryAtObjectPath(t *testing.T) {
	b := newVault(t)
	h := packOf([]byte("dir"))
	path := plantPath(t, b, h)
	if err := os.Mkdir(path, dirMode); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), h, 0, -1); err == nil {
		t.Errorf("Get of a directory: no error")
	}
	if err := b.Delete(t.Context(), h); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete of a directory: got %v, want an error", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("Delete removed a directory: %v", err)
	}
}

func TestListIgnoresStrays(t *testing.T) {
	b := newVault(t)
	data := []byte("the real pack")
	real := packOf(data)
	mustPut(t, b, real, data)
	hex := strings.Repeat("0123456789abcdef", 4)
	root := b.Location()
	strays := []string{
		"packs/README",
		"packs/" + hex[:2] + "/" + strings.ToUpper(hex),
		"packs/" + hex[:2] + "/" + hex[:63],
		"packs/" + hex[:2] + "/" + hex + ".tmp",
		"packs/ff/" + hex, // wrong fan-out directory
		"packs/zz/" + "zz" + hex[2:],
		"packs/abc/" + "abc" + hex[3:],
		"keys/" + hex + "~",
		"keys/.hidden",
		"tmp/" + hex,
		"index/" + hex[:10],
		"Config",
	}
	for _, s := range strays {
		p := filepath.Join(root, s)
		if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("stray"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "packs", "0a"), []byte("file, not dir"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := listNames(t, b, storage.KindPack); len(got) != 1 || got[0] != real.Name {
		t.Errorf("List packs: %v, want only %s", got, real.Name)
	}
	for _, k := range []storage.Kind{storage.KindConfig, storage.KindKey, storage.KindIndex, storage.KindPoint} {
		if got := listNames(t, b, k); len(got) != 0 {
			t.Errorf("List %s: %v, want nothing", k, got)
		}
	}
}

func TestInvalidNamesTouchNothingOutside(t *testing.T) {
	parent := t.TempDir()
	b, err := Create(filepath.Join(parent, "vault"))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("escape")
	for _, h := range []storage.Handle{
		{Kind: storage.KindPack, Name: "../../../escape"},
		{Kind: storage.KindKey, Name: "../escape"},
		{Kind: "..", Name: "escape"},
		{Kind: "../..", Name: strings.Repeat("a", 64)},
		{Kind: storage.KindConfig, Name: "../escape"},
	} {
		if err := b.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Put %q/%q: got %v, want ErrInvalidName", h.Kind, h.Name, err)
		}
	}
	entries, err := os.ReadDir(parent)
	if err != nil || len(entries) != 1 || entries[0].Name() != "vault" {
		t.Fatalf("the vault's parent holds %v (%v), want only the vault", entries, err)
	}
}

func TestTruncatedObjectIsReported(t *testing.T) {
	b := newVault(t)
	data := bytes.Repeat([]byte("abcdefgh"), 10000)
	h := packOf(data)
	mustPut(t, b, h, data)
	rd, err := b.Get(t.Context(), h, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	path, _ := b.objectPath(h)
	if err := os.Truncate(path, 1000); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rd)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), h.Name) {
		t.Fatalf("read of a truncated object: %d bytes, %v; want ErrUnexpectedEOF naming the object", n, err)
	}
}
