package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// Get returns a reader for length bytes of h starting at offset; length < 0
// reads to the end. A range that reaches past the end of the object is an
// error. On a versioned bucket it reads the oldest version of the key. A
// read that breaks mid-stream resumes where it stopped, within the retry
// budget; the reader fails once ctx is done.
func (b *Backend) Get(ctx context.Context, h storage.Handle, offset, length int64) (io.ReadCloser, error) {
	key, err := b.objectKey(h)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", h, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", h, offset)
	}
	var rd *objectReader
	err = b.withVersion(ctx, key, func(v version) error {
		if offset > v.size {
			return fmt.Errorf("offset %d is past the end (size %d)", offset, v.size)
		}
		if length > v.size-offset {
			return fmt.Errorf("%d bytes at offset %d reach past the end (size %d)", length, offset, v.size)
		}
		n := length
		if n < 0 {
			n = v.size - offset
		}
		rd = &objectReader{b: b, ctx: ctx, h: h, key: key, v: v, offset: offset, left: n}
		if n == 0 {
			return nil
		}
		return rd.open()
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", h, err)
	}
	return rd, nil
}

// objectReader reads a range of one version of an object, reopening the
// range at the byte it reached when a read fails with a retryable error.
type objectReader struct {
	b      *Backend
	ctx    context.Context
	h      storage.Handle
	key    string
	v      version
	offset int64 // of the next byte to read
	left   int64 // bytes still to read
	body   io.ReadCloser
}

// open starts a ranged GET of what is left to read.
func (o *objectReader) open() error {
	opts := minio.GetObjectOptions{VersionID: o.v.id}
	if err := opts.SetRange(o.offset, o.offset+o.left-1); err != nil {
		return err
	}
	if o.v.id == "" && o.v.etag != "" {
		// Without versions, make sure the key still holds the object
		// whose size was checked.
		if err := opts.SetMatchETag(o.v.etag); err != nil {
			return err
		}
	}
	return o.b.retry.do(o.ctx, func(int) error {
		body, _, hdr, err := o.b.core.GetObject(o.ctx, o.b.bucket, o.key, opts)
		if err != nil {
			if isPreconditionFailed(err) {
				return fmt.Errorf("%w: its ETag is no longer %s", errStale, o.v.etag)
			}
			return classify(err)
		}
		if total, ok := contentRangeTotal(hdr); ok && total != o.v.size {
			body.Close()
			return fmt.Errorf("%w: it holds %d bytes, not %d", errStale, total, o.v.size)
		}
		o.body = body
		return nil
	})
}

// contentRangeTotal returns the complete length in a Content-Range header
// ("bytes 0-9/1234").
func contentRangeTotal(h http.Header) (int64, bool) {
	cr := h.Get("Content-Range")
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	return n, err == nil
}

func (o *objectReader) Read(p []byte) (int, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", o.h, err)
	}
	if o.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > o.left {
		p = p[:o.left]
	}
	for attempt := 0; ; attempt++ {
		if o.body == nil {
			if err := o.open(); err != nil {
				return 0, fmt.Errorf("read %s at offset %d: %w", o.h, o.offset, err)
			}
		}
		n, err := o.body.Read(p)
		o.offset += int64(n)
		o.left -= int64(n)
		switch {
		case o.left == 0:
			return n, nil
		case n > 0 && (err == nil || errors.Is(err, io.EOF)):
			return n, nil
		case err == nil:
			continue
		}
		if cerr := o.ctx.Err(); cerr != nil {
			return n, fmt.Errorf("read %s: %w", o.h, cerr)
		}
		o.body.Close()
		o.body = nil
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%d bytes missing: %w", o.left, io.ErrUnexpectedEOF)
		}
		if !retryable(err) || attempt >= o.b.retry.retries {
			return n, fmt.Errorf("read %s at offset %d: %w", o.h, o.offset, err)
		}
		if n > 0 {
			return n, nil // the next Read reopens the range
		}
		if werr := o.wait(attempt); werr != nil {
			return 0, fmt.Errorf("read %s: %w (after: %w)", o.h, werr, err)
		}
	}
}

// wait sleeps before reopening a broken read.
func (o *objectReader) wait(attempt int) error {
	t := time.NewTimer(o.b.retry.backoff(attempt))
	defer t.Stop()
	select {
	case <-o.ctx.Done():
		return o.ctx.Err()
	case <-t.C:
		return nil
	}
}

func (o *objectReader) Close() error {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	return nil
}

// Stat describes h: on a versioned bucket its oldest version, with the
// date its retention lasts until, if any.
func (b *Backend) Stat(ctx context.Context, h storage.Handle) (storage.Info, error) {
	key, err := b.objectKey(h)
	if err != nil {
		return storage.Info{}, fmt.Errorf("stat %s: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, fmt.Errorf("stat %s: %w", h, err)
	}
	info, _, err := b.head(ctx, key)
	if err != nil {
		return storage.Info{}, fmt.Errorf("stat %s: %w", h, err)
	}
	fi := storage.Info{Handle: h, Size: info.Size, ModTime: info.LastModified}
	if ret := lockOf(info); ret.Mode != storage.RetentionNone {
		fi.RetainUntil = ret.Until
	}
	return fi, nil
}

// head asks for the metadata of the version of key the backend reads.
func (b *Backend) head(ctx context.Context, key string) (minio.ObjectInfo, version, error) {
	var (
		info minio.ObjectInfo
		ver  version
	)
	if !b.versioned {
		// One version per key: no need to look it up first.
		err := b.retry.do(ctx, func(int) error {
			var err error
			info, err = b.core.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
			return classify(err)
		})
		if err != nil {
			return minio.ObjectInfo{}, version{}, err
		}
		ver = version{size: info.Size, modTime: info.LastModified, etag: info.ETag}
		b.versions.put(key, ver, false)
		return info, ver, nil
	}
	err := b.withVersion(ctx, key, func(v version) error {
		ver = v
		return b.retry.do(ctx, func(int) error {
			var err error
			info, err = b.core.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{VersionID: v.id})
			return classify(err)
		})
	})
	return info, ver, err
}

// lockOf reads the Object Lock state from the headers of a HEAD.
func lockOf(info minio.ObjectInfo) storage.Retention {
	var r storage.Retention
	h := info.Metadata
	switch minio.RetentionMode(strings.ToUpper(h.Get("X-Amz-Object-Lock-Mode"))) {
	case minio.Governance:
		r.Mode = storage.RetentionGovernance
	case minio.Compliance:
		r.Mode = storage.RetentionCompliance
	}
	if t, err := time.Parse(time.RFC3339, h.Get("X-Amz-Object-Lock-Retain-Until-Date")); err == nil && r.Mode != storage.RetentionNone {
		r.Until = t
	} else {
		r.Mode = storage.RetentionNone
	}
	r.LegalHold = strings.EqualFold(h.Get("X-Amz-Object-Lock-Legal-Hold"), string(minio.LegalHoldEnabled))
	return r
}
