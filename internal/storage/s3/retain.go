package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// RetentionSupported reports whether the bucket has Object Lock enabled,
// and if not, why. It asks the service, so it sees the bucket as it is now.
func (b *Backend) RetentionSupported(ctx context.Context) (bool, string, error) {
	ok, why, err := b.lockConfig(ctx)
	if err != nil {
		return false, "", fmt.Errorf("retention supported: %s: %w", b.location, err)
	}
	return ok, why, nil
}

// Retention reports the Object Lock retention and legal hold of h's
// original (oldest) version. On a bucket without Object Lock it reports
// none.
func (b *Backend) Retention(ctx context.Context, h storage.Handle) (storage.Retention, error) {
	key, err := b.objectKey(h)
	if err != nil {
		return storage.Retention{}, fmt.Errorf("retention %s: %w", h, err)
	}
	info, _, err := b.head(ctx, key)
	if err != nil {
		return storage.Retention{}, fmt.Errorf("retention %s: %w", h, err)
	}
	return lockOf(info), nil
}

// Extend lengthens the retention of h's original version to until
// (rounded up to the second), never shortening it: an until not after the
// current one changes nothing. An object under compliance stays under
// compliance whatever mode asks; one under governance moves to compliance
// if mode asks for it (which sends the governance bypass, as S3 requires
// for a change of mode); storage.RetentionNone keeps the current mode. An
// object without retention gets mode, which must then be given.
func (b *Backend) Extend(ctx context.Context, h storage.Handle, until time.Time, mode storage.RetentionMode) error {
	key, err := b.objectKey(h)
	if err != nil {
		return fmt.Errorf("extend %s: %w", h, err)
	}
	if mode != storage.RetentionNone {
		if _, err := retentionMode(mode); err != nil {
			return fmt.Errorf("extend %s: %w", h, err)
		}
	}
	if until.IsZero() {
		return fmt.Errorf("extend %s: no date", h)
	}
	if !b.objectLock {
		return fmt.Errorf("extend %s: bucket %q has no Object Lock: %w", h, b.bucket, storage.ErrUnsupported)
	}
	until = roundUp(until)
	info, v, err := b.head(ctx, key)
	if err != nil {
		return fmt.Errorf("extend %s: %w", h, err)
	}
	cur := lockOf(info)
	if cur.Mode != storage.RetentionNone && cur.Until.After(time.Now()) && !until.After(cur.Until) {
		return nil // never shorter
	}
	next, bypass := mode, false
	switch {
	case cur.Mode == storage.RetentionCompliance:
		next = storage.RetentionCompliance
	case mode == storage.RetentionNone && cur.Mode == storage.RetentionNone:
		return fmt.Errorf("extend %s: the object has no retention, and no mode was given", h)
	case mode == storage.RetentionNone:
		next = cur.Mode
	case cur.Mode == storage.RetentionGovernance && mode == storage.RetentionCompliance:
		bypass = true
	}
	if !until.After(time.Now()) {
		return fmt.Errorf("extend %s: until %s, which has passed", h, until.Format(time.RFC3339))
	}
	m, _ := retentionMode(next)
	err = b.retry.do(ctx, func(int) error {
		return classify(b.core.PutObjectRetention(ctx, b.bucket, key, minio.PutObjectRetentionOptions{
			VersionID:        v.id,
			Mode:             &m,
			RetainUntilDate:  &until,
			GovernanceBypass: bypass,
		}))
	})
	if err != nil {
		return fmt.Errorf("extend %s: %w", h, err)
	}
	return nil
}

// SetLegalHold places or lifts a legal hold on h's original version.
func (b *Backend) SetLegalHold(ctx context.Context, h storage.Handle, on bool) error {
	key, err := b.objectKey(h)
	if err != nil {
		return fmt.Errorf("legal hold %s: %w", h, err)
	}
	if !b.objectLock {
		return fmt.Errorf("legal hold %s: bucket %q has no Object Lock: %w", h, b.bucket, storage.ErrUnsupported)
	}
	status := minio.LegalHoldDisabled
	if on {
		status = minio.LegalHoldEnabled
	}
	err = b.withVersion(ctx, key, func(v version) error {
		return b.retry.do(ctx, func(int) error {
			return classify(b.core.PutObjectLegalHold(ctx, b.bucket, key, minio.PutObjectLegalHoldOptions{
				VersionID: v.id,
				Status:    &status,
			}))
		})
	})
	if err != nil {
		return fmt.Errorf("legal hold %s: %w", h, err)
	}
	return nil
}
