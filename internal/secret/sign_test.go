package secret

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"regexp"
	"testing"
)

// TestSigningKeyVector pins the derivation: an independent HKDF-SHA256 and
// ed25519 computation gives this public key for root 00 01 .. 1f and
// purpose "audit".
func TestSigningKeyVector(t *testing.T) {
	priv, err := SigningKey(testRoot(0), "audit")
	if err != nil {
		t.Fatal(err)
	}
	want := "fb0954c1616c0359091c595759fd3952ba93d20911c03f96395545c717894dd8"
	if got := hex.EncodeToString(priv.Public().(ed25519.PublicKey)); got != want {
		t.Fatalf("public key %s, want %s", got, want)
	}
}

func TestSigningKeySeparation(t *testing.T) {
	a, err := SigningKey(testRoot(0), "audit")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SigningKey(testRoot(0), "audit")
	if !bytes.Equal(a, again) {
		t.Fatal("SigningKey is not deterministic")
	}
	other, _ := SigningKey(testRoot(0), "points")
	otherRoot, _ := SigningKey(testRoot(1), "audit")
	if bytes.Equal(a, other) || bytes.Equal(a, otherRoot) {
		t.Fatal("different purposes or roots gave the same signing key")
	}
	// The same purpose string must give unrelated keys for a Box and a
	// signing key.
	boxKey, _ := derive(testRoot(0), boxInfo, "audit")
	if bytes.Equal(boxKey, a.Seed()) {
		t.Fatal("the signing key seed equals the box key of the same purpose")
	}
	msg := []byte("checkpoint")
	if !ed25519.Verify(a.Public().(ed25519.PublicKey), msg, ed25519.Sign(a, msg)) {
		t.Fatal("derived key does not sign and verify")
	}
	if _, err := SigningKey(make([]byte, 16), "audit"); err == nil {
		t.Fatal("SigningKey accepted a 16-byte root")
	}
	if _, err := SigningKey(testRoot(0), ""); err == nil {
		t.Fatal("SigningKey accepted an empty purpose")
	}
}

func TestKeyID(t *testing.T) {
	// RFC 8032 test 1 public key; the id was computed with sha256sum.
	pub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	if got, want := KeyID(pub), "ed25519:21fe31dfa154a261"; got != want {
		t.Fatalf("KeyID = %s, want %s", got, want)
	}
	priv, _ := SigningKey(testRoot(0), "audit")
	id := KeyID(priv.Public().(ed25519.PublicKey))
	if !regexp.MustCompile(`^ed25519:[0-9a-f]{16}$`).MatchString(id) || id == KeyID(pub) {
		t.Fatalf("KeyID = %q", id)
	}
}
