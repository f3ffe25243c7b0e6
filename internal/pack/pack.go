// Package pack reads and writes packs: stored objects that hold many
// encrypted blobs followed by an encrypted header that lists them.
//
// Layout of a pack (format version 1):
//
//	blob 0 | blob 1 | ... | sealed header | trailer
//
// Each blob is sealed (nonce || ciphertext || tag) under the pack's object key
// with its type and id as associated data, so a blob cannot be presented under
// another id. The header lists every blob; it is sealed with HeaderAAD. The
// 44-byte trailer is: salt (32) | sealed header length (uint32 LE) |
// version (1) | magic "BKP" (3). A pack is named by the SHA-256 of its bytes.
package pack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
)

// Format constants.
const (
	Version     = 1
	TrailerSize = crypto.SaltSize + 4 + 1 + 3
	// entrySize is the encoded size of one header entry.
	entrySize = 1 + 1 + 8 + 4 + 4 + blob.IDSize
	// MaxBlobSize bounds a single blob's stored length.
	MaxBlobSize = 64 << 20
	// MaxHeaderSize bounds the sealed header a reader accepts.
	MaxHeaderSize = 16 << 20
)

var magic = [3]byte{'B', 'K', 'P'}

// HeaderAAD is the associated data of a pack header.
var headerAAD = []byte("bunker pack header v1")

// ErrFormat reports a pack that is not well-formed.
var ErrFormat = errors.New("malformed pack")

// Flags of a blob entry.
const (
	// FlagCompressed marks a blob whose plaintext is zstd-compressed.
	FlagCompressed = 1 << 0
)

// Entry describes one blob inside a pack.
type Entry struct {
	Type   blob.Type
	Flags  uint8
	Offset uint64 // offset of the sealed blob in the pack
	Length uint32 // sealed length
	RawLen uint32 // length of the plaintext before compression
	ID     blob.ID
}

// Compressed reports whether the blob's plaintext is compressed.
func (e Entry) Compressed() bool { return e.Flags&FlagCompressed != 0 }

// Trailer is the fixed-size end of a pack.
type Trailer struct {
	Salt      [crypto.SaltSize]byte
	HeaderLen uint32
}

// EncodeHeader encodes entries as a plaintext header.
func EncodeHeader(entries []Entry) []byte {
	buf := make([]byte, 4, 4+len(entries)*entrySize)
	binary.LittleEndian.PutUint32(buf, uint32(len(entries)))
	for _, e := range entries {
		buf = append(buf, byte(e.Type), e.Flags)
		buf = binary.LittleEndian.AppendUint64(buf, e.Offset)
		buf = binary.LittleEndian.AppendUint32(buf, e.Length)
		buf = binary.LittleEndian.AppendUint32(buf, e.RawLen)
		buf = append(buf, e.ID[:]...)
	}
	return buf
}

// DecodeHeader decodes a plaintext header and checks that the entries tile
// the data region [0, dataLen) in order without gaps or overlaps.
func DecodeHeader(buf []byte, dataLen uint64) ([]Entry, error) {
	if len(buf) < 4 {
		return nil, fmt.Errorf("%w: header of %d bytes is too short", ErrFormat, len(buf))
	}
	n := binary.LittleEndian.Uint32(buf)
	body := buf[4:]
	if uint64(len(body)) != uint64(n)*entrySize {
		return nil, fmt.Errorf("%w: header claims %d entries but holds %d bytes", ErrFormat, n, len(body))
	}
	entries := make([]Entry, 0, n)
	var next uint64
	for i := uint32(0); i < n; i++ {
		b := body[i*entrySize:]
		e := Entry{
			Type:   blob.Type(b[0]),
			Flags:  b[1],
			Offset: binary.LittleEndian.Uint64(b[2:]),
			Length: binary.LittleEndian.Uint32(b[10:]),
			RawLen: binary.LittleEndian.Uint32(b[14:]),
		}
		copy(e.ID[:], b[18:18+blob.IDSize])
		if err := checkEntry(e, next, dataLen); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrFormat, i, err)
		}
		next = e.Offset + uint64(e.Length)
		entries = append(entries, e)
	}
	if next != dataLen {
		return nil, fmt.Errorf("%w: blobs end at %d but data region is %d bytes", ErrFormat, next, dataLen)
	}
	return entries, nil
}

func checkEntry(e Entry, offset, dataLen uint64) error {
	switch {
	case !e.Type.Valid():
		return fmt.Errorf("unknown blob type %d", e.Type)
	case e.Flags&^FlagCompressed != 0:
		return fmt.Errorf("unknown flags %#x", e.Flags)
	case e.Offset != offset:
		return fmt.Errorf("offset %d, want %d", e.Offset, offset)
	case e.Length < crypto.Overhead || e.Length > MaxBlobSize:
		return fmt.Errorf("sealed length %d out of range", e.Length)
	case e.RawLen > MaxBlobSize:
		return fmt.Errorf("raw length %d out of range", e.RawLen)
	case e.Offset+uint64(e.Length) > dataLen:
		return fmt.Errorf("blob at %d+%d runs past the data region (%d)", e.Offset, e.Length, dataLen)
	case !e.Compressed() && uint64(e.RawLen)+crypto.Overhead != uint64(e.Length):
		return fmt.Errorf("uncompressed blob length %d does not match raw length %d", e.Length, e.RawLen)
	}
	return nil
}

// EncodeTrailer encodes t.
func EncodeTrailer(t Trailer) []byte {
	buf := make([]byte, 0, TrailerSize)
	buf = append(buf, t.Salt[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, t.HeaderLen)
	buf = append(buf, Version)
	return append(buf, magic[:]...)
}

// DecodeTrailer decodes the last TrailerSize bytes of a pack of packSize bytes.
func DecodeTrailer(buf []byte, packSize int64) (Trailer, error) {
	var t Trailer
	if len(buf) != TrailerSize {
		return t, fmt.Errorf("%w: trailer is %d bytes, want %d", ErrFormat, len(buf), TrailerSize)
	}
	if [3]byte(buf[TrailerSize-3:]) != magic {
		return t, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if v := buf[TrailerSize-4]; v != Version {
		return t, fmt.Errorf("%w: unsupported pack version %d", ErrFormat, v)
	}
	copy(t.Salt[:], buf)
	t.HeaderLen = binary.LittleEndian.Uint32(buf[crypto.SaltSize:])
	if t.HeaderLen < crypto.Overhead+4 || t.HeaderLen > MaxHeaderSize || int64(t.HeaderLen)+TrailerSize > packSize {
		return t, fmt.Errorf("%w: header length %d does not fit a pack of %d bytes", ErrFormat, t.HeaderLen, packSize)
	}
	return t, nil
}

// OpenHeader authenticates and decodes a sealed header.
func OpenHeader(s *crypto.Sealer, sealed []byte, dataLen uint64) ([]Entry, error) {
	plain, err := s.Open(nil, sealed, headerAAD)
	if err != nil {
		return nil, fmt.Errorf("pack header: %w", err)
	}
	return DecodeHeader(plain, dataLen)
}
