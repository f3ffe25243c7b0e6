package secret

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

const signingInfo = "bunker v1 signing key "

// SigningKey derives a deterministic ed25519 key pair for purpose from root
// (HKDF-SHA256, info "bunker v1 signing key "+purpose, as the 32-byte seed),
// for the server's signatures. The same root and purpose always give the
// same key, so nothing but the root needs to be kept.
func SigningKey(root []byte, purpose string) (ed25519.PrivateKey, error) {
	seed, err := derive(root, signingInfo, purpose)
	if err != nil {
		return nil, fmt.Errorf("derive signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// KeyID returns a short stable id of a public key: "ed25519:" followed by
// the first 16 hex digits of SHA-256 over the key's bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}
