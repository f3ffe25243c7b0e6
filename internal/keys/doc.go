// Package keys stores a vault's master key in key slots.
//
// A vault's master key is random and is never written anywhere in plaintext.
// Each key slot holds a copy of it wrapped (XChaCha20-Poly1305) under a
// key-encryption key derived from one secret: a passphrase, stretched with
// argon2id, or the 32-byte secret of a key file, expanded with HKDF-SHA256.
// Any slot opens the vault, so slots can be added for new people or machines
// and removed again without re-encrypting anything.
//
// A slot is a small versioned JSON document. Everything in it, and the id of
// the vault it belongs to, is bound to the wrapped key as associated data:
// a slot copied into another vault, or one whose label, KDF parameters or
// any other field was changed, fails to open exactly as a wrong secret does.
// Decode checks every field before anything is derived, so a hostile slot
// cannot make bunker spend unbounded memory or time on argon2.
package keys
