// Package crypto holds a vault's key material and the authenticated
// encryption that every stored blob and object goes through.
//
// A vault has one random 32-byte master key. Sub-keys are derived from it with
// HKDF-SHA256: one for encryption, one for keyed blob ids (HMAC-SHA256), and
// one that seeds the content-defined chunker so chunk boundaries do not leak
// content. Every sealed object carries a random 32-byte salt from which a
// per-object AES-256-GCM key is derived, so random 96-bit nonces never come
// close to their collision bound however large the vault grows.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/bunkerhq/bunker/internal/blob"
)

// MasterKeySize is the size of a vault's master key.
const MasterKeySize = 32

// SaltSize is the size of the per-object salt.
const SaltSize = 32

// NonceSize and Overhead describe a sealed blob: nonce || ciphertext || tag.
const (
	NonceSize = 12
	TagSize   = 16
	Overhead  = NonceSize + TagSize
)

// ErrAuth is returned when a ciphertext fails authentication: wrong key,
// damaged data, or a blob presented under another id.
var ErrAuth = errors.New("authentication failed: wrong key or damaged data")

// MasterKey is the random root secret of a vault. It is only ever stored
// wrapped by a key slot.
type MasterKey [MasterKeySize]byte

// NewMasterKey returns a fresh random master key.
func NewMasterKey() (MasterKey, error) {
	var m MasterKey
	if _, err := rand.Read(m[:]); err != nil {
		return m, fmt.Errorf("generate master key: %w", err)
	}
	return m, nil
}

// Key holds the sub-keys derived from a master key.
type Key struct {
	encrypt [32]byte
	IDKey
}

// IDKey is the part of a vault's keys that names content: the blob-id MAC
// key and the chunker seed. A vault server hands it to its backup clients so
// that they can chunk, name and deduplicate locally; it cannot decrypt
// anything. IDKeySize bytes long in its binary form.
type IDKey struct {
	mac     [32]byte
	chunker [32]byte
}

// IDKeySize is the length of an IDKey's binary form.
const IDKeySize = 64

// ContentKey returns a copy of the content-naming part of k.
func (k *Key) ContentKey() *IDKey {
	id := k.IDKey
	return &id
}

// Bytes returns the binary form of k.
func (k *IDKey) Bytes() []byte {
	out := make([]byte, 0, IDKeySize)
	out = append(out, k.mac[:]...)
	return append(out, k.chunker[:]...)
}

// ParseIDKey decodes the binary form of an IDKey.
func ParseIDKey(b []byte) (*IDKey, error) {
	if len(b) != IDKeySize {
		return nil, fmt.Errorf("content key is %d bytes, want %d", len(b), IDKeySize)
	}
	var k IDKey
	copy(k.mac[:], b[:32])
	copy(k.chunker[:], b[32:])
	return &k, nil
}

// Derive computes the sub-keys of m.
func (m MasterKey) Derive() (*Key, error) {
	k := &Key{}
	for _, d := range []struct {
		dst  *[32]byte
		info string
	}{
		{&k.encrypt, "bunker v1 encrypt"},
		{&k.mac, "bunker v1 blob id"},
		{&k.chunker, "bunker v1 chunker"},
	} {
		out, err := hkdf.Key(sha256.New, m[:], nil, d.info, 32)
		if err != nil {
			return nil, fmt.Errorf("derive %s key: %w", d.info, err)
		}
		copy(d.dst[:], out)
	}
	return k, nil
}

// ChunkerSeed returns the secret seed for the content-defined chunker.
func (k *IDKey) ChunkerSeed() [32]byte { return k.chunker }

// IDHasher computes keyed blob ids; it is not safe for concurrent use.
type IDHasher struct {
	h   hash.Hash
	sum [blob.IDSize]byte // Sum's output, kept here so that it does not escape per call
}

// NewIDHasher returns a hasher for blob ids under k.
func (k *IDKey) NewIDHasher() *IDHasher { return &IDHasher{h: hmac.New(sha256.New, k.mac[:])} }

// Sum returns the keyed id of data.
func (x *IDHasher) Sum(data []byte) blob.ID {
	x.h.Reset()
	x.h.Write(data)
	x.h.Sum(x.sum[:0])
	return blob.ID(x.sum)
}

// BlobID returns the keyed id of data. Use an IDHasher in hot loops.
func (k *IDKey) BlobID(data []byte) blob.ID { return k.NewIDHasher().Sum(data) }

// NewSalt returns a random per-object salt.
func NewSalt() ([SaltSize]byte, error) {
	var s [SaltSize]byte
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("generate salt: %w", err)
	}
	return s, nil
}

// Sealer encrypts and authenticates the blobs of one object (a pack, an index
// or a point record) under a key derived from the object's salt. It is safe
// for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// Sealer returns the sealer for the object with the given salt.
func (k *Key) Sealer(salt [SaltSize]byte) (*Sealer, error) {
	sub, err := hkdf.Key(sha256.New, k.encrypt[:], salt[:], "bunker v1 object", 32)
	if err != nil {
		return nil, fmt.Errorf("derive object key: %w", err)
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, fmt.Errorf("object cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("object cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal appends nonce || ciphertext || tag of plaintext to dst, binding aad.
// dst must not overlap plaintext.
func (s *Sealer) Seal(dst, plaintext, aad []byte) ([]byte, error) {
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	dst = append(dst, nonce[:]...)
	return s.aead.Seal(dst, nonce[:], plaintext, aad), nil
}

// Open authenticates and decrypts a sealed blob, appending the plaintext to
// dst. dst must not overlap sealed.
func (s *Sealer) Open(dst, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: sealed blob of %d bytes is shorter than %d", ErrAuth, len(sealed), Overhead)
	}
	out, err := s.aead.Open(dst, sealed[:NonceSize], sealed[NonceSize:], aad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// BlobAAD returns the associated data that binds a blob's type and id.
func BlobAAD(t blob.Type, id blob.ID) []byte {
	aad := make([]byte, 0, 1+blob.IDSize)
	aad = append(aad, byte(t))
	return append(aad, id[:]...)
}
