package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bunkerhq/bunker/internal/storage"
	"golang.org/x/sys/unix"
)

// Prefixes of the files in tmp/ other than the temporaries of Puts.
const (
	// sealPrefix starts a seal marker: "seal-<kind>-<name>-<random>" says
	// that the object <kind>/<name> may be visible with its retention
	// recorded but its immutable attribute not (yet, or no longer) set. A
	// retained Put makes one before it moves the object into place, a
	// retention change before it lifts the attribute; both remove it once
	// the attribute is back. The operation holds an flock on its marker
	// while it runs, so a marker nobody holds was left by a crash.
	sealPrefix = "seal-"
	// probePrefix starts the file RetentionSupported tries the immutable
	// attribute on.
	probePrefix = "probe-"
)

// Steps of a retained Put and of a retention change, where tests inject
// failures and crashes.
const (
	stepMarked    = "marked"    // the seal marker is durable
	stepWritten   = "written"   // Put: the temporary holds the data
	stepRecorded  = "recorded"  // Put: the temporary holds the record and is fsynced
	stepMoved     = "moved"     // Put: the object is under its final name
	stepSealed    = "sealed"    // the immutable attribute is set
	stepSynced    = "synced"    // Put: the directory is fsynced
	stepLifted    = "lifted"    // change: the immutable attribute is cleared
	stepRewritten = "rewritten" // change: the new record is written
)

// sealMarker is a held seal marker.
type sealMarker struct{ f *os.File }

// mark creates and locks a durable seal marker for h.
func (b *Backend) mark(h storage.Handle) (*sealMarker, error) {
	f, err := os.CreateTemp(b.tmpDir(), sealPrefix+string(h.Kind)+"-"+h.Name+"-*")
	if err != nil {
		return nil, fmt.Errorf("create seal marker: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("lock seal marker %s: %w", f.Name(), err)
	}
	if err := syncDir(b.tmpDir()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("seal marker: %w", err)
	}
	return &sealMarker{f: f}, nil
}

// done removes the marker: the object is sealed, or was never visible.
// A removal a crash loses only costs a needless check later.
func (m *sealMarker) done() {
	os.Remove(m.f.Name())
	m.f.Close()
}

// abandon releases the marker but leaves it for sealPending.
func (m *sealMarker) abandon() { m.f.Close() }

// parseMarker returns the handle a seal marker's file name names.
func parseMarker(name string) (storage.Handle, bool) {
	rest, ok := strings.CutPrefix(name, sealPrefix)
	if !ok {
		return storage.Handle{}, false
	}
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) != 3 || parts[2] == "" {
		return storage.Handle{}, false
	}
	h := storage.Handle{Kind: storage.Kind(parts[0]), Name: parts[1]}
	if checkHandle(h) != nil {
		return storage.Handle{}, false
	}
	return h, true
}

// sealPending seals every object that a seal marker left by a crash names.
// A process that may not set the immutable attribute leaves the markers for
// one that may.
func (b *Backend) sealPending() error {
	if reason, err := processPrivilegeReason(); err != nil || reason != "" {
		return nil
	}
	entries, err := os.ReadDir(b.tmpDir())
	if err != nil {
		return fmt.Errorf("seal pending objects: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), sealPrefix) {
			continue
		}
		if _, err := b.resolveMarker(filepath.Join(b.tmpDir(), e.Name())); err != nil {
			return fmt.Errorf("seal pending objects: %w", err)
		}
	}
	return nil
}

// resolveMarker seals the object that the seal marker at path names and
// removes the marker, unless a running operation holds it or it names no
// object. handled reports whether the marker is gone.
func (b *Backend) resolveMarker(path string) (handled bool, err error) {
	h, ok := parseMarker(filepath.Base(path))
	if !ok {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("open seal marker: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil // its operation is still running
		}
		return false, fmt.Errorf("lock seal marker %s: %w", path, err)
	}
	if err := b.sealObject(h); err != nil {
		return false, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove seal marker: %w", err)
	}
	return true, nil
}

// sealObject sets the immutable attribute of h if its retention record
// asks for it. A missing object needs nothing.
func (b *Backend) sealObject(h storage.Handle) error {
	f, err := b.lockObject(context.Background(), h)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("seal %s: %w", h, err)
	}
	defer f.Close()
	if err := sealFile(f); err != nil {
		return fmt.Errorf("seal %s: %w", h, err)
	}
	return nil
}

// sealFile sets the immutable attribute of f, and makes it durable, if f
// holds a retention record that protects anything, or one that does not
// decode (which is taken to protect it).
func sealFile(f *os.File) error {
	r, ok, err := readRecord(f)
	switch {
	case err != nil && !errors.Is(err, errBadRecord):
		return err
	case err == nil && (!ok || r.empty()):
		return nil
	}
	if err := setImmutable(f, true); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return nil
}

// lockObject opens the object h, which must be a regular file, and takes an
// exclusive flock on it, waiting while ctx allows. Retention changes and
// deletions of one object hold it, so none of them works from a record
// another is rewriting. An object deleted meanwhile is storage.ErrNotFound.
func (b *Backend) lockObject(ctx context.Context, h storage.Handle) (*os.File, error) {
	path, err := b.objectPath(h)
	if err != nil {
		return nil, err
	}
	f, _, err := openObject(path)
	if err != nil {
		return nil, err
	}
	if err := lockOpenObject(ctx, f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// lockOpenObject takes an exclusive flock on the open object f and checks
// that it was not unlinked before the lock was granted.
func lockOpenObject(ctx context.Context, f *os.File) error {
	if err := flockRetry(ctx, f, unix.LOCK_EX); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if st.Nlink == 0 {
		return storage.ErrNotFound
	}
	return nil
}
