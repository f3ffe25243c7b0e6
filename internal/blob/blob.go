// Package blob defines the identifiers of the pieces a vault stores: blobs
// (file chunks and tree nodes) inside packs, and the objects that hold them.
package blob

import (
	"encoding/hex"
	"fmt"
)

// IDSize is the length of an ID in bytes.
const IDSize = 32

// ID identifies a blob (a keyed hash of its plaintext) or a stored object (a
// hash of its stored bytes).
type ID [IDSize]byte

// String returns the ID in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first eight hex digits, for display.
func (id ID) Short() string { return id.String()[:8] }

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes the ID as hex.
func (id ID) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(IDSize))
	hex.Encode(out, id[:])
	return out, nil
}

// UnmarshalText decodes a hex ID.
func (id *ID) UnmarshalText(b []byte) error {
	parsed, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// ParseID decodes a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != hex.EncodedLen(IDSize) {
		return id, fmt.Errorf("invalid id %q: want %d hex digits, got %d", s, hex.EncodedLen(IDSize), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid id %q: %w", s, err)
	}
	return id, nil
}

// Type says what a blob holds.
type Type uint8

// Blob types.
const (
	DataBlob Type = 1 // a chunk of file or stream content
	TreeBlob Type = 2 // an encoded directory listing
)

func (t Type) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Valid reports whether t is a known blob type.
func (t Type) Valid() bool { return t == DataBlob || t == TreeBlob }

// Handle names a blob of a given type.
type Handle struct {
	ID   ID
	Type Type
}

func (h Handle) String() string { return fmt.Sprintf("%s/%s", h.Type, h.ID.Short()) }
