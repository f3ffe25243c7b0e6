package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// CleanTemp removes the temporaries in tmp/ that were last written more than
// olderThan ago, such as those a crashed writer left, and returns how many it
// removed. A Put whose temporary is removed fails without storing anything,
// so olderThan should exceed the time a Put can go without writing.
//
// Seal markers that a crash left (whatever their age) are resolved instead:
// the object a marker names gets its immutable attribute back, then the
// marker goes; markers of running operations, and markers this process
// lacks the privilege to resolve, stay, and are not counted. A probe file
// that a crash left immutable has the attribute cleared and is removed. Any
// other file that cannot be removed because it is immutable is left alone.
func (b *Backend) CleanTemp(olderThan time.Duration) (int, error) {
	dir := b.tmpDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("clean temporaries: %w", err)
	}
	canSeal := false
	if reason, err := processPrivilegeReason(); err == nil && reason == "" {
		canSeal = true
	}
	cutoff := time.Now().Add(-olderThan)
	removed, changed := 0, false
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if _, ok := parseMarker(e.Name()); ok && e.Type().IsRegular() {
			if !canSeal {
				continue
			}
			gone, err := b.resolveMarker(path)
			if err != nil {
				return removed, fmt.Errorf("clean temporaries: %w", err)
			}
			changed = changed || gone
			continue
		}
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
		err = os.Remove(path)
		if errors.Is(err, fs.ErrPermission) && pathImmutable(path) {
			if !strings.HasPrefix(e.Name(), probePrefix) {
				continue
			}
			err = removeImmutable(path)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("clean temporaries: %w", err)
		}
		if err == nil {
			removed++
			changed = true
		}
	}
	if changed {
		if err := syncDir(dir); err != nil {
			return removed, fmt.Errorf("clean temporaries: %w", err)
		}
	}
	return removed, nil
}

// removeImmutable clears the immutable attribute of the file at path and
// removes it.
func removeImmutable(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := setImmutable(f, false); err != nil {
		return err
	}
	if err := unix.Unlink(path); err != nil {
		return &os.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}
