package filter

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestIsCacheDir(t *testing.T) {
	for _, c := range []struct {
		name    string
		content string
		want    bool
	}{
		{"exact", cacheDirSignature, true},
		{"with comment", cacheDirSignature + "\n# This file is a cache directory tag.\n", true},
		{"short", cacheDirSignature[:20], false},
		{"wrong", "Signature: 00000000000000000000000000000000\n", false},
		{"lowercase", "signature: 8a477f597d28d172789f06886806bc55", false},
		{"empty", "", false},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, CacheDirTag), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := IsCacheDir(dir)
		if err != nil || got != c.want {
			t.Errorf("%s: IsCacheDir = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestIsCacheDirNoTag(t *testing.T) {
	dir := t.TempDir()
	if got, err := IsCacheDir(dir); got || err != nil {
		t.Errorf("untagged dir: %v, %v", got, err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := IsCacheDir(file); got || err != nil {
		t.Errorf("regular file as dir: %v, %v", got, err)
	}
}

// A hostile tree must not make the check follow links, block or open
// devices.
func TestIsCacheDirHostileTag(t *testing.T) {
	outside := t.TempDir()
	real := filepath.Join(outside, "tag")
	if err := os.WriteFile(real, []byte(cacheDirSignature), 0o644); err != nil {
		t.Fatal(err)
	}
	link := t.TempDir()
	if err := os.Symlink(real, filepath.Join(link, CacheDirTag)); err != nil {
		t.Fatal(err)
	}
	fifo := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifo, CacheDirTag), 0o644); err != nil {
		t.Fatal(err)
	}
	dirTag := t.TempDir()
	if err := os.Mkdir(filepath.Join(dirTag, CacheDirTag), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"symlink": link, "fifo": fifo, "directory": dirTag} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if got, err := IsCacheDir(dir); got || err != nil {
				t.Errorf("%s tag: %v, %v", name, got, err)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s tag: IsCacheDir blocked", name)
		}
	}
}
