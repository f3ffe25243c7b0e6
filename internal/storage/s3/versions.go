package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// errStale reports that a key no longer holds the version the backend
// knew of: on a bucket without versioning, another object was stored under
// the key since.
var errStale = errors.New("the object changed since it was looked up")

// resolve returns the version the backend reads for key, and whether it
// came from the cache (and so may be stale).
func (b *Backend) resolve(ctx context.Context, key string) (version, bool, error) {
	if v, ok := b.versions.get(key); ok {
		return v, true, nil
	}
	v, err := b.lookup(ctx, key)
	if err != nil {
		return version{}, false, err
	}
	b.versions.put(key, v, false)
	return v, false, nil
}

// withVersion runs fn on key's version, and once more on a fresh lookup if
// fn finds a cached version gone (another process deleted the object, and
// perhaps stored it again).
func (b *Backend) withVersion(ctx context.Context, key string, fn func(version) error) error {
	v, cached, err := b.resolve(ctx, key)
	if err != nil {
		return err
	}
	err = fn(v)
	if !cached || !(isNotFound(err) || errors.Is(err, errStale)) {
		return err
	}
	b.versions.forget(key)
	if v, _, err = b.resolve(ctx, key); err != nil {
		return err
	}
	return fn(v)
}

// lookup asks the service which version of key the backend reads: on a
// versioned bucket the oldest that is not a delete marker.
func (b *Backend) lookup(ctx context.Context, key string) (version, error) {
	if !b.versioned {
		var info minio.ObjectInfo
		err := b.retry.do(ctx, func(int) error {
			var err error
			info, err = b.core.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
			return err
		})
		if err != nil {
			return version{}, classify(err)
		}
		return version{size: info.Size, modTime: info.LastModified, etag: info.ETag}, nil
	}
	vs, err := b.keyVersions(ctx, key)
	if err != nil {
		return version{}, err
	}
	v, ok := oldest(vs)
	if !ok {
		return version{}, storage.ErrNotFound
	}
	return v, nil
}

// oldest returns the oldest version in vs (newest first, as the service
// lists them) that is not a delete marker.
func oldest(vs []minio.ObjectInfo) (version, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].IsDeleteMarker {
			return versionOf(vs[i]), true
		}
	}
	return version{}, false
}

func versionOf(info minio.ObjectInfo) version {
	return version{id: info.VersionID, size: info.Size, modTime: info.LastModified, etag: info.ETag}
}

// keyVersions lists every version of key and every delete marker on it,
// newest first.
func (b *Backend) keyVersions(ctx context.Context, key string) ([]minio.ObjectInfo, error) {
	var vs []minio.ObjectInfo
	err := b.retry.do(ctx, func(int) error {
		vs = vs[:0]
		opts := minio.ListObjectsOptions{WithVersions: true, Prefix: key, Recursive: true}
		for v := range b.core.ListObjectsIter(ctx, b.bucket, opts) {
			if v.Err != nil {
				return v.Err
			}
			if v.Key != key {
				break // keys come sorted, and key sorts before any key it prefixes
			}
			vs = append(vs, v)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	return vs, nil
}
