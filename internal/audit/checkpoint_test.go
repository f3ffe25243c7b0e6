package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func signedVector(t *testing.T) (Entry, Checkpoint) {
	t.Helper()
	e := vectorEntry()
	e.Hash = vectorHash
	c, err := Sign(testKey(0x42), e, time.Date(2031, 2, 3, 6, 0, 0, 123456789, time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

// TestSignVector checks the signature against one an independent
// implementation made over the message in the package documentation.
func TestSignVector(t *testing.T) {
	_, c := signedVector(t)
	want := "10e7e80444fbbde3d24cac44db71bc1834d690818122ab41fb8ab375947a0e473f43caf3a1a9efbb6547771530a18e13d1a95c0e2a586ecfc11d9834cf74bf05"
	if got := hex.EncodeToString(c.Signature); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if c.Seq != 7 || c.Hash != vectorHash || c.KeyID != "ed25519:3097e2dee2cb4a34" || c.Time.Location() != time.UTC || c.Time.Nanosecond() != 123456000 {
		t.Fatalf("checkpoint %+v", c)
	}
	if err := c.Verify(testKey(0x42).Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointVerifyRefuses plays a forger: any change to a signed
// checkpoint, or a checkpoint signed by another key, must fail.
func TestCheckpointVerifyRefuses(t *testing.T) {
	_, c := signedVector(t)
	pub := testKey(0x42).Public().(ed25519.PublicKey)
	other, err := Sign(testKey(0x43), func() Entry { e := vectorEntry(); e.Hash = vectorHash; return e }(), c.Time)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		c       Checkpoint
		pub     ed25519.PublicKey
		problem string
	}{
		{"seq", func() Checkpoint { x := c; x.Seq++; return x }(), pub, "signature"},
		{"seq 0", func() Checkpoint { x := c; x.Seq = 0; return x }(), pub, "seq 0"},
		{"hash", func() Checkpoint { x := c; x.Hash = strings.Repeat("0", 64); return x }(), pub, "signature"},
		{"malformed hash", func() Checkpoint { x := c; x.Hash = "xyz"; return x }(), pub, "hash"},
		{"time", func() Checkpoint { x := c; x.Time = x.Time.Add(time.Microsecond); return x }(), pub, "signature"},
		{"signature bit", func() Checkpoint {
			x := c
			x.Signature = bytes.Clone(c.Signature)
			x.Signature[10] ^= 1
			return x
		}(), pub, "signature"},
		{"short signature", func() Checkpoint { x := c; x.Signature = c.Signature[:63]; return x }(), pub, "signature"},
		{"no signature", func() Checkpoint { x := c; x.Signature = nil; return x }(), pub, "signature"},
		{"key id", func() Checkpoint { x := c; x.KeyID = "ed25519:0000000000000000"; return x }(), pub, "signed by key"},
		{"other key", other, pub, "signed by key"},
		{"other key with our id", func() Checkpoint { x := other; x.KeyID = c.KeyID; return x }(), pub, "signature"},
		{"verified with other key", c, testKey(0x43).Public().(ed25519.PublicKey), "signed by key"},
		{"short public key", c, pub[:31], "public key"},
		{"no public key", c, nil, "public key"},
	} {
		err := tc.c.Verify(tc.pub)
		if err == nil || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("%s: Verify = %v, want an error about %q", tc.name, err, tc.problem)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	e := vectorEntry()
	e.Hash = vectorHash
	now := time.Now()
	if _, err := Sign(testKey(1)[:10], e, now); err == nil {
		t.Error("Sign with a short key accepted")
	}
	if _, err := Sign(nil, e, now); err == nil {
		t.Error("Sign with no key accepted")
	}
	bad := e
	bad.Actor = "mallory"
	if _, err := Sign(testKey(1), bad, now); err == nil {
		t.Error("Sign of an entry that does not match its hash accepted")
	}
	zero := e
	zero.Seq = 0
	if _, err := Sign(testKey(1), zero, now); err == nil {
		t.Error("Sign of seq 0 accepted")
	}
	if _, err := Sign(testKey(1), e, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("Sign at year 10000 accepted")
	}
}
