package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20"
)

// words is a small vocabulary for generated prose.
var words = strings.Fields(`the quick brown fox jumps over a lazy dog while backup
restore point source vault chunk index tree archive report quarterly budget
meeting minutes customer invoice payment schedule project plan review notes
summary action items owner status risk mitigation deadline engineering design`)

// prose returns n bytes of deterministic English-like text.
func prose(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		for i := 0; i < 8+r.IntN(8); i++ {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString(fmt.Sprintf("%d.\n", r.IntN(10000)))
	}
	return b.Bytes()[:n]
}

// plainBinary returns n bytes of structured, low-entropy binary data, like
// a database or a disk image.
func plainBinary(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := 0; i+16 <= n; i += 16 {
		rec := b[i : i+16]
		rec[0], rec[1] = 0xAB, byte(i>>4)
		v := uint32(r.IntN(1000))
		rec[4], rec[5] = byte(v), byte(v>>8)
		copy(rec[8:], "rec-")
	}
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustT(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func makeZIP(t testing.TB, seed uint64, entries int, officeNames bool) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < entries; i++ {
		name := fmt.Sprintf("doc/part%d.txt", i)
		if officeNames {
			name = []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml", "word/styles.xml", "docProps/core.xml"}[i%5]
			if i >= 5 {
				name = fmt.Sprintf("word/media/part%d.xml", i)
			}
		}
		w, err := zw.Create(name)
		mustT(t, err)
		w.Write([]byte("<?xml version=\"1.0\"?><w:document><w:body>"))
		w.Write(prose(seed+uint64(i), 3000+int(seed%7)*500))
		w.Write([]byte("</w:body></w:document>"))
	}
	mustT(t, zw.Close())
	return buf.Bytes()
}

func makeGzip(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = "data.txt"
	zw.Write(data)
	mustT(t, zw.Close())
	return buf.Bytes()
}

func makeZstd(t testing.TB, data []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	mustT(t, err)
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

func makeTar(t testing.TB, seed uint64, files int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < files; i++ {
		body := prose(seed+uint64(i), 1000+i*700)
		mustT(t, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("dir/file%d.txt", i), Mode: 0o644, Size: int64(len(body)), Format: tar.FormatPAX}))
		tw.Write(body)
	}
	mustT(t, tw.Close())
	return buf.Bytes()
}

func testImage(seed uint64, w, h int) *image.RGBA {
	r := mrand.New(mrand.NewPCG(seed, 3))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x + int(seed)), uint8(y * 2), uint8((x ^ y) + r.IntN(24)), 255})
		}
	}
	return img
}

func makePNG(t testing.TB, seed uint64) []byte {
	var buf bytes.Buffer
	mustT(t, png.Encode(&buf, testImage(seed, 320, 240)))
	return buf.Bytes()
}

func makeJPEG(t testing.TB, seed uint64) []byte {
	var buf bytes.Buffer
	mustT(t, jpeg.Encode(&buf, testImage(seed, 640, 480), &jpeg.Options{Quality: 85}))
	return buf.Bytes()
}

func makeGIF(t testing.TB, seed uint64) []byte {
	var buf bytes.Buffer
	mustT(t, gif.Encode(&buf, testImage(seed, 200, 150), nil))
	return buf.Bytes()
}

// makePDF writes a minimal valid PDF with a correct cross-reference table.
func makePDF(seed uint64, pages int) []byte {
	var b bytes.Buffer
	var offs []int
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj := func(s string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), s)
	}
	kids := ""
	for i := 0; i < pages; i++ {
		kids += fmt.Sprintf("%d 0 R ", 3+2*i)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", kids, pages))
	for i := 0; i < pages; i++ {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>", 4+2*i))
		text := prose(seed+uint64(i), 1500)
		stream := fmt.Sprintf("BT /F1 12 Tf 72 712 Td (%s) Tj ET", bytes.ReplaceAll(text, []byte("\n"), []byte(" ")))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream))
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, x)
	return b.Bytes()
}

func readTestdata(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	mustT(t, err)
	return b
}

// makeSQLite returns a real database: made by the sqlite3 command when it
// is installed, else the checked-in one.
func makeSQLite(t testing.TB, rows int) []byte {
	if _, err := exec.LookPath("sqlite3"); err == nil && rows > 0 {
		p := filepath.Join(t.TempDir(), "x.db")
		sql := fmt.Sprintf("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, body TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%d) INSERT INTO t SELECT x, 'row ' || x, 'an ordinary record of the ledger, number ' || x || ', with some words in it' FROM c; CREATE INDEX n ON t(name);", rows)
		if out, err := exec.Command("sqlite3", p, sql).CombinedOutput(); err == nil {
			b, err := os.ReadFile(p)
			mustT(t, err)
			return b
		} else {
			t.Logf("sqlite3: %v: %s", err, out)
		}
	}
	return readTestdata(t, "notes.db")
}

// makeXZ compresses with the xz command when installed, else returns the
// checked-in file.
func makeXZ(t testing.TB, data []byte) []byte {
	if _, err := exec.LookPath("xz"); err == nil && data != nil {
		cmd := exec.Command("xz", "-c", "-6")
		cmd.Stdin = bytes.NewReader(data)
		if out, err := cmd.Output(); err == nil {
			return out
		}
	}
	return readTestdata(t, "words.txt.xz")
}

// makeBzip2 compresses with the bzip2 command when installed, else
// returns the checked-in file.
func makeBzip2(t testing.TB, data []byte) []byte {
	if _, err := exec.LookPath("bzip2"); err == nil && data != nil {
		cmd := exec.Command("bzip2", "-c", "-9")
		cmd.Stdin = bytes.NewReader(data)
		if out, err := cmd.Output(); err == nil {
			return out
		}
	}
	return readTestdata(t, "words.txt.bz2")
}

func selfELF(t testing.TB) []byte {
	p, err := os.Executable()
	mustT(t, err)
	b, err := os.ReadFile(p)
	mustT(t, err)
	return b
}

// sample is one real file of a format.
type sample struct {
	name string
	data []byte
	want Format
}

// samples builds one real file of every format.
func samples(t testing.TB, seed uint64) []sample {
	text := prose(seed, 200<<10)
	return []sample{
		{"notes.txt", prose(seed, 30<<10), FormatText},
		{"big.log", text, FormatText},
		{"archive.zip", makeZIP(t, seed, 12, false), FormatZIP},
		{"report.docx", makeZIP(t, seed, 8, true), FormatOffice},
		{"paper.pdf", makePDF(seed, 12), FormatPDF},
		{"photo.jpg", makeJPEG(t, seed), FormatJPEG},
		{"image.png", makePNG(t, seed), FormatPNG},
		{"anim.gif", makeGIF(t, seed), FormatGIF},
		{"ledger.db", makeSQLite(t, 2000+int(seed%5)*100), FormatSQLite},
		{"data.txt.gz", makeGzip(t, text), FormatGzip},
		{"data.txt.xz", makeXZ(t, text), FormatXZ},
		{"data.txt.zst", makeZstd(t, text), FormatZstd},
		{"data.txt.bz2", makeBzip2(t, text), FormatBzip2},
		{"bundle.tar", makeTar(t, seed, 20), FormatTar},
		{"records.bin", plainBinary(seed, 300<<10), FormatUnknown},
		{"clip.mp4", makeMP4(t, seed), FormatMP4},
		{"sound.wav", makeWAV(seed, 200<<10), FormatRIFF},
	}
}

// ---- encryption ----

func aesStream(t testing.TB) cipher.Stream {
	key := randomBytes(32)
	blk, err := aes.NewCipher(key)
	mustT(t, err)
	return cipher.NewCTR(blk, randomBytes(16))
}

func chachaStream(t testing.TB) cipher.Stream {
	c, err := chacha20.NewUnauthenticatedCipher(randomBytes(32), randomBytes(12))
	mustT(t, err)
	return c
}

// encryptRange returns a copy of data with [from,to) encrypted in place.
func encryptRange(s cipher.Stream, data []byte, from, to int) []byte {
	out := bytes.Clone(data)
	from, to = max(0, min(from, len(out))), max(0, min(to, len(out)))
	s.XORKeyStream(out[from:to], out[from:to])
	return out
}

// attack is one way to encrypt a file.
type attack struct {
	name string
	f    func(t testing.TB, data []byte) []byte
}

func attacks() []attack {
	return []attack{
		{"full-aes", func(t testing.TB, d []byte) []byte { return encryptRange(aesStream(t), d, 0, len(d)) }},
		{"full-chacha-footer", func(t testing.TB, d []byte) []byte {
			return append(encryptRange(chachaStream(t), d, 0, len(d)), randomBytes(512)...)
		}},
		{"header-4k", func(t testing.TB, d []byte) []byte { return encryptRange(aesStream(t), d, 0, 4096) }},
		{"first-64k", func(t testing.TB, d []byte) []byte { return encryptRange(aesStream(t), d, 0, 64<<10) }},
		{"magic-kept", func(t testing.TB, d []byte) []byte { return encryptRange(aesStream(t), d, 16, len(d)) }},
		{"skip-step", func(t testing.TB, d []byte) []byte {
			s := aesStream(t)
			out := bytes.Clone(d)
			for off := 0; off < len(out); off += 64 << 10 {
				end := min(off+16<<10, len(out))
				s.XORKeyStream(out[off:end], out[off:end])
			}
			return out
		}},
	}
}

// textAttacks re-encode ciphertext as text.
func textAttacks() []attack {
	return []attack{
		{"base64", func(t testing.TB, d []byte) []byte {
			c := encryptRange(aesStream(t), d, 0, len(d))
			return []byte(base64.StdEncoding.EncodeToString(c))
		}},
		{"base64-lines", func(t testing.TB, d []byte) []byte {
			c := []byte(base64.StdEncoding.EncodeToString(encryptRange(aesStream(t), d, 0, len(d))))
			var b bytes.Buffer
			for len(c) > 76 {
				b.Write(c[:76])
				b.WriteByte('\n')
				c = c[76:]
			}
			b.Write(c)
			return b.Bytes()
		}},
		{"hex", func(t testing.TB, d []byte) []byte {
			return []byte(hex.EncodeToString(encryptRange(aesStream(t), d, 0, len(d))))
		}},
	}
}

// ---- file refs ----

func ref(p string, data []byte) *FileRef {
	return &FileRef{Path: p, Size: int64(len(data)), Open: func(context.Context) (io.ReaderAt, error) {
		return bytes.NewReader(data), nil
	}}
}

func profile(t testing.TB, name string, data []byte) Profile {
	t.Helper()
	p, err := Analyze(context.Background(), bytes.NewReader(data), int64(len(data)), name, Options{})
	mustT(t, err)
	return p
}

// compareFiles runs the same sampling Judge uses for a modified file.
func compareFiles(t testing.TB, name string, old, cur []byte) Evidence {
	t.Helper()
	r := examine(context.Background(), pair{old: ref(name, old), cur: ref(name, cur)}, DefaultOptions(), nil)
	mustT(t, r.err)
	return r.ev
}

func b64(p []byte) string  { return base64.StdEncoding.EncodeToString(p) }
func hexs(p []byte) string { return hex.EncodeToString(p) }

func readFileOrNil(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

func box(typ string, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(8+len(body)))
	copy(b[4:], typ)
	return append(b, body...)
}

// makeMP4 builds an ISO media file: ftyp, an mdat of JPEG frames (dense
// media data) and a moov with sample tables.
func makeMP4(t testing.TB, seed uint64) []byte {
	var mdat []byte
	for i := 0; i < 6; i++ {
		mdat = append(mdat, makeJPEG(t, seed+uint64(i))...)
	}
	moov := box("moov", append(box("mvhd", make([]byte, 100)), box("trak", plainBinary(seed, 8<<10))...))
	out := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41"))
	out = append(out, box("mdat", mdat)...)
	return append(out, moov...)
}

// makeWAV builds a RIFF WAVE file of 16-bit PCM.
func makeWAV(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 4))
	pcm := make([]byte, n)
	for i := 0; i+1 < n; i += 2 {
		v := int16(8000*math.Sin(float64(i)/40) + float64(r.IntN(200)))
		binary.LittleEndian.PutUint16(pcm[i:], uint16(v))
	}
	fmtc := make([]byte, 16)
	binary.LittleEndian.PutUint16(fmtc, 1)
	binary.LittleEndian.PutUint16(fmtc[2:], 1)
	binary.LittleEndian.PutUint32(fmtc[4:], 44100)
	binary.LittleEndian.PutUint32(fmtc[8:], 88200)
	binary.LittleEndian.PutUint16(fmtc[12:], 2)
	binary.LittleEndian.PutUint16(fmtc[14:], 16)
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+16+8+len(pcm)))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	b.Write(fmtc)
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(len(pcm)))
	b.Write(pcm)
	return b.Bytes()
}
