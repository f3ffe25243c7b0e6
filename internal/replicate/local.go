package replicate

import (
	"context"

	"github.com/bunkerhq/bunker/internal/blob"
)

// BlobLoader reads one blob as plaintext, authenticated; a repository of
// package repo is one.
type BlobLoader interface {
	LoadBlob(ctx context.Context, t blob.Type, id blob.ID, buf []byte) ([]byte, error)
}

// VaultSource reads a point's blobs from a vault this process has open:
// the source of a copy between two vaults of one server.
type VaultSource struct {
	Vault BlobLoader
}

// LoadBlobs implements Source, one blob at a time, with no compressed
// form.
func (s VaultSource) LoadBlobs(ctx context.Context, hs []blob.Handle, fn func(h blob.Handle, data, compressed []byte) error) error {
	var buf []byte
	for _, h := range hs {
		var err error
		if buf, err = s.Vault.LoadBlob(ctx, h.Type, h.ID, buf); err != nil {
			return err
		}
		if err := fn(h, buf, nil); err != nil {
			return err
		}
	}
	return nil
}
