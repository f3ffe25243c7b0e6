package attack

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/chacha20"
)

// Cipher names a stream cipher used by the simulated attacks.
type Cipher string

// Ciphers.
const (
	AES256CTR Cipher = "aes-256-ctr"
	ChaCha20  Cipher = "chacha20"
)

// Encoding is how ciphertext is stored.
type Encoding string

// Encodings.
const (
	Raw    Encoding = "raw"
	Base64 Encoding = "base64"
	Hex    Encoding = "hex"
)

// Range is a byte range of the plaintext that was encrypted.
type Range struct{ Off, Len int64 }

// Key is what a simulated attack used on one file: a random key and nonce
// from crypto/rand, the encrypted ranges and the output encoding. Keys are
// returned in memory only (for tests that decrypt); they are never written.
type Key struct {
	Cipher   Cipher
	Key      []byte
	Nonce    []byte
	Ranges   []Range // nil: the whole file
	Encoding Encoding
}

func newKey(c Cipher) (Key, error) {
	k := Key{Cipher: c, Key: make([]byte, 32), Encoding: Raw}
	switch c {
	case AES256CTR:
		k.Nonce = make([]byte, aes.BlockSize)
	case ChaCha20:
		k.Nonce = make([]byte, chacha20.NonceSize)
	default:
		return Key{}, fmt.Errorf("attack: unknown cipher %q", c)
	}
	if _, err := rand.Read(k.Key); err != nil {
		return Key{}, fmt.Errorf("attack: key: %w", err)
	}
	if _, err := rand.Read(k.Nonce); err != nil {
		return Key{}, fmt.Errorf("attack: nonce: %w", err)
	}
	return k, nil
}

// stream returns a keystream positioned at byte offset off.
func (k Key) stream(off int64) (cipher.Stream, error) {
	var s cipher.Stream
	var skip int64
	switch k.Cipher {
	case AES256CTR:
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("attack: aes: %w", err)
		}
		iv := make([]byte, aes.BlockSize)
		copy(iv, k.Nonce)
		add := uint64(off / aes.BlockSize)
		for i := aes.BlockSize - 1; i >= 0 && add > 0; i-- {
			sum := uint64(iv[i]) + add&0xff
			iv[i] = byte(sum)
			add = add>>8 + sum>>8
		}
		s, skip = cipher.NewCTR(block, iv), off%aes.BlockSize
	case ChaCha20:
		c, err := chacha20.NewUnauthenticatedCipher(k.Key, k.Nonce)
		if err != nil {
			return nil, fmt.Errorf("attack: chacha20: %w", err)
		}
		c.SetCounter(uint32(off / 64))
		s, skip = c, off%64
	default:
		return nil, fmt.Errorf("attack: unknown cipher %q", k.Cipher)
	}
	if skip > 0 {
		junk := make([]byte, skip)
		s.XORKeyStream(junk, junk)
	}
	return s, nil
}

// xor applies the keystream to data's ranges in place.
func (k Key) xor(data []byte) error {
	ranges := k.Ranges
	if ranges == nil {
		ranges = []Range{{0, int64(len(data))}}
	}
	for _, r := range ranges {
		end := min(r.Off+r.Len, int64(len(data)))
		if r.Off >= end {
			continue
		}
		s, err := k.stream(r.Off)
		if err != nil {
			return err
		}
		s.XORKeyStream(data[r.Off:end], data[r.Off:end])
	}
	return nil
}

// Encrypt returns the attacked form of plain (plain is not modified).
func (k Key) Encrypt(plain []byte) ([]byte, error) {
	out := append([]byte(nil), plain...)
	if err := k.xor(out); err != nil {
		return nil, err
	}
	switch k.Encoding {
	case Base64:
		return []byte(base64.StdEncoding.EncodeToString(out)), nil
	case Hex:
		return []byte(hex.EncodeToString(out)), nil
	}
	return out, nil
}

// Decrypt restores the plaintext from an attacked file's content.
func (k Key) Decrypt(data []byte) ([]byte, error) {
	var out []byte
	var err error
	switch k.Encoding {
	case Base64:
		out, err = base64.StdEncoding.DecodeString(string(data))
	case Hex:
		out, err = hex.DecodeString(string(data))
	default:
		out = append([]byte(nil), data...)
	}
	if err != nil {
		return nil, fmt.Errorf("attack: decode: %w", err)
	}
	if err := k.xor(out); err != nil {
		return nil, err
	}
	return out, nil
}

// stripes returns every'th-byte stripes of length n starting at 0:
// [0,n), [every, every+n), ... covering size bytes.
func stripes(size, n, every int64) []Range {
	var out []Range
	for off := int64(0); off < size; off += every {
		out = append(out, Range{off, min(n, size-off)})
	}
	return out
}
