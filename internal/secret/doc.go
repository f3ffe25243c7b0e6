// Package secret seals the server's small secrets at rest and derives its
// signing keys.
//
// Everything here hangs off one root secret of at least 32 bytes (the
// server's master secret). From it, HKDF-SHA256 derives one independent key
// per purpose: a Box for each kind of sealed secret (TOTP seeds, the TLS
// private key, ...) and an ed25519 key pair for each kind of signature. A key
// derived for one purpose says nothing about the key of any other purpose,
// and a secret sealed by one Box does not open in another.
//
// A sealed secret is
//
//	version (1 byte, 0x01) || nonce (24 bytes) || ciphertext || tag (16 bytes)
//
// where ciphertext and tag come from XChaCha20-Poly1305 under the Box's key
// with the random nonce, over additional data version || aad. The caller's
// aad names what the secret is for (for example "tls key" or the id of the
// user a TOTP seed belongs to), so a sealed value moved to another place or
// row fails to open.
//
// Key derivation, with HKDF-SHA256 and an empty salt:
//
//	Box key     = HKDF(root, info "bunker v1 secret "+purpose, 32 bytes)
//	signing key = ed25519 seed HKDF(root, info "bunker v1 signing key "+purpose, 32 bytes)
package secret
