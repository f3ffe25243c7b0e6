package s3

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
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
// current one (a zero until included) changes nothing. An object under
// compliance stays under compliance whatever mode asks; one under
// governance moves to compliance if mode asks for it (which sends the
// governance bypass, as S3 requires for a change of mode);
// storage.RetentionNone keeps the current mode. An object without
// retention gets mode, which must then be given. Extends of one key are
// serialized within the Backend; one that loses a race with another
// process that extended further succeeds without change.
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
	if !b.objectLock {
		return fmt.Errorf("extend %s: bucket %q has no Object Lock: %w", h, b.bucket, storage.ErrUnsupported)
	}
	if !until.IsZero() {
		until = roundUp(until)
	}
	mu := b.extendLock(key)
	mu.Lock()
	defer mu.Unlock()
	for attempt := 0; ; attempt++ {
		done, err := b.extendOnce(ctx, key, until, mode)
		if err != nil && attempt == 0 && isRetained(err) {
			continue // changed meanwhile: judge again against what it is now
		}
		if err != nil {
			return fmt.Errorf("extend %s: %w", h, err)
		}
		if done {
			return nil
		}
	}
}

// extendOnce reads key's retention and lengthens it if until is later.
func (b *Backend) extendOnce(ctx context.Context, key string, until time.Time, mode storage.RetentionMode) (bool, error) {
	info, v, err := b.head(ctx, key)
	if err != nil {
		return false, err
	}
	cur := lockOf(info)
	if cur.Mode != storage.RetentionNone && !until.After(cur.Until) {
		return true, nil // never shorter
	}
	next, bypass := mode, false
	switch {
	case cur.Mode == storage.RetentionCompliance:
		next = storage.RetentionCompliance
	case mode == storage.RetentionNone && cur.Mode == storage.RetentionNone:
		return false, errors.New("the object has no retention, and no mode was given")
	case mode == storage.RetentionNone:
		next = cur.Mode
	case cur.Mode == storage.RetentionGovernance && mode == storage.RetentionCompliance:
		bypass = true
	}
	if !until.After(time.Now()) {
		return false, fmt.Errorf("until %s, which has passed", until.Format(time.RFC3339))
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
	return err == nil, err
}

// extendLock returns the mutex that serializes Extends of key.
func (b *Backend) extendLock(key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &b.extendLocks[h.Sum32()%uint32(len(b.extendLocks))]
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
