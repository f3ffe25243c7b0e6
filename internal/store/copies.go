package store

import (
	"context"

	"github.com/bunkerhq/bunker/internal/blob"
)

// CopyPair says that the source blob Src of a copy was stored in the
// destination vault as Dst, of the same type.
type CopyPair struct {
	Src blob.Handle
	Dst blob.ID
}

// CopyPairs remembers, per scope (one source vault copied into one
// destination vault), which source blob became which destination blob, so
// that later copies read only what is new.
type CopyPairs interface {
	// LookupCopyPairs returns the destination ids known in scope for hs;
	// those it does not know are absent.
	LookupCopyPairs(ctx context.Context, scope string, hs []blob.Handle) (map[blob.Handle]blob.ID, error)
	// RecordCopyPairs adds pairs to scope; a known pair is replaced.
	RecordCopyPairs(ctx context.Context, scope string, ps []CopyPair) error
	// DeleteCopyPairs forgets every pair of scope.
	DeleteCopyPairs(ctx context.Context, scope string) error
}
