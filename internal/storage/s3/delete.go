package s3

import (
	"context"
	"fmt"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// Delete removes h: on a versioned bucket every version of its key and
// every delete marker on it, newest first and the original last, leaving
// no trace. It returns storage.ErrNotFound if h does not exist, and an
// error wrapping storage.ErrRetained if a version is under retention or a
// legal hold (the versions newer than that one are gone then, the original
// stays).
func (b *Backend) Delete(ctx context.Context, h storage.Handle) error {
	return b.delete(ctx, h, false)
}

// DeleteBypass deletes h as Delete does, with the governance bypass
// (x-amz-bypass-governance-retention), which lets it remove versions under
// governance retention. Compliance retention and legal holds still refuse
// it with storage.ErrRetained. The credentials need the permission to
// bypass governance (s3:BypassGovernanceRetention on AWS).
func (b *Backend) DeleteBypass(ctx context.Context, h storage.Handle) error {
	return b.delete(ctx, h, true)
}

func (b *Backend) delete(ctx context.Context, h storage.Handle, bypass bool) error {
	key, err := b.objectKey(h)
	if err != nil {
		return fmt.Errorf("delete %s: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", h, err)
	}
	b.versions.forget(key)
	if !b.versioned {
		if _, err := b.lookup(ctx, key); err != nil {
			return fmt.Errorf("delete %s: %w", h, err)
		}
		if err := b.remove(ctx, key, "", bypass); err != nil {
			return fmt.Errorf("delete %s: %w", h, err)
		}
		return nil
	}
	vs, err := b.keyVersions(ctx, key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", h, err)
	}
	_, exists := oldest(vs)
	for _, v := range vs { // newest first
		if err := b.remove(ctx, key, v.VersionID, bypass); err != nil {
			what := "version"
			if v.IsDeleteMarker {
				what = "delete marker"
			}
			return fmt.Errorf("delete %s: %s %s: %w", h, what, v.VersionID, err)
		}
	}
	if !exists {
		return fmt.Errorf("delete %s: %w", h, storage.ErrNotFound)
	}
	return nil
}

// remove deletes one version of key (the only one when versionID is "").
func (b *Backend) remove(ctx context.Context, key, versionID string, bypass bool) error {
	return b.retry.do(ctx, func(int) error {
		err := b.core.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{VersionID: versionID, GovernanceBypass: bypass})
		if isNotFound(err) {
			return nil // gone already: an earlier attempt's answer was lost
		}
		return classify(err)
	})
}
