package pack

import (
	"crypto/sha256"
	"fmt"
	"hash"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
)

// Writer assembles one pack in memory. It is not safe for concurrent use.
type Writer struct {
	sealer  *crypto.Sealer
	salt    [crypto.SaltSize]byte
	buf     []byte
	entries []Entry
	hash    hash.Hash
}

// NewWriter starts a pack under a fresh salt, with room for sizeHint bytes.
func NewWriter(key *crypto.Key, sizeHint int) (*Writer, error) {
	return NewWriterBuffer(key, make([]byte, 0, sizeHint))
}

// NewWriterBuffer starts a pack under a fresh salt that is assembled in buf,
// a recycled buffer whose contents are discarded.
func NewWriterBuffer(key *crypto.Key, buf []byte) (*Writer, error) {
	salt, err := crypto.NewSalt()
	if err != nil {
		return nil, err
	}
	s, err := key.Sealer(salt)
	if err != nil {
		return nil, err
	}
	return &Writer{sealer: s, salt: salt, buf: buf[:0], hash: sha256.New()}, nil
}

// Add seals payload (already compressed when flags says so) as blob t/id.
// rawLen is the plaintext length before compression.
func (w *Writer) Add(t blob.Type, id blob.ID, payload []byte, flags uint8, rawLen int) error {
	if len(payload)+crypto.Overhead > MaxBlobSize || rawLen > MaxBlobSize {
		return fmt.Errorf("add blob %s: %d bytes exceeds the %d byte limit", id.Short(), len(payload), MaxBlobSize)
	}
	start := len(w.buf)
	var err error
	w.buf, err = w.sealer.Seal(w.buf, payload, crypto.BlobAAD(t, id))
	if err != nil {
		return fmt.Errorf("seal blob %s: %w", id.Short(), err)
	}
	w.entries = append(w.entries, Entry{
		Type: t, Flags: flags, Offset: uint64(start),
		Length: uint32(len(w.buf) - start), RawLen: uint32(rawLen), ID: id,
	})
	return nil
}

// Size returns the bytes written so far.
func (w *Writer) Size() int { return len(w.buf) }

// Entries returns the blobs added so far.
func (w *Writer) Entries() []Entry { return w.entries }

// Count returns the number of blobs added.
func (w *Writer) Count() int { return len(w.entries) }

// Finish appends header and trailer and returns the pack's bytes, its name
// (the SHA-256 of the bytes) and its entries. The writer must not be used
// afterwards.
func (w *Writer) Finish() ([]byte, blob.ID, []Entry, error) {
	var err error
	start := len(w.buf)
	w.buf, err = w.sealer.Seal(w.buf, EncodeHeader(w.entries), headerAAD)
	if err != nil {
		return nil, blob.ID{}, nil, fmt.Errorf("seal pack header: %w", err)
	}
	w.buf = append(w.buf, EncodeTrailer(Trailer{Salt: w.salt, HeaderLen: uint32(len(w.buf) - start)})...)
	w.hash.Write(w.buf)
	var id blob.ID
	w.hash.Sum(id[:0])
	return w.buf, id, w.entries, nil
}

// Salt returns the pack's salt.
func (w *Writer) Salt() [crypto.SaltSize]byte { return w.salt }
