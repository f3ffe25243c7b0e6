package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fuzzOptions are small so that fuzz inputs exercise sampling, strided
// blocks and reads beyond the buffers.
func fuzzOptions() Options {
	return Options{MaxRead: 16 << 10, HeadSize: 2048, TailSize: 2048, SampleSize: 1024, CellSize: 512, StructureRead: 8 << 10}.withDefaults()
}

func fuzzAnalyze(t *testing.T, data []byte, force Format) {
	o := fuzzOptions()
	p, err := analyzePlan(context.Background(), bytes.NewReader(data), int64(len(data)), "f", o, o.plan(int64(len(data))), force, true, nil)
	if err != nil {
		t.Fatalf("analyze of in-memory data failed: %v", err)
	}
	if p.BytesRead > o.MaxRead+o.StructureRead+16 {
		t.Fatalf("read %d bytes, bound %d", p.BytesRead, o.MaxRead+o.StructureRead)
	}
	if p.Valid && p.Problem != "" {
		t.Fatalf("valid with problem %q", p.Problem)
	}
}

func FuzzIdentify(f *testing.F) {
	f.Fuzz(func(t *testing.T, header []byte, name string) {
		fm := Identify(header, name)
		if fm == "" {
			t.Fatal("empty format")
		}
	})
}

func FuzzAnalyze(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzAnalyze(t, data, "") })
}

// FuzzCompare judges two arbitrary versions of a file.
func FuzzCompare(f *testing.F) {
	f.Fuzz(func(t *testing.T, old, cur []byte) {
		o := fuzzOptions()
		r := examine(context.Background(), pair{old: ref("a.docx", old), cur: ref("a.docx.x", cur)}, o, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.ev.Weight < 0 || (r.ev.Strong && r.ev.Weight != weightStrong) {
			t.Fatalf("evidence %+v", r.ev)
		}
	})
}

func FuzzCheckZIP(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatZIP) })
}
func FuzzCheckPDF(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatPDF) })
}
func FuzzCheckJPEG(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatJPEG) })
}
func FuzzCheckPNG(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatPNG) })
}
func FuzzCheckGIF(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatGIF) })
}
func FuzzCheckSQLite(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatSQLite) })
}
func FuzzCheckELF(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatELF) })
}
func FuzzCheckGzip(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatGzip) })
}
func FuzzCheckXZ(f *testing.F) { f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatXZ) }) }
func FuzzCheckBzip2(f *testing.F) {
	f.Add(readTestdata(f, "words.txt.bz2"))
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatBzip2) })
}
func FuzzCheckZstd(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatZstd) })
}
func FuzzCheckTar(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatTar) })
}
func FuzzCheckMP4(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatMP4) })
}
func FuzzCheckRIFF(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatRIFF) })
}
func FuzzCheckText(f *testing.F) {
	f.Fuzz(func(t *testing.T, d []byte) { fuzzAnalyze(t, d, FormatText) })
}

// tinyELF is a minimal valid 64-bit little-endian ELF executable header
// with one program header.
func tinyELF() []byte {
	b := make([]byte, 64+56+16)
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)    // ET_EXEC
	le.PutUint16(b[18:], 0x3E) // x86-64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], 0x400078)
	le.PutUint64(b[32:], 64) // phoff
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 1)
	le.PutUint16(b[58:], 64)
	ph := b[64:]
	le.PutUint32(ph, 1) // PT_LOAD
	le.PutUint32(ph[4:], 5)
	le.PutUint64(ph[32:], uint64(len(b)))
	le.PutUint64(ph[40:], uint64(len(b)))
	return b
}

// TestWriteFuzzSeeds regenerates the checked-in seed corpora under
// testdata/fuzz when SCAN_WRITE_FUZZ_SEEDS=1, and otherwise checks that
// they exist.
func TestWriteFuzzSeeds(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	enc := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		mustT(t, f(&b))
		return b.Bytes()
	}
	pngB := enc(func(b *bytes.Buffer) error { return png.Encode(b, img) })
	jpgB := enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) })
	gifB := enc(func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) })
	text := prose(1, 600)
	zipB := makeZIP(t, 1, 2, false)
	if len(zipB) > 8<<10 {
		t.Logf("zip seed is %d bytes", len(zipB))
	}
	pdfB := makePDF(1, 1)
	gzB := makeGzip(t, text)
	zstB := makeZstd(t, text)
	tarB := makeTar(t, 1, 1)
	xzB := readTestdata(t, "words.txt.xz")
	if _, err := exec.LookPath("xz"); err == nil {
		xzB = makeXZ(t, text)
	}
	dbB := readTestdata(t, "tiny.db")
	elfB := tinyELF()
	seeds := map[string][][]byte{
		"FuzzCheckZIP":    {zipB},
		"FuzzCheckPDF":    {pdfB},
		"FuzzCheckJPEG":   {jpgB},
		"FuzzCheckPNG":    {pngB},
		"FuzzCheckGIF":    {gifB},
		"FuzzCheckSQLite": {dbB},
		"FuzzCheckELF":    {elfB},
		"FuzzCheckGzip":   {gzB},
		"FuzzCheckXZ":     {xzB},
		"FuzzCheckZstd":   {zstB},
		"FuzzCheckTar":    {tarB},
		"FuzzCheckText":   {text},
		"FuzzCheckMP4":    {append(box("ftyp", []byte("isom\x00\x00\x02\x00isom")), append(box("mdat", jpgB), box("moov", box("mvhd", make([]byte, 100)))...)...)},
		"FuzzCheckRIFF":   {makeWAV(1, 2000)},
		"FuzzAnalyze":     {zipB, pdfB, pngB, gzB, tarB, elfB, text, randomBytes(3000)},
	}
	// Every parser seed is valid under its parser, also with the small
	// fuzzing buffers that force reads beyond the sampled regions.
	for name, list := range seeds {
		fm, ok := map[string]Format{"FuzzCheckZIP": FormatZIP, "FuzzCheckPDF": FormatPDF, "FuzzCheckJPEG": FormatJPEG,
			"FuzzCheckPNG": FormatPNG, "FuzzCheckGIF": FormatGIF, "FuzzCheckSQLite": FormatSQLite, "FuzzCheckELF": FormatELF,
			"FuzzCheckGzip": FormatGzip, "FuzzCheckXZ": FormatXZ, "FuzzCheckZstd": FormatZstd, "FuzzCheckTar": FormatTar,
			"FuzzCheckText": FormatText, "FuzzCheckMP4": FormatMP4, "FuzzCheckRIFF": FormatRIFF}[name]
		if !ok {
			continue
		}
		o := fuzzOptions()
		d := list[0]
		p, err := analyzePlan(t.Context(), bytes.NewReader(d), int64(len(d)), "seed", o, o.plan(int64(len(d))), "", true, nil)
		mustT(t, err)
		if p.Format != fm || !p.Valid {
			t.Errorf("%s seed: %s valid=%v %s", name, p.Format, p.Valid, p.Problem)
		}
	}
	write := os.Getenv("SCAN_WRITE_FUZZ_SEEDS") == "1"
	for name, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", name)
		if !write {
			if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
				t.Errorf("no seed corpus in %s", dir)
			}
			continue
		}
		mustT(t, os.MkdirAll(dir, 0o755))
		for i, d := range list {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d)
			mustT(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644))
		}
	}
	if write {
		for name, args := range map[string][]string{
			"FuzzIdentify": {fmt.Sprintf("[]byte(%q)\nstring(%q)", zipB[:64], "a.docx"), fmt.Sprintf("[]byte(%q)\nstring(%q)", tarB[:512], "a.tar")},
			"FuzzCompare":  {fmt.Sprintf("[]byte(%q)\n[]byte(%q)", zipB, encryptRange(aesStream(t), zipB, 8, len(zipB))), fmt.Sprintf("[]byte(%q)\n[]byte(%q)", text, b64(text))},
		} {
			dir := filepath.Join("testdata", "fuzz", name)
			mustT(t, os.MkdirAll(dir, 0o755))
			for i, a := range args {
				mustT(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte("go test fuzz v1\n"+a+"\n"), 0o644))
			}
		}
	}
}
