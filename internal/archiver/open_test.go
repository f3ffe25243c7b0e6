package archiver

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOpenRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	f, err := openNoAtime(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(got) != "content" {
		t.Fatalf("read %q, %v", got, err)
	}
	var pe *os.PathError
	if _, err := openNoAtime(link); !errors.Is(err, syscall.ELOOP) || !errors.As(err, &pe) || pe.Path != link {
		t.Errorf("open of a symbolic link: %v, want ELOOP naming the link", err)
	}
	if _, err := openNoAtime(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := readDir(file); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("readDir of a file: %v, want ENOTDIR", err)
	}
	entries, err := readDir(dir)
	if err != nil || len(entries) != 2 || entries[0].Name() != "file" || entries[1].Name() != "link" {
		t.Errorf("readDir: %v, %v", entries, err)
	}
}
