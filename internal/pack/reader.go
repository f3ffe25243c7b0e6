package pack

import (
	"context"
	"fmt"
	"io"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/storage"
)

// headerGuess is how much of a pack's tail is read at once when listing it,
// enough for the trailer and the header of a pack of a few hundred blobs.
const headerGuess = 32 << 10

// ReadHeader reads and authenticates the header of a stored pack.
func ReadHeader(ctx context.Context, be storage.Backend, key *crypto.Key, id blob.ID, size int64) ([]Entry, Trailer, error) {
	h := storage.Handle{Kind: storage.KindPack, Name: id.String()}
	if size < TrailerSize {
		return nil, Trailer{}, fmt.Errorf("pack %s: %w: %d bytes is shorter than a trailer", id.Short(), ErrFormat, size)
	}
	tail := min(int64(headerGuess), size)
	buf, err := readRange(ctx, be, h, size-tail, tail)
	if err != nil {
		return nil, Trailer{}, err
	}
	t, err := DecodeTrailer(buf[len(buf)-TrailerSize:], size)
	if err != nil {
		return nil, t, fmt.Errorf("pack %s: %w", id.Short(), err)
	}
	need := int64(t.HeaderLen) + TrailerSize
	if need > tail {
		if buf, err = readRange(ctx, be, h, size-need, need); err != nil {
			return nil, t, err
		}
	}
	sealed := buf[len(buf)-int(need) : len(buf)-TrailerSize]
	entries, err := ParseHeader(key, t, sealed, uint64(size-need))
	if err != nil {
		return nil, t, fmt.Errorf("pack %s: %w", id.Short(), err)
	}
	return entries, t, nil
}

// ParseHeader authenticates a sealed header with the pack's salt.
func ParseHeader(key *crypto.Key, t Trailer, sealed []byte, dataLen uint64) ([]Entry, error) {
	s, err := key.Sealer(t.Salt)
	if err != nil {
		return nil, err
	}
	return OpenHeader(s, sealed, dataLen)
}

// Parse splits a whole pack held in memory into its trailer and entries.
func Parse(key *crypto.Key, data []byte) ([]Entry, Trailer, error) {
	size := int64(len(data))
	if size < TrailerSize {
		return nil, Trailer{}, fmt.Errorf("%w: %d bytes is shorter than a trailer", ErrFormat, size)
	}
	t, err := DecodeTrailer(data[size-TrailerSize:], size)
	if err != nil {
		return nil, t, err
	}
	dataLen := size - TrailerSize - int64(t.HeaderLen)
	entries, err := ParseHeader(key, t, data[dataLen:size-TrailerSize], uint64(dataLen))
	return entries, t, err
}

func readRange(ctx context.Context, be storage.Backend, h storage.Handle, off, n int64) ([]byte, error) {
	rd, err := be.Get(ctx, h, off, n)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h, err)
	}
	defer rd.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rd, buf); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", h, off, err)
	}
	return buf, nil
}
