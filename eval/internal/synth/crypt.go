package synth

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/openpgp"        //nolint:staticcheck // frozen but produces real OpenPGP messages
	"golang.org/x/crypto/openpgp/packet" //nolint:staticcheck // see above
	"golang.org/x/crypto/pbkdf2"
)

// ZipAESMethod is the ZIP compression method id of WinZip AES entries.
const ZipAESMethod = 99

// ZipAES returns a ZIP archive whose entries are encrypted with WinZip AE-2
// (AES-256 in WinZip's little-endian CTR mode, PBKDF2-HMAC-SHA1 key
// derivation, HMAC-SHA1 authentication code), deflate-compressed first, as
// 7-Zip and WinZip write them. Salts come from crypto/rand.
func ZipAES(files map[string][]byte, order []string, password string, mod time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range order {
		var comp bytes.Buffer
		fw, err := flate.NewWriter(&comp, flate.DefaultCompression)
		if err != nil {
			return nil, fmt.Errorf("zipaes %s: %w", name, err)
		}
		if _, err := fw.Write(files[name]); err != nil {
			return nil, fmt.Errorf("zipaes %s: %w", name, err)
		}
		if err := fw.Close(); err != nil {
			return nil, fmt.Errorf("zipaes %s: %w", name, err)
		}
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("zipaes salt: %w", err)
		}
		dk := pbkdf2.Key([]byte(password), salt, 1000, 66, sha1.New)
		block, err := aes.NewCipher(dk[:32])
		if err != nil {
			return nil, fmt.Errorf("zipaes %s: %w", name, err)
		}
		data := comp.Bytes()
		var ctr, ks [16]byte
		for off := 0; off < len(data); off += 16 {
			binary.LittleEndian.PutUint64(ctr[:], uint64(off/16+1))
			block.Encrypt(ks[:], ctr[:])
			for i := 0; i < 16 && off+i < len(data); i++ {
				data[off+i] ^= ks[i]
			}
		}
		mac := hmac.New(sha1.New, dk[32:64])
		mac.Write(data)
		payload := append(append(append(salt, dk[64:66]...), data...), mac.Sum(nil)[:10]...)
		extra := []byte{0x01, 0x99, 7, 0, 2, 0, 'A', 'E', 3, byte(zip.Deflate), 0}
		d, t := DOSTime(mod)
		h := &zip.FileHeader{
			Name: name, Method: ZipAESMethod, Flags: 0x1, ModifiedDate: d, ModifiedTime: t, Extra: extra,
			CompressedSize64: uint64(len(payload)), UncompressedSize64: uint64(len(files[name])),
		}
		w, err := zw.CreateRaw(h)
		if err != nil {
			return nil, fmt.Errorf("zipaes %s: %w", name, err)
		}
		if _, err := w.Write(payload); err != nil {
			return nil, fmt.Errorf("zipaes %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zipaes close: %w", err)
	}
	return buf.Bytes(), nil
}

// PGP returns a real OpenPGP symmetrically encrypted message (like
// `gpg --symmetric`: an SKESK packet with iterated S2K, then an integrity
// protected AES-256 data packet holding a ZLIB-compressed literal packet) of plaintext.
func PGP(plaintext []byte, password string) ([]byte, error) {
	var buf bytes.Buffer
	w, err := openpgp.SymmetricallyEncrypt(&buf, []byte(password), &openpgp.FileHints{IsBinary: true},
		&packet.Config{DefaultCipher: packet.CipherAES256, DefaultCompressionAlgo: packet.CompressionZLIB})
	if err != nil {
		return nil, fmt.Errorf("pgp encrypt: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("pgp encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// PGPDecrypt opens a message written by PGP; used by tests.
func PGPDecrypt(msg []byte, password string) ([]byte, error) {
	tried := false
	md, err := openpgp.ReadMessage(bytes.NewReader(msg), nil, func([]openpgp.Key, bool) ([]byte, error) {
		if tried {
			return nil, fmt.Errorf("wrong password")
		}
		tried = true
		return []byte(password), nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("pgp decrypt: %w", err)
	}
	b, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		return nil, fmt.Errorf("pgp decrypt: %w", err)
	}
	return b, nil
}
