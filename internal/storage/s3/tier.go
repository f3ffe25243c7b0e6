package s3

import (
	"context"
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// standardClass is what S3 reports, or leaves out, for the default class.
const standardClass = "STANDARD"

// SetStorageClass moves h to class by copying the object onto itself with
// the new x-amz-storage-class, on the condition that it is still the
// object the backend read (its ETag).
//
// On a bucket that keeps versions (every bucket with Object Lock) a copy
// onto the key does not move the object: it adds a second, newer version
// in the new class, while the original version, the one the backend reads
// and the one Object Lock protects, keeps its class and cannot be removed.
// That would double the storage and move nothing, so it is refused with
// storage.ErrUnsupported; such buckets move objects between classes with a
// bucket lifecycle rule of the service itself.
func (b *Backend) SetStorageClass(ctx context.Context, h storage.Handle, class string) (bool, error) {
	key, err := b.objectKey(h)
	if err != nil {
		return false, fmt.Errorf("storage class %s: %w", h, err)
	}
	if class == "" || strings.ToUpper(class) != class {
		return false, fmt.Errorf("storage class %s: invalid class %q: give it in capitals, as STANDARD_IA", h, class)
	}
	info, v, err := b.head(ctx, key)
	if err != nil {
		return false, fmt.Errorf("storage class %s: %w", h, err)
	}
	if classOf(info) == class {
		return false, nil
	}
	if b.versioned {
		return false, fmt.Errorf("storage class %s to %s: bucket %q keeps versions, and a copy would add a second version beside the original, which keeps its class and is the one read and locked; move it with a lifecycle rule of the bucket: %w",
			h, class, b.bucket, storage.ErrUnsupported)
	}
	headers := map[string]string{"X-Amz-Storage-Class": class}
	if v.etag != "" {
		headers["X-Amz-Copy-Source-If-Match"] = v.etag
	}
	var out minio.ObjectInfo
	err = b.retry.do(ctx, func(int) error {
		var err error
		out, err = b.core.CopyObject(ctx, b.bucket, key, b.bucket, key, headers, minio.CopySrcOptions{}, minio.PutObjectOptions{})
		return classify(err)
	})
	if err != nil {
		if code := errorCode(err); code != "" {
			return false, fmt.Errorf("storage class %s to %s: the service refused (%s): %w", h, class, code, err)
		}
		return false, fmt.Errorf("storage class %s to %s: %w", h, class, err)
	}
	// The copy is the same bytes under a new ETag (for an object uploaded
	// in parts): read it from now on.
	b.versions.put(key, version{size: v.size, modTime: out.LastModified, etag: out.ETag}, false)
	return true, nil
}

// classOf returns the storage class of a HEAD's object.
func classOf(info minio.ObjectInfo) string {
	c := info.StorageClass
	if c == "" {
		c = info.Metadata.Get("X-Amz-Storage-Class")
	}
	if c == "" {
		return standardClass
	}
	return c
}
