package approval

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/secret"
)

// Vote is an approver's answer to a request.
type Vote string

// Votes.
const (
	Approve Vote = "approve"
	Reject  Vote = "reject"
)

// ParseVote checks that s is a vote.
func ParseVote(s string) (Vote, error) {
	switch Vote(s) {
	case Approve, Reject:
		return Vote(s), nil
	}
	return "", fmt.Errorf("vote %q: want %q or %q", audit.Clean(s), Approve, Reject)
}

const signDomain = "bunker approval v1\n"

// Message returns what an approver signs to cast vote v on the request
// with the given hash, with the key keyID (see the package documentation).
func Message(hash string, v Vote, keyID string) []byte {
	msg := make([]byte, 0, len(signDomain)+len(hash)+len(v)+len(keyID)+2)
	msg = append(msg, signDomain...)
	msg = append(msg, hash...)
	msg = append(msg, '\n')
	msg = append(msg, v...)
	msg = append(msg, '\n')
	return append(msg, keyID...)
}

// KeyID names a public key: "ed25519:" and 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string { return secret.KeyID(pub) }

// Sign casts vote v on the request with the given hash, returning the
// signature and the id of the key that made it.
func Sign(priv ed25519.PrivateKey, hash string, v Vote) (sig []byte, keyID string, err error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, "", fmt.Errorf("sign: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := CheckHash(hash); err != nil {
		return nil, "", fmt.Errorf("sign: %w", err)
	}
	if _, err := ParseVote(string(v)); err != nil {
		return nil, "", fmt.Errorf("sign: %w", err)
	}
	keyID = KeyID(priv.Public().(ed25519.PublicKey))
	return ed25519.Sign(priv, Message(hash, v, keyID)), keyID, nil
}

// ErrSignature is wrapped by every refusal of CheckSignature.
var ErrSignature = errors.New("bad signature")

// CheckSignature checks that sig is pub's signature of vote v on the
// request with the given hash, made with the key named keyID.
func CheckSignature(pub ed25519.PublicKey, hash string, v Vote, keyID string, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key has %d bytes, want %d", ErrSignature, len(pub), ed25519.PublicKeySize)
	}
	if want := KeyID(pub); keyID != want {
		return fmt.Errorf("%w: made with key %q, not the member's key %s", ErrSignature, audit.Clean(keyID), want)
	}
	if err := CheckHash(hash); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if _, err := ParseVote(string(v)); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, Message(hash, v, keyID), sig) {
		return fmt.Errorf("%w: the signature does not verify for %s on request %s", ErrSignature, v, hash[:16])
	}
	return nil
}
