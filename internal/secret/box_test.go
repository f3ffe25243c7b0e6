package secret

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

func testRoot(b byte) []byte {
	root := make([]byte, 32)
	for i := range root {
		root[i] = b + byte(i)
	}
	return root
}

func newBox(t testing.TB, root []byte, purpose string) *Box {
	t.Helper()
	b, err := NewBox(root, purpose)
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newBox(t, testRoot(0), "test")
	for _, size := range []int{0, 1, 32, 121, 4096, MaxPlaintext} {
		plain := bytes.Repeat([]byte{0xa5}, size)
		sealed, err := b.Seal(plain, []byte("aad"))
		if err != nil {
			t.Fatalf("Seal %d bytes: %v", size, err)
		}
		if len(sealed) != size+Overhead || sealed[0] != 1 {
			t.Fatalf("sealed %d bytes into %d starting with %d, want %d starting with version 1", size, len(sealed), sealed[0], size+Overhead)
		}
		if size >= 16 && bytes.Contains(sealed, plain[:16]) {
			t.Fatalf("sealed output of %d bytes contains the plaintext", size)
		}
		got, err := b.Open(sealed, []byte("aad"))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open %d bytes = %d bytes, %v", size, len(got), err)
		}
	}
}

func TestSealRefusesLargeSecret(t *testing.T) {
	b := newBox(t, testRoot(0), "test")
	if _, err := b.Seal(make([]byte, MaxPlaintext+1), nil); err == nil {
		t.Fatal("Seal accepted a secret larger than MaxPlaintext")
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	b := newBox(t, testRoot(0), "test")
	seen := map[string]bool{}
	for range 100 {
		s, err := b.Seal([]byte("same"), nil)
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(s[1 : 1+chacha20poly1305.NonceSizeX])
		if seen[nonce] {
			t.Fatal("Seal reused a nonce")
		}
		seen[nonce] = true
	}
}

// TestOpenRefusesForgeries plays an attacker who holds a sealed secret and
// changes it: every single-bit flip, every truncation, a different aad, a
// box of another purpose or root, and an unknown version byte must all fail
// with ErrSealed.
func TestOpenRefusesForgeries(t *testing.T) {
	b := newBox(t, testRoot(0), "tls")
	aad := []byte("tls key")
	sealed, err := b.Seal([]byte("private key bytes"), aad)
	if err != nil {
		t.Fatal(err)
	}
	mustFail := func(what string, box *Box, data, aad []byte) {
		t.Helper()
		got, err := box.Open(data, aad)
		if !errors.Is(err, ErrSealed) {
			t.Fatalf("%s: Open = %q, %v; want ErrSealed", what, got, err)
		}
		if got != nil {
			t.Fatalf("%s: Open returned plaintext with an error", what)
		}
	}
	for i := range sealed {
		for bit := range 8 {
			c := bytes.Clone(sealed)
			c[i] ^= 1 << bit
			mustFail("bit flip", b, c, aad)
		}
	}
	for n := range len(sealed) {
		mustFail("truncated", b, sealed[:n], aad)
	}
	mustFail("appended byte", b, append(bytes.Clone(sealed), 0), aad)
	mustFail("other aad", b, sealed, []byte("tls kez"))
	mustFail("no aad", b, sealed, nil)
	mustFail("other purpose", newBox(t, testRoot(0), "totp"), sealed, aad)
	mustFail("other root", newBox(t, testRoot(1), "tls"), sealed, aad)
	mustFail("oversized", b, make([]byte, Overhead+MaxPlaintext+1), aad)
	mustFail("nil", b, nil, aad)

	// A future format version is refused, not guessed at.
	c := bytes.Clone(sealed)
	c[0] = 2
	mustFail("version 2", b, c, aad)
}

// TestBoxFormat pins the key derivation and the sealed format to the
// package documentation: a secret sealed by hand with the key that an
// independent HKDF-SHA256 computation gives for root 00 01 .. 1f and
// purpose "test" must open.
func TestBoxFormat(t *testing.T) {
	key, _ := hex.DecodeString("c1903d97fdce6d24e0b54a2e4604c1c03e76f72064cb97aca20a4bb7479634d9")
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, chacha20poly1305.NonceSizeX)
	sealed := append([]byte{1}, nonce...)
	sealed = aead.Seal(sealed, nonce, []byte("seed"), []byte("\x01user 42"))

	got, err := newBox(t, testRoot(0), "test").Open(sealed, []byte("user 42"))
	if err != nil || string(got) != "seed" {
		t.Fatalf("Open of a hand-sealed secret = %q, %v", got, err)
	}
}

func TestNewBoxChecksInput(t *testing.T) {
	if _, err := NewBox(make([]byte, 31), "x"); err == nil || !strings.Contains(err.Error(), "31 bytes") {
		t.Errorf("NewBox with a 31-byte root = %v, want an error naming the size", err)
	}
	if _, err := NewBox(nil, "x"); err == nil {
		t.Error("NewBox accepted a nil root")
	}
	if _, err := NewBox(testRoot(0), ""); err == nil {
		t.Error("NewBox accepted an empty purpose")
	}
	if _, err := NewBox(make([]byte, 64), "x"); err != nil {
		t.Errorf("NewBox with a 64-byte root: %v", err)
	}
}

func TestBoxConcurrentUse(t *testing.T) {
	b := newBox(t, testRoot(0), "test")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				s, err := b.Seal([]byte{byte(i)}, []byte{byte(i)})
				if err != nil {
					t.Error(err)
					return
				}
				if p, err := b.Open(s, []byte{byte(i)}); err != nil || p[0] != byte(i) {
					t.Errorf("concurrent Open = %v, %v", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
