package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
}

// Compile-time checks that Backend provides what the storage package asks.
var (
	_ storage.Backend = (*Backend)(nil)
	_ storage.Locker  = (*Backend)(nil)
)

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

// Open opens the existing vault in dir.
func Open(dir string) (*Backend, error) {
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
	return &Backend{dir: abs}, nil
}

// Create makes a new, empty vault in dir. dir may exist if it is an empty
// directory; its missing parents are created.
func Create(dir string) (*Backend, error) {
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
	return &Backend{dir: abs}, nil
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
