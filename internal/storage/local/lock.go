package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"golang.org/x/sys/unix"
)

// Delays between attempts to take a lock that another process holds.
const (
	lockRetryFirst = 10 * time.Millisecond
	lockRetryMax   = 250 * time.Millisecond
)

// Lock takes a flock(2) lock on the vault's lock file: shared when exclusive
// is false (writers), exclusive otherwise (prune). While another process
// holds a conflicting lock, Lock retries until ctx is done and then returns
// storage.ErrLocked. The kernel releases the lock when its holder exits, even
// when it is killed.
func (b *Backend) Lock(ctx context.Context, exclusive bool) (storage.Unlocker, error) {
	mode, how := "shared", unix.LOCK_SH
	if exclusive {
		mode, how = "exclusive", unix.LOCK_EX
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s lock on %s: %w", mode, b.dir, err)
	}
	path := filepath.Join(b.dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, lockMode)
	if err != nil {
		return nil, fmt.Errorf("%s lock: %w", mode, err)
	}
	if err := flockRetry(ctx, f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s lock on %s: %w", mode, b.dir, err)
	}
	return &fileLock{f: f}, nil
}

// flockRetry tries a non-blocking flock until it succeeds or ctx is done.
func flockRetry(ctx context.Context, f *os.File, how int) error {
	delay := lockRetryFirst
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", storage.ErrLocked, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, lockRetryMax)
	}
}

// fileLock is a held flock; closing its file releases it.
type fileLock struct {
	mu sync.Mutex
	f  *os.File
}

// Unlock releases the lock. A second call returns an error.
func (l *fileLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("unlock: lock already released")
	}
	f := l.f
	l.f = nil
	unlockErr := unix.Flock(int(f.Fd()), unix.LOCK_UN)
	closeErr := f.Close()
	if unlockErr != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), unlockErr)
	}
	if closeErr != nil {
		return fmt.Errorf("unlock: %w", closeErr)
	}
	return nil
}
