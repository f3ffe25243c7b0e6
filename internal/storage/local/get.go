package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// Get returns a reader for length bytes of h starting at offset; length < 0
// reads to the end. A range that reaches past the end of the object is an
// error. The reader fails once ctx is done.
func (b *Backend) Get(ctx context.Context, h storage.Handle, offset, length int64) (io.ReadCloser, error) {
	path, err := b.objectPath(h)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", h, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", h, offset)
	}
	f, size, done, err := b.open(h, path)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", h, err)
	}
	if offset > size {
		done()
		return nil, fmt.Errorf("get %s: offset %d is past the end (size %d)", h, offset, size)
	}
	if length > size-offset {
		done()
		return nil, fmt.Errorf("get %s: %d bytes at offset %d reach past the end (size %d)", h, length, offset, size)
	}
	if length < 0 {
		length = size - offset
	}
	return &objectReader{
		ctx:   ctx,
		h:     h,
		close: done,
		r:     io.NewSectionReader(f, offset, length),
		left:  length,
	}, nil
}

// open opens an object for reading; packs come from the handle cache. done
// releases the file.
func (b *Backend) open(h storage.Handle, path string) (f *os.File, size int64, done func(), err error) {
	if h.Kind != storage.KindPack {
		f, size, err = openObject(path)
		if err != nil {
			return nil, 0, nil, err
		}
		return f, size, func() { f.Close() }, nil
	}
	ph, err := b.packs.acquire(path)
	if err != nil {
		return nil, 0, nil, err
	}
	return ph.f, ph.size, func() { b.packs.release(ph) }, nil
}

// Stat describes h.
func (b *Backend) Stat(ctx context.Context, h storage.Handle) (storage.Info, error) {
	path, err := b.objectPath(h)
	if err != nil {
		return storage.Info{}, fmt.Errorf("stat %s: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, fmt.Errorf("stat %s: %w", h, err)
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return storage.Info{}, fmt.Errorf("stat %s: %w", h, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Info{}, fmt.Errorf("stat %s: %w", h, err)
	}
	if !fi.Mode().IsRegular() {
		return storage.Info{}, fmt.Errorf("stat %s: %s is not a regular file (%s)", h, path, fi.Mode().Type())
	}
	return storage.Info{Handle: h, Size: fi.Size(), ModTime: fi.ModTime(), RetainUntil: retainUntil(path)}, nil
}

// retainUntil returns the retain-until date recorded for the object file at
// path, or zero. A record that cannot be read or decoded gives zero here;
// Retention reports it and Delete refuses the object.
func retainUntil(path string) time.Time {
	r, ok, err := pathRecord(path)
	if err != nil || !ok {
		return time.Time{}
	}
	return r.until
}

// openObject opens the regular file at path for reading and returns its
// size. It does not follow a symbolic link and does not block on a FIFO.
func openObject(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0, storage.ErrNotFound
	case errors.Is(err, syscall.ELOOP):
		return nil, 0, fmt.Errorf("%s is a symbolic link", path)
	case err != nil:
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	return f, fi.Size(), nil
}

// objectReader reads a range of an object and reports an object that ends
// before the range does.
type objectReader struct {
	ctx   context.Context
	h     storage.Handle
	close func()
	r     io.Reader
	left  int64
}

func (o *objectReader) Read(p []byte) (int, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", o.h, err)
	}
	n, err := o.r.Read(p)
	o.left -= int64(n)
	if errors.Is(err, io.EOF) && o.left > 0 {
		return n, fmt.Errorf("read %s: object shrank, %d bytes missing: %w", o.h, o.left, io.ErrUnexpectedEOF)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read %s: %w", o.h, err)
	}
	return n, err
}

func (o *objectReader) Close() error {
	if o.close != nil {
		o.close()
		o.close = nil
	}
	return nil
}
