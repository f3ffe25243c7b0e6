package archiver_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
)

// randomTree writes files of random content and returns their total size.
func randomTree(t *testing.T, dir string, files, size int) int {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files * size
}

// TestBackupDoesNotAllocatePerChunk checks that the bytes a backup reads go
// through recycled buffers: once the buffers exist, backing up more files
// allocates a small fraction of their size.
func TestBackupDoesNotAllocatePerChunk(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	randomTree(t, filepath.Join(src, "warm"), 100, 100<<10)
	backup(t, r, archiver.Options{}, filepath.Join(src, "warm"))
	size := randomTree(t, filepath.Join(src, "measured"), 300, 100<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	backup(t, r, archiver.Options{}, filepath.Join(src, "measured"))
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("backing up %d KiB allocated %d KiB", size>>10, got>>10)
	if got > uint64(size)/3 {
		t.Errorf("backing up %d KiB allocated %d KiB, want at most a third", size>>10, got>>10)
	}
}
