package repo

import (
	"context"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/pack"
)

// ErrMismatch reports an uploaded blob whose content does not hash to the
// id it was sent under.
var ErrMismatch = errors.New("blob content does not match its id")

// ErrUpload reports an uploaded blob that is malformed: too large, or
// compressed data that does not decode to its stated length.
var ErrUpload = errors.New("malformed blob upload")

// Upload is a blob as a backup client sends it to a vault server: its
// plaintext, zstd-compressed when Compressed is set, RawLen bytes long once
// decompressed.
type Upload struct {
	Handle     blob.Handle
	Payload    []byte
	Compressed bool
	RawLen     int
}

// SaveUploaded checks an uploaded blob and stores it unless the vault
// already holds it. Nothing is stored unless the payload decodes to exactly
// RawLen bytes that hash to the blob's id under the vault's key, so a client
// can neither plant content under a false name nor smuggle oversized data.
// buf is scratch space for the decompressed plaintext; the one used is
// returned for reuse.
func (r *Repository) SaveUploaded(ctx context.Context, u Upload, buf []byte) (isNew bool, scratch []byte, err error) {
	h := u.Handle
	if err := r.checkUpload(u); err != nil {
		return false, buf, err
	}
	// Checked even when the vault holds the blob already: a client that
	// lies about content is refused, not quietly ignored.
	plain := u.Payload
	if u.Compressed {
		plain, err = r.codec.decompressInto(buf, u.Payload, u.RawLen)
		if err != nil {
			return false, buf, fmt.Errorf("%w: blob %s: %v", ErrUpload, h, err)
		}
		buf = plain
	}
	if got := r.key.BlobID(plain); got != h.ID {
		return false, buf, fmt.Errorf("%w: blob %s hashes to %s", ErrMismatch, h, got.Short())
	}
	if !r.saver.claim(h, false) {
		return false, buf, r.saver.sticky()
	}
	var flags uint8
	if u.Compressed {
		flags = pack.FlagCompressed
	}
	if err := r.saver.add(ctx, h, u.Payload, flags, u.RawLen); err != nil {
		return false, buf, err
	}
	if h.Type == blob.TreeBlob {
		r.trees.add(h.ID, plain)
	}
	return true, buf, nil
}

func (r *Repository) checkUpload(u Upload) error {
	limit := pack.MaxBlobSize - 1024
	if u.Handle.Type == blob.DataBlob {
		limit = r.cfg.ChunkMax
	}
	switch {
	case !u.Handle.Type.Valid():
		return fmt.Errorf("%w: unknown blob type %d", ErrUpload, u.Handle.Type)
	case u.RawLen < 0 || u.RawLen > limit:
		return fmt.Errorf("%w: blob %s of %d bytes exceeds the %d byte limit", ErrUpload, u.Handle, u.RawLen, limit)
	case !u.Compressed && len(u.Payload) != u.RawLen:
		return fmt.Errorf("%w: uncompressed blob %s is %d bytes, not the %d stated", ErrUpload, u.Handle, len(u.Payload), u.RawLen)
	case len(u.Payload) > limit+limit/64+1024:
		return fmt.Errorf("%w: blob %s payload of %d bytes is too large", ErrUpload, u.Handle, len(u.Payload))
	}
	return nil
}

// Compressor compresses blobs for a vault server's client, with the same
// settings a local vault uses.
type Compressor struct{ codec *codec }

// NewCompressor returns a Compressor; Close it when done.
func NewCompressor() (*Compressor, error) {
	c, err := newCodec(false)
	if err != nil {
		return nil, err
	}
	return &Compressor{codec: c}, nil
}

// Close releases the compressor.
func (c *Compressor) Close() { c.codec.close() }

// Compress compresses data the way SaveBlob would. It returns the payload
// and whether it is compressed; an uncompressed payload is data itself.
func (c *Compressor) Compress(dst, data []byte) ([]byte, bool) {
	out, ok := c.codec.maybeCompress(dst, data)
	if !ok {
		return data, false
	}
	return out, true
}

// Decompress decodes a compressed blob payload of rawLen bytes into dst.
func (c *Compressor) Decompress(dst, payload []byte, rawLen int) ([]byte, error) {
	return c.codec.decompressInto(dst, payload, rawLen)
}

// LoadPayload reads and authenticates a blob and returns its payload as
// stored: still compressed when compressed is set. A vault server sends
// blobs to restoring clients this way, and the client decompresses them and
// checks each against its id.
func (r *Repository) LoadPayload(ctx context.Context, h blob.Handle) (payload []byte, compressed bool, rawLen int, err error) {
	locs := r.idx.LookupAll(h)
	if len(locs) == 0 {
		return nil, false, 0, fmt.Errorf("load %s: %w", h, ErrBlobMissing)
	}
	for _, l := range locs {
		sealed, rerr := r.readSealed(ctx, h, l)
		if rerr == nil {
			payload, rerr = r.openSealed(h, l, sealed)
		}
		if rerr == nil {
			return payload, l.Flags&pack.FlagCompressed != 0, int(l.RawLen), nil
		}
		if err == nil {
			err = rerr
		}
	}
	return nil, false, 0, err
}
