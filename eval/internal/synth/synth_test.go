package synth

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/pbkdf2"
)

func prose() *Prose { return NewProse(nil, rand.New(rand.NewPCG(1, 1))) }

// TestZipAESDecrypts decrypts a WinZip AE-2 entry the way 7-Zip does.
func TestZipAESDecrypts(t *testing.T) {
	plain := bytes.Repeat([]byte("confidential ledger line\n"), 500)
	data, err := ZipAES(map[string][]byte{"a.txt": plain}, []string{"a.txt"}, "pw", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f := zr.File[0]
	if f.Method != ZipAESMethod || f.Flags&1 == 0 || !bytes.Contains(f.Extra, []byte("AE")) {
		t.Fatalf("header: method %d flags %x extra %x", f.Method, f.Flags, f.Extra)
	}
	rc, err := f.OpenRaw()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	salt, verifier, ct, mac := raw[:16], raw[16:18], raw[18:len(raw)-10], raw[len(raw)-10:]
	dk := pbkdf2.Key([]byte("pw"), salt, 1000, 66, sha1.New)
	if !bytes.Equal(dk[64:], verifier) {
		t.Fatal("password verifier mismatch")
	}
	h := hmac.New(sha1.New, dk[32:64])
	h.Write(ct)
	if !bytes.Equal(h.Sum(nil)[:10], mac) {
		t.Fatal("authentication code mismatch")
	}
	block, _ := aes.NewCipher(dk[:32])
	var ctr, ks [16]byte
	for off := 0; off < len(ct); off += 16 {
		binary.LittleEndian.PutUint64(ctr[:], uint64(off/16+1))
		block.Encrypt(ks[:], ctr[:])
		for i := 0; i < 16 && off+i < len(ct); i++ {
			ct[off+i] ^= ks[i]
		}
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(ct)))
	if err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("decrypted entry differs: %v", err)
	}
}

func TestPGPRoundTrip(t *testing.T) {
	msg, err := PGP([]byte("hello vault"), "pw")
	if err != nil {
		t.Fatal(err)
	}
	out, err := PGPDecrypt(msg, "pw")
	if err != nil || string(out) != "hello vault" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestPDFXref(t *testing.T) {
	data, err := PDF(prose(), 3)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no startxref")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(data[xref:], []byte("xref\n0 ")) {
		t.Fatal("startxref does not point at the xref table")
	}
	entries := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllSubmatch(data[xref:], -1)
	if len(entries) < 8 {
		t.Fatalf("%d xref entries", len(entries))
	}
	for i, e := range entries {
		off, _ := strconv.Atoi(string(e[1]))
		if want := fmt.Sprintf("%d 0 obj", i+1); !bytes.HasPrefix(data[off:], []byte(want)) {
			t.Errorf("xref entry %d points at %q", i+1, data[off:off+12])
		}
	}
}

func TestSQLiteAndMedia(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.db")
	if err := SQLite(p, prose(), 200<<10); err != nil {
		t.Fatal(err)
	}
	n, err := SQLiteRows(p)
	if err != nil || n == 0 {
		t.Fatalf("%d rows, %v", n, err)
	}
	if err := GrowSQLite(p, prose(), 0); err != nil {
		t.Fatal(err)
	}
	if m, _ := SQLiteRows(p); m <= n {
		t.Errorf("grow: %d -> %d rows", n, m)
	}
	j, err := JPEG(rand.New(rand.NewPCG(1, 2)), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(j)); err != nil {
		t.Fatal(err)
	}
	v := MP4(rand.New(rand.NewPCG(1, 3)), 100<<10)
	if string(v[4:8]) != "ftyp" || binary.BigEndian.Uint32(v) != 32 || !bytes.Contains(v[:300], []byte("moov")) {
		t.Errorf("mp4 header %q", v[:64])
	}
	w := WAV(rand.New(rand.NewPCG(1, 4)), 1)
	if string(w[:4]) != "RIFF" || string(w[8:12]) != "WAVE" {
		t.Error("wav header")
	}
	// The RIFF size covers the file; the fmt chunk is complete (PCM, 16
	// bits) and the data chunk follows it.
	if int(binary.LittleEndian.Uint32(w[4:])) != len(w)-8 || string(w[12:16]) != "fmt " ||
		binary.LittleEndian.Uint32(w[16:]) != 16 || binary.LittleEndian.Uint16(w[34:]) != 16 || string(w[36:40]) != "data" ||
		int(binary.LittleEndian.Uint32(w[40:])) != len(w)-44 {
		t.Errorf("wav layout %q", w[:44])
	}
}
