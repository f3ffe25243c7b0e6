package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bunkerhq/bunker/internal/storage"
	"golang.org/x/sys/unix"
)

// tempPrefix starts the name of every temporary Put creates in tmp/.
const tempPrefix = "put-"

// Put reads exactly size bytes from r and stores them under h. r must reach
// EOF after size bytes: a reader that ends early or yields more fails the
// Put and stores nothing. If h exists, Put returns storage.ErrExists and the
// stored object is left as it is. Retention (non-zero opts) is not supported
// yet and fails with storage.ErrUnsupported.
func (b *Backend) Put(ctx context.Context, h storage.Handle, size int64, r io.Reader, opts storage.PutOptions) error {
	final, err := b.objectPath(h)
	if err != nil {
		return fmt.Errorf("put %s: %w", h, err)
	}
	if !opts.RetainUntil.IsZero() || opts.Mode != storage.RetentionNone {
		return fmt.Errorf("put %s: retention: %w", h, storage.ErrUnsupported)
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", h, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", h, err)
	}
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("put %s: %w", h, storage.ErrExists)
	}
	tmp, err := b.writeTemp(ctx, size, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", h, err)
	}
	if err := b.commit(ctx, tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", h, err)
	}
	return nil
}

// writeTemp copies exactly size bytes from r into a new read-only temporary
// file, fsyncs it and returns its path. On error it removes the file.
func (b *Backend) writeTemp(ctx context.Context, size int64, r io.Reader) (path string, err error) {
	f, err := os.CreateTemp(b.tmpDir(), tempPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("create temporary: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := copyExact(f, &ctxReader{ctx: ctx, r: r}, size); err != nil {
		return "", err
	}
	if err := f.Chmod(objectMode); err != nil {
		return "", fmt.Errorf("chmod temporary: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync temporary: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close temporary: %w", err)
	}
	return f.Name(), nil
}

// copyExact copies size bytes from r to w and fails unless r then ends.
func copyExact(w io.Writer, r io.Reader, size int64) error {
	n, err := io.Copy(w, io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("write temporary: %w", err)
	}
	if n < size {
		return fmt.Errorf("reader ended after %d of %d bytes", n, size)
	}
	var probe [1]byte
	m, err := io.ReadFull(r, probe[:])
	if m > 0 {
		return fmt.Errorf("reader yields more than %d bytes", size)
	}
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("read past %d bytes: %w", size, err)
	}
	return nil
}

// commit moves the finished temporary tmp to final without replacing
// anything there, then makes the new name durable.
func (b *Backend) commit(ctx context.Context, tmp, final string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(final)
	err := moveNoReplace(tmp, final)
	if errors.Is(err, fs.ErrNotExist) {
		// Most likely the pack subdirectory does not exist yet. If the
		// temporary vanished instead, the second attempt fails as well.
		if err := makeObjectDir(dir); err != nil {
			return err
		}
		err = moveNoReplace(tmp, final)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// makeObjectDir creates the object directory dir, such as a pack
// subdirectory, unless it exists, and makes its name durable.
func makeObjectDir(dir string) error {
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create directory: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}

// moveNoReplace renames oldpath to newpath unless newpath exists, in which
// case it returns storage.ErrExists. Filesystems without RENAME_NOREPLACE get
// link and unlink, which gives the same guarantee.
func moveNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return storage.ErrExists
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return linkNoReplace(oldpath, newpath)
	}
	return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
}

// linkNoReplace gives newpath to the file at oldpath unless newpath exists,
// then drops oldpath. Once the link is made the object is stored, so a
// failure to unlink oldpath only leaves a temporary for CleanTemp.
func linkNoReplace(oldpath, newpath string) error {
	if err := os.Link(oldpath, newpath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return storage.ErrExists
		}
		return err
	}
	os.Remove(oldpath)
	return nil
}
