package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// CleanTemp removes the temporaries in tmp/ that were last written more than
// olderThan ago, such as those a crashed writer left, and returns how many it
// removed. A Put whose temporary is removed fails without storing anything,
// so olderThan should exceed the time a Put can go without writing.
func (b *Backend) CleanTemp(olderThan time.Duration) (int, error) {
	dir := b.tmpDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("clean temporaries: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("clean temporaries: %w", err)
		}
		if !fi.Mode().IsRegular() || fi.ModTime().After(cutoff) {
			continue
		}
		err = os.Remove(filepath.Join(dir, e.Name()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("clean temporaries: %w", err)
		}
		if err == nil {
			removed++
		}
	}
	if removed > 0 {
		if err := syncDir(dir); err != nil {
			return removed, fmt.Errorf("clean temporaries: %w", err)
		}
	}
	return removed, nil
}
