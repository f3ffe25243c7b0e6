package secret

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// MinRootSize is the smallest root secret accepted, in bytes.
const MinRootSize = 32

// MaxPlaintext is the largest secret a Box seals. Boxes are meant for keys
// and seeds, not for bulk data.
const MaxPlaintext = 64 << 10

// version is the first byte of every sealed secret.
const version = 1

// Overhead is how many bytes sealing adds to a plaintext: the version byte,
// the nonce and the authentication tag.
const Overhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

const boxInfo = "bunker v1 secret "

// ErrSealed is wrapped by every error of Open: the sealed secret was made
// under another key or purpose, was changed or cut short, or is presented
// with other additional data.
var ErrSealed = errors.New("sealed secret does not open: wrong key, wrong purpose, or damaged")

// Box seals small secrets (TOTP seeds, the TLS private key, the server's
// signing key) under a key derived from a root secret. A Box is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns the Box for purpose, with its key derived from root by
// HKDF-SHA256 (info "bunker v1 secret "+purpose). root must be at least
// MinRootSize bytes and purpose must not be empty.
func NewBox(root []byte, purpose string) (*Box, error) {
	key, err := derive(root, boxInfo, purpose)
	if err != nil {
		return nil, fmt.Errorf("derive secret box key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("create secret box cipher: %w", err)
	}
	return &Box{aead: aead}, nil
}

// derive expands root into a 32-byte key for prefix+purpose.
func derive(root []byte, prefix, purpose string) ([]byte, error) {
	if len(root) < MinRootSize {
		return nil, fmt.Errorf("root secret has %d bytes, need at least %d", len(root), MinRootSize)
	}
	if purpose == "" {
		return nil, errors.New("empty key purpose")
	}
	key, err := hkdf.Key(sha256.New, root, nil, prefix+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("hkdf: %w", err)
	}
	return key, nil
}

// Seal encrypts and authenticates plaintext, binding aad to it, under a fresh
// random nonce. The result is Overhead bytes longer than plaintext.
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("seal secret: %d bytes is more than the %d a secret may have", len(plaintext), MaxPlaintext)
	}
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, Overhead+len(plaintext))
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal secret: generate nonce: %w", err)
	}
	nonce := out[1:]
	return b.aead.Seal(out, nonce, plaintext, additional(aad)), nil
}

// Open authenticates and decrypts a secret made by Seal with the same aad.
// Every failure wraps ErrSealed.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	switch {
	case len(sealed) < Overhead:
		return nil, fmt.Errorf("open secret: %w: %d bytes is shorter than the %d-byte minimum", ErrSealed, len(sealed), Overhead)
	case len(sealed) > Overhead+MaxPlaintext:
		return nil, fmt.Errorf("open secret: %w: %d bytes is longer than any sealed secret", ErrSealed, len(sealed))
	case sealed[0] != version:
		return nil, fmt.Errorf("open secret: %w: unknown format version %d", ErrSealed, sealed[0])
	}
	nonce := sealed[1 : 1+chacha20poly1305.NonceSizeX]
	plain, err := b.aead.Open(nil, nonce, sealed[1+chacha20poly1305.NonceSizeX:], additional(aad))
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", ErrSealed)
	}
	return plain, nil
}

// additional returns the AEAD's additional data: the version byte, then aad.
func additional(aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, version)
	return append(ad, aad...)
}
