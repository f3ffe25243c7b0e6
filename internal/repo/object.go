package repo

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
)

// Sealed objects (index objects and point records) are laid out as
// version (1) | salt (32) | nonce || zstd(payload) sealed || tag, with
// "bunker <kind> v1" as associated data, and named by the SHA-256 of the bytes.
const objectVersion = 1

// ErrObject reports a sealed object that cannot be opened.
var ErrObject = errors.New("malformed object")

func objectAAD(kind string) []byte { return []byte("bunker " + kind + " v1") }

// sealObject compresses and seals payload; it returns the bytes and their name.
func (r *Repository) sealObject(kind string, payload []byte) ([]byte, blob.ID, error) {
	salt, err := crypto.NewSalt()
	if err != nil {
		return nil, blob.ID{}, err
	}
	s, err := r.key.Sealer(salt)
	if err != nil {
		return nil, blob.ID{}, err
	}
	out := make([]byte, 0, 1+crypto.SaltSize+crypto.Overhead+len(payload)/2)
	out = append(out, objectVersion)
	out = append(out, salt[:]...)
	compressed, err := r.codec.compress(nil, payload)
	if err != nil {
		return nil, blob.ID{}, fmt.Errorf("compress %s: %w", kind, err)
	}
	out, err = s.Seal(out, compressed, objectAAD(kind))
	if err != nil {
		return nil, blob.ID{}, fmt.Errorf("seal %s: %w", kind, err)
	}
	return out, sha256.Sum256(out), nil
}

// openObject authenticates and decompresses a sealed object.
func (r *Repository) openObject(kind string, data []byte) ([]byte, error) {
	if len(data) < 1+crypto.SaltSize+crypto.Overhead {
		return nil, fmt.Errorf("%w: %s of %d bytes is too short", ErrObject, kind, len(data))
	}
	if data[0] != objectVersion {
		return nil, fmt.Errorf("%w: %s version %d is not supported", ErrObject, kind, data[0])
	}
	s, err := r.key.Sealer([crypto.SaltSize]byte(data[1 : 1+crypto.SaltSize]))
	if err != nil {
		return nil, err
	}
	plain, err := s.Open(nil, data[1+crypto.SaltSize:], objectAAD(kind))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", kind, err)
	}
	return r.codec.decompress(plain, maxObjectSize)
}

// maxObjectSize bounds the decompressed size of an index object or point record.
const maxObjectSize = 1 << 30
