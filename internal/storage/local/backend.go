package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// File and directory modes of the layout.
const (
	dirMode    = 0o700
	objectMode = 0o400
	lockMode   = 0o600
)

// Names of the entries in the vault directory that are not object kinds.
const (
	tmpDirName   = "tmp"
	lockFileName = "lock"
)

// Backend is a vault stored in a local directory. It is safe for concurrent
// use by multiple goroutines and, through the filesystem, by multiple
// processes.
type Backend struct {
	dir   string
	packs handles

	retain bool             // WithRetention: accept and manage retention
	now    func() time.Time // the clock retention is judged by

	probeMu sync.Mutex
	probed  bool // a probe found retention supported

	// hook, when set (by tests), is called at each step of a retained Put
	// or a retention change; an error it returns fails the operation
	// there, as if that step had failed.
	hook func(step string) error
}

// Compile-time checks that Backend provides what the storage package asks.
var (
	_ storage.Backend  = (*Backend)(nil)
	_ storage.Locker   = (*Backend)(nil)
	_ storage.Retainer = (*Backend)(nil)
)

// Option configures a Backend as Open or Create makes it.
type Option func(*Backend)

// WithRetention makes the backend accept retention: Put with non-zero
// storage.PutOptions, Extend and SetLegalHold record it with the object
// and set the object's immutable attribute, which needs root (or
// CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN) and a filesystem that supports
// both; RetentionSupported says whether this vault qualifies. Without it
// such calls fail with storage.ErrUnsupported. Retention already recorded
// is enforced either way: Delete refuses retained objects whether or not
// the backend was opened with it.
//
// Opening a vault with WithRetention also seals objects that a crash left
// with their retention recorded but the attribute not yet set.
func WithRetention() Option { return func(b *Backend) { b.retain = true } }

// WithClock makes the backend judge retention by now instead of the wall
// clock.
func WithClock(now func() time.Time) Option { return func(b *Backend) { b.now = now } }

// newBackend returns the backend for the vault at the absolute path dir.
func newBackend(dir string, opts []Option) *Backend {
	b := &Backend{dir: dir, now: time.Now}
	for _, o := range opts {
		o(b)
	}
	return b
}

// layoutDirs lists the directories every vault has, relative to its root.
func layoutDirs() []string {
	return []string{
		kindDir(storage.KindKey),
		kindDir(storage.KindPack),
		kindDir(storage.KindIndex),
		kindDir(storage.KindPoint),
		tmpDirName,
	}
}

// Open opens the existing vault in dir, configured by opts.
func Open(dir string, opts ...Option) (*Backend, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open vault %s: %w", dir, err)
	}
	if err := requireDir(abs); err != nil {
		return nil, fmt.Errorf("open vault %s: %w", abs, err)
	}
	for _, sub := range layoutDirs() {
		if err := requireDir(filepath.Join(abs, sub)); err != nil {
			return nil, fmt.Errorf("open vault %s: not a bunker vault: %w", abs, err)
		}
	}
	b := newBackend(abs, opts)
	if b.retain {
		if err := b.sealPending(); err != nil {
			return nil, fmt.Errorf("open vault %s: %w", abs, err)
		}
	}
	return b, nil
}

// Create makes a new, empty vault in dir, configured by opts. dir may exist
// if it is an empty directory; its missing parents are created.
func Create(dir string, opts ...Option) (*Backend, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("create vault %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, dirMode); err != nil {
		return nil, fmt.Errorf("create vault %s: %w", abs, err)
	}
	if err := requireEmpty(abs); err != nil {
		return nil, fmt.Errorf("create vault %s: %w", abs, err)
	}
	if err := makeLayout(abs); err != nil {
		return nil, fmt.Errorf("create vault %s: %w", abs, err)
	}
	return newBackend(abs, opts), nil
}

// makeLayout creates the directories and lock file of a vault in the empty
// directory root and makes them durable.
func makeLayout(root string) error {
	for _, sub := range layoutDirs() {
		if err := os.Mkdir(filepath.Join(root, sub), dirMode); err != nil {
			return err
		}
	}
	if err := createLockFile(filepath.Join(root, lockFileName)); err != nil {
		return err
	}
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func createLockFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, lockMode)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

func requireDir(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	return nil
}

func requireEmpty(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("directory %s is not empty", dir)
	}
	return nil
}

// Location returns the vault's directory.
func (b *Backend) Location() string { return b.dir }

// Close releases nothing: the backend keeps no files open between calls.
// Locks taken with Lock stay held until they are unlocked.
func (b *Backend) Close() error {
	b.packs.closeAll()
	return nil
}

func (b *Backend) tmpDir() string { return filepath.Join(b.dir, tmpDirName) }

// step calls the test hook, if any, at the named step.
func (b *Backend) step(name string) error {
	if b.hook == nil {
		return nil
	}
	if err := b.hook(name); err != nil {
		return fmt.Errorf("at %s: %w", name, err)
	}
	return nil
}

// syncDir fsyncs a directory so that the names created in or removed from it
// are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}
