// Package storage defines the object store that a vault lives on. Objects are
// written once under a content-derived name and never modified; backends are
// the local filesystem (package local) and, later, S3 with Object Lock.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Kind groups objects of one type; each kind is a separate namespace.
type Kind string

// The object kinds a vault uses.
const (
	KindConfig Kind = "config" // the vault's plaintext config, one object named "config"
	KindKey    Kind = "keys"   // key slots that wrap the master key
	KindPack   Kind = "packs"  // packs of encrypted blobs
	KindIndex  Kind = "index"  // encrypted index objects: which blob is in which pack
	KindPoint  Kind = "points" // encrypted recovery-point records
)

// Kinds lists every kind, in the order a full listing visits them.
var Kinds = []Kind{KindConfig, KindKey, KindPack, KindIndex, KindPoint}

// Handle names one object.
type Handle struct {
	Kind Kind
	Name string
}

func (h Handle) String() string { return fmt.Sprintf("%s/%s", h.Kind, h.Name) }

// RetentionMode is the lock mode applied to an object by a backend that
// supports write-once retention (S3 Object Lock, immutable attribute).
type RetentionMode string

// Retention modes.
const (
	RetentionNone       RetentionMode = ""
	RetentionGovernance RetentionMode = "GOVERNANCE"
	RetentionCompliance RetentionMode = "COMPLIANCE"
)

// PutOptions carries per-object retention for backends that enforce it.
// Backends without retention support ignore a zero value and refuse a
// non-zero one with ErrUnsupported.
type PutOptions struct {
	RetainUntil time.Time
	Mode        RetentionMode
}

// Info describes a stored object.
type Info struct {
	Handle      Handle
	Size        int64
	ModTime     time.Time
	RetainUntil time.Time // zero when the backend holds no retention for it
}

// Errors returned by backends; test with errors.Is.
var (
	ErrNotFound    = errors.New("object not found")
	ErrExists      = errors.New("object already exists")
	ErrUnsupported = errors.New("not supported by this storage backend")
	ErrLocked      = errors.New("vault is locked by another process")
	ErrInvalidName = errors.New("invalid object name")
	// ErrRetained reports an object that its retention or a legal hold
	// keeps from deletion.
	ErrRetained = errors.New("object is under retention")
)

// Retention is an object's write-once protection on a backend that
// enforces it.
type Retention struct {
	Mode      RetentionMode // RetentionNone when the object has none
	Until     time.Time
	LegalHold bool
}

// Retainer is implemented by backends that hold objects under write-once
// retention the backend itself enforces, against whoever holds its
// credentials: S3 with Object Lock, a local vault with the immutable
// attribute. Delete of an object whose retention has not passed, or that
// is under legal hold, fails with an error wrapping ErrRetained.
type Retainer interface {
	// RetentionSupported reports whether objects can be retained here (a
	// bucket with Object Lock enabled; a filesystem and privileges that
	// allow the immutable attribute), and if not, why.
	RetentionSupported(ctx context.Context) (bool, string, error)
	// Retention reports an object's protection.
	Retention(ctx context.Context, h Handle) (Retention, error)
	// Extend lengthens an object's retention to until, in mode (which an
	// object under compliance keeps); an until not after the current one
	// changes nothing. Retention is never shortened.
	Extend(ctx context.Context, h Handle, until time.Time, mode RetentionMode) error
	// SetLegalHold places or lifts a legal hold on an object.
	SetLegalHold(ctx context.Context, h Handle, on bool) error
	// DeleteBypass deletes an object whose governance retention has not
	// passed, as the holder of the governance bypass may. Objects under
	// compliance retention or a legal hold are refused (ErrRetained).
	DeleteBypass(ctx context.Context, h Handle) error
}

// Tierer is implemented by backends whose objects can move to another
// storage class (S3). A backend without tiers (local disk) does not
// implement it.
type Tierer interface {
	// SetStorageClass moves an object to class, keeping its content,
	// retention and legal hold. An object already in class is left alone
	// and false returned. A backend that cannot move this object without
	// changing what it reads refuses with an error wrapping ErrUnsupported;
	// a class the service refuses is an error that names it.
	SetStorageClass(ctx context.Context, h Handle, class string) (bool, error)
}

// Backend is the storage a vault lives on.
//
// Put stores an object exactly once: if the handle already exists it returns
// ErrExists and leaves the stored object untouched. A Put either stores the
// complete object durably or stores nothing; a crash never leaves a partial
// object under the final name.
type Backend interface {
	// Location describes where the backend stores objects, for messages.
	Location() string
	// Put reads size bytes from r and stores them under h.
	Put(ctx context.Context, h Handle, size int64, r io.Reader, opts PutOptions) error
	// Get returns a reader for length bytes at offset; length < 0 reads to the end.
	Get(ctx context.Context, h Handle, offset, length int64) (io.ReadCloser, error)
	// Stat describes one object.
	Stat(ctx context.Context, h Handle) (Info, error)
	// List calls fn for every object of kind k, in no particular order.
	List(ctx context.Context, k Kind, fn func(Info) error) error
	// Delete removes an object; ErrNotFound if it does not exist.
	Delete(ctx context.Context, h Handle) error
	// Close releases resources held by the backend.
	Close() error
}

// Unlocker releases a lock taken with Locker.Lock.
type Unlocker interface {
	Unlock() error
}

// Locker is implemented by backends that can coordinate processes sharing a
// vault. Writers (backup) take shared locks; prune takes an exclusive lock.
// A lock held by a process that dies is released.
type Locker interface {
	Lock(ctx context.Context, exclusive bool) (Unlocker, error)
}

// ReadAll reads a whole object into memory.
func ReadAll(ctx context.Context, b Backend, h Handle) ([]byte, error) {
	rd, err := b.Get(ctx, h, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h, err)
	}
	return data, nil
}
