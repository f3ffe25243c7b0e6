package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// callbackError carries an error returned by List's callback out of the
// listing loop, so that it is returned as it is and never retried.
type callbackError struct{ err error }

func (c callbackError) Error() string { return c.err.Error() }

// List calls fn for every object of kind k. On a versioned bucket that is
// every key with a version that is not a delete marker, described by its
// oldest such version; newer versions and delete markers are ignored. Keys
// whose names are not valid object names are skipped. An error from fn
// stops the listing and is returned as it is. A listing that breaks is
// resumed after the last key reported, within the retry budget.
func (b *Backend) List(ctx context.Context, k storage.Kind, fn func(storage.Info) error) error {
	switch k {
	case storage.KindConfig, storage.KindKey, storage.KindPack, storage.KindIndex, storage.KindPoint:
	default:
		return fmt.Errorf("list: unknown kind %q: %w", k, storage.ErrInvalidName)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", k, err)
	}
	l := lister{b: b, ctx: ctx, kind: k, fn: fn}
	err := b.retry.do(ctx, func(int) error {
		if b.versioned {
			return l.versions()
		}
		return l.objects()
	})
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", k, err)
	}
	return nil
}

// lister is one List in progress; after keys up to last have been
// reported, a new attempt starts after last.
type lister struct {
	b    *Backend
	ctx  context.Context
	kind storage.Kind
	fn   func(storage.Info) error
	last string // the last key reported, or skipped as invalid
}

// report calls fn for key, described by v, and records it as done.
func (l *lister) report(key string, v version) error {
	l.last = key
	h, ok := l.b.handleOf(l.kind, key)
	if !ok {
		return nil
	}
	l.b.versions.put(key, v, false)
	if err := l.fn(storage.Info{Handle: h, Size: v.size, ModTime: v.modTime}); err != nil {
		return callbackError{err}
	}
	return nil
}

// options returns the listing's options from where it stands.
func (l *lister) options(versions bool) minio.ListObjectsOptions {
	return minio.ListObjectsOptions{
		WithVersions: versions,
		Prefix:       l.b.kindPrefix(l.kind),
		Recursive:    true,
		StartAfter:   l.last,
	}
}

// objects lists a bucket without versioning.
func (l *lister) objects() error {
	for info := range l.b.core.ListObjectsIter(l.ctx, l.b.bucket, l.options(false)) {
		if info.Err != nil {
			return classify(info.Err)
		}
		if err := l.report(info.Key, versionOf(info)); err != nil {
			return err
		}
	}
	return l.ctx.Err()
}

// versions lists a versioned bucket. The versions of one key come
// together, newest first; a key is reported once all of its versions
// have been seen.
func (l *lister) versions() error {
	var (
		key     string
		found   bool // key has a version that is not a delete marker
		current version
	)
	flush := func() error {
		if key == "" {
			return nil
		}
		if !found {
			l.last = key
			return nil
		}
		return l.report(key, current)
	}
	for info := range l.b.core.ListObjectsIter(l.ctx, l.b.bucket, l.options(true)) {
		if info.Err != nil {
			return classify(info.Err)
		}
		if info.Key != key {
			if err := flush(); err != nil {
				return err
			}
			key, found = info.Key, false
		}
		if !info.IsDeleteMarker {
			current, found = versionOf(info), true // older versions come later
		}
	}
	if err := l.ctx.Err(); err != nil {
		return err
	}
	return flush()
}
