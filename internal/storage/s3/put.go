package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// abortTimeout bounds the abort of a failed multipart upload, which runs
// even when the Put's context is done.
const abortTimeout = 30 * time.Second

// Put reads exactly size bytes from r and stores them under h, once: if h
// exists it returns storage.ErrExists and the stored object is left as it
// is. r must reach EOF after size bytes; a reader that ends early, yields
// more or fails stores nothing. Non-zero opts put the object under Object
// Lock retention until opts.RetainUntil (rounded up to the second) in
// opts.Mode; that needs a bucket with Object Lock (storage.ErrUnsupported
// otherwise) and a date in the future.
func (b *Backend) Put(ctx context.Context, h storage.Handle, size int64, r io.Reader, opts storage.PutOptions) error {
	key, err := b.objectKey(h)
	if err != nil {
		return fmt.Errorf("put %s: %w", h, err)
	}
	lock, err := b.lockOptions(opts)
	if err != nil {
		return fmt.Errorf("put %s: %w", h, err)
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", h, size)
	}
	if size > b.partSize*maxParts {
		return fmt.Errorf("put %s: %d bytes is more than %d parts of %d bytes", h, size, maxParts, b.partSize)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", h, err)
	}
	r = &ctxReader{ctx: ctx, r: r}
	var v version
	if size <= b.partSize {
		v, err = b.putSingle(ctx, key, size, r, lock)
	} else {
		v, err = b.putMultipart(ctx, key, size, r, lock)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", h, err)
	}
	// An older version known here stays the one read: a delete marker that
	// someone else put on it let this Put through.
	b.versions.put(key, v, true)
	return nil
}

// lockOptions returns the Object Lock part of the options of a PUT.
func (b *Backend) lockOptions(opts storage.PutOptions) (minio.PutObjectOptions, error) {
	var po minio.PutObjectOptions
	if opts.Mode == storage.RetentionNone && opts.RetainUntil.IsZero() {
		return po, nil
	}
	mode, err := retentionMode(opts.Mode)
	if err != nil {
		return po, err
	}
	if opts.RetainUntil.IsZero() {
		return po, fmt.Errorf("retention mode %s without a date", opts.Mode)
	}
	if !b.objectLock {
		return po, fmt.Errorf("retention on bucket %q, which has no Object Lock: %w", b.bucket, storage.ErrUnsupported)
	}
	until := roundUp(opts.RetainUntil)
	if !until.After(time.Now()) {
		return po, fmt.Errorf("retention until %s, which has passed", until.Format(time.RFC3339))
	}
	po.Mode, po.RetainUntilDate = mode, until
	return po, nil
}

// retentionMode maps a storage mode to S3's.
func retentionMode(m storage.RetentionMode) (minio.RetentionMode, error) {
	switch m {
	case storage.RetentionGovernance:
		return minio.Governance, nil
	case storage.RetentionCompliance:
		return minio.Compliance, nil
	}
	return "", fmt.Errorf("retention mode %q: want %s or %s", m, storage.RetentionGovernance, storage.RetentionCompliance)
}

// roundUp rounds t up to a whole second, the precision of S3 retention
// dates, so that a retention is never shorter than asked.
func roundUp(t time.Time) time.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r.UTC()
}

// ctxReader fails reads once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// readPart reads exactly n bytes of r into a new buffer.
func readPart(r io.Reader, n, done, size int64) ([]byte, error) {
	buf := make([]byte, n)
	m, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return nil, fmt.Errorf("reader ended after %d of %d bytes", done+int64(m), size)
	case err != nil:
		return nil, fmt.Errorf("read: %w", err)
	}
	return buf, nil
}

// requireEOF fails unless r has nothing more after size bytes.
func requireEOF(r io.Reader, size int64) error {
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

// putSingle stores an object of at most one part in one PUT.
func (b *Backend) putSingle(ctx context.Context, key string, size int64, r io.Reader, lock minio.PutObjectOptions) (version, error) {
	if err := b.acquire(ctx); err != nil {
		return version{}, err
	}
	defer b.release()
	data, err := readPart(r, size, 0, size)
	if err != nil {
		return version{}, err
	}
	if err := requireEOF(r, size); err != nil {
		return version{}, err
	}
	sum := md5.Sum(data)
	opts := lock
	opts.SetMatchETagExcept("*")
	var info minio.UploadInfo
	retried := false
	err = b.retry.do(ctx, func(attempt int) error {
		retried = attempt > 0
		var err error
		info, err = b.core.PutObject(ctx, b.bucket, key, bytes.NewReader(data), size,
			base64.StdEncoding.EncodeToString(sum[:]), "", opts)
		return err
	})
	if err != nil {
		return b.putFailed(ctx, key, err, retried, hex.EncodeToString(sum[:]))
	}
	return version{id: info.VersionID, size: size, modTime: time.Now(), etag: info.ETag}, nil
}

// putFailed turns the error of a conditional PUT or upload completion into
// the Put's: storage.ErrExists for a key that exists, unless an earlier
// attempt of this Put stored it and only the answer was lost (the stored
// object then has this Put's ETag).
func (b *Backend) putFailed(ctx context.Context, key string, err error, retried bool, etag string) (version, error) {
	if !isPreconditionFailed(err) {
		return version{}, classify(err)
	}
	if retried {
		b.versions.forget(key)
		if v, lerr := b.lookup(ctx, key); lerr == nil && v.etag == etag {
			return v, nil
		}
	}
	return version{}, storage.ErrExists
}

// part is one uploaded part of a multipart upload.
type part struct {
	number int
	etag   string
	md5    [md5.Size]byte
}

// putMultipart stores a large object in a multipart upload: parts are read
// one after another and uploaded in parallel (each holds an upload slot
// and its buffer until sent), and the upload is completed with
// If-None-Match: * or, on any failure, aborted.
func (b *Backend) putMultipart(ctx context.Context, key string, size int64, r io.Reader, lock minio.PutObjectOptions) (version, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	count := int((size + b.partSize - 1) / b.partSize)
	parts := make([]part, count)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		uploadID string
	)
	// fail records the first failure, of a read or of an upload, and stops
	// the others.
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
		cancel()
	}
	for i := range count {
		if err := b.acquire(ctx); err != nil {
			fail(err)
			break
		}
		done := int64(i) * b.partSize
		data, err := readPart(r, min(b.partSize, size-done), done, size)
		if err == nil && i == count-1 {
			err = requireEOF(r, size)
		}
		if err == nil && uploadID == "" {
			uploadID, err = b.initiate(ctx, key, lock)
		}
		if err != nil {
			b.release()
			fail(err)
			break
		}
		wg.Go(func() {
			defer b.release()
			p, err := b.uploadPart(ctx, key, uploadID, i+1, data)
			if err != nil {
				fail(fmt.Errorf("part %d of %d: %w", i+1, count, err))
				return
			}
			parts[i] = p
		})
	}
	wg.Wait()
	err := firstErr // every writer has finished
	var v version
	if err == nil {
		v, err = b.complete(ctx, key, uploadID, parts, size)
	}
	if err != nil {
		if uploadID != "" {
			b.abort(ctx, key, uploadID)
		}
		return version{}, err
	}
	return v, nil
}

// initiate starts a multipart upload; Object Lock retention is given here.
func (b *Backend) initiate(ctx context.Context, key string, lock minio.PutObjectOptions) (string, error) {
	var id string
	err := b.retry.do(ctx, func(int) error {
		var err error
		id, err = b.core.NewMultipartUpload(ctx, b.bucket, key, lock)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("start multipart upload: %w", classify(err))
	}
	return id, nil
}

// uploadPart sends one part with its Content-MD5.
func (b *Backend) uploadPart(ctx context.Context, key, uploadID string, number int, data []byte) (part, error) {
	sum := md5.Sum(data)
	var op minio.ObjectPart
	err := b.retry.do(ctx, func(int) error {
		var err error
		op, err = b.core.PutObjectPart(ctx, b.bucket, key, uploadID, number, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(sum[:])})
		return err
	})
	if err != nil {
		return part{}, classify(err)
	}
	return part{number: number, etag: op.ETag, md5: sum}, nil
}

// complete finishes a multipart upload unless the key exists.
func (b *Backend) complete(ctx context.Context, key, uploadID string, parts []part, size int64) (version, error) {
	cps := make([]minio.CompletePart, len(parts))
	all := md5.New()
	for i, p := range parts {
		cps[i] = minio.CompletePart{PartNumber: p.number, ETag: p.etag}
		all.Write(p.md5[:])
	}
	etag := fmt.Sprintf("%x-%d", all.Sum(nil), len(parts))
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	var info minio.UploadInfo
	retried := false
	err := b.retry.do(ctx, func(attempt int) error {
		retried = attempt > 0
		var err error
		info, err = b.core.CompleteMultipartUpload(ctx, b.bucket, key, uploadID, cps, opts)
		return err
	})
	if err != nil {
		return b.putFailed(ctx, key, err, retried, etag)
	}
	return version{id: info.VersionID, size: size, modTime: time.Now(), etag: info.ETag}, nil
}

// abort gives up a multipart upload, so its parts stop costing storage.
// It runs even when ctx is done.
func (b *Backend) abort(ctx context.Context, key, uploadID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	b.retry.do(ctx, func(int) error {
		err := b.core.AbortMultipartUpload(ctx, b.bucket, key, uploadID)
		if errorCode(err) == "NoSuchUpload" {
			return nil
		}
		return err
	})
}
