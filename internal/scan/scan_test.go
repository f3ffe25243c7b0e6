package scan

import (
	"bytes"
	"strings"
	"testing"
)

func TestIdentifyAndValidate(t *testing.T) {
	for _, s := range samples(t, 1) {
		p := profile(t, s.name, s.data)
		if p.Format != s.want {
			t.Errorf("%s: format %s, want %s", s.name, p.Format, s.want)
		}
		if s.want.Known() && !p.Valid {
			t.Errorf("%s: not valid: %s", s.name, p.Problem)
		}
		if p.BytesRead > DefaultOptions().MaxRead+DefaultOptions().StructureRead {
			t.Errorf("%s: read %d bytes", s.name, p.BytesRead)
		}
	}
	elf := selfELF(t)
	p := profile(t, "scan.test", elf)
	if p.Format != FormatELF || !p.Valid {
		t.Errorf("test binary: %s valid=%v %s", p.Format, p.Valid, p.Problem)
	}
	if p.BytesRead > 2<<20 {
		t.Errorf("test binary of %d bytes: read %d", len(elf), p.BytesRead)
	}
}

func TestStructureChecksCatchDamage(t *testing.T) {
	for _, s := range samples(t, 2) {
		if !s.want.Known() {
			continue
		}
		d := bytes.Clone(s.data)
		// Keep the magic, destroy what follows it.
		enc := encryptRange(aesStream(t), d, 8, len(d))
		if p := profile(t, s.name, enc); p.Valid {
			t.Errorf("%s: magic-kept ciphertext passes as %s", s.name, p.Format)
		}
		if len(d) > 100 {
			tr := d[:len(d)*2/3]
			if p := profile(t, s.name, tr); p.Valid && s.want != FormatText && s.want != FormatTar && s.want != FormatGIF {
				t.Logf("%s: truncated copy still valid (%s)", s.name, p.Format)
			}
		}
	}
}

func TestFileEncryptionDetected(t *testing.T) {
	total, caught := 0, 0
	for seed := uint64(10); seed < 13; seed++ {
		for _, s := range samples(t, seed) {
			as := attacks()
			if s.want == FormatText {
				as = append(as, textAttacks()...)
			}
			for _, a := range as {
				enc := a.f(t, s.data)
				ev := compareFiles(t, s.name, s.data, enc)
				total++
				if ev.Strong {
					caught++
				} else {
					t.Errorf("%s/%s: not detected (weight %.2f, %q)", s.name, a.name, ev.Weight, ev.Reason)
				}
			}
		}
	}
	t.Logf("detected %d of %d encrypted files", caught, total)
}

func TestTinyFiles(t *testing.T) {
	for _, n := range []int{40, 64, 100, 127, 200} {
		txt := prose(uint64(n), n)
		ev := compareFiles(t, "short.txt", txt, encryptRange(aesStream(t), txt, 0, n))
		if !ev.Strong {
			t.Errorf("%d-byte text encrypted: not detected: %q", n, ev.Reason)
		}
		edit := append(bytes.Clone(txt[:n/2]), prose(uint64(n+1), n/2)...)
		if ev := compareFiles(t, "short.txt", txt, edit); ev.Weight > 0 {
			t.Errorf("%d-byte text edited: %q", n, ev.Reason)
		}
		tok := []byte(b64(randomBytes(n * 3 / 4)))
		if ev := compareFiles(t, "token", tok, []byte(b64(randomBytes(n*3/4)))); ev.Weight > 0 {
			t.Errorf("%d-byte token rotated: %q", n, ev.Reason)
		}
	}
}

func TestELFEncryptionDetected(t *testing.T) {
	elf := selfELF(t)
	for _, a := range attacks() {
		ev := compareFiles(t, "bin/tool", elf, a.f(t, elf))
		if !ev.Strong {
			t.Errorf("elf/%s: not detected: %q", a.name, ev.Reason)
		}
	}
}

// TestIntermittent covers large files with only part of the data
// encrypted: 1 MiB of every 10 MiB (from the start and shifted), the first
// 64 KiB only.
func TestIntermittent(t *testing.T) {
	const size = 40 << 20
	bases := map[string][]byte{
		"disk.img": plainBinary(5, size),
		"huge.log": prose(5, size),
	}
	for name, base := range bases {
		for _, start := range []int{0, 3 << 20, 5<<20 + 4096} {
			s := aesStream(t)
			enc := bytes.Clone(base)
			for off := start; off < size; off += 10 << 20 {
				end := min(off+1<<20, size)
				s.XORKeyStream(enc[off:end], enc[off:end])
			}
			if ev := compareFiles(t, name, base, enc); !ev.Strong {
				t.Errorf("%s: 1 MiB every 10 MiB from %d not detected: %q", name, start, ev.Reason)
			}
		}
		enc := encryptRange(aesStream(t), base, 0, 64<<10)
		if ev := compareFiles(t, name, base, enc); !ev.Strong {
			t.Errorf("%s: first 64 KiB not detected: %q", name, ev.Reason)
		}
		p := profile(t, name, base)
		if p.BytesRead > DefaultOptions().MaxRead+DefaultOptions().StructureRead {
			t.Errorf("%s: read %d bytes of %d", name, p.BytesRead, size)
		}
	}
}

func TestBenignChanges(t *testing.T) {
	text := prose(3, 300<<10)
	blob := randomBytes(3 << 20)
	blob2 := randomBytes(3<<20 + 1234)
	elf := selfELF(t)
	cases := []struct {
		name     string
		old, cur []byte
	}{
		{"log.txt", text, append(bytes.Clone(text), prose(4, 100<<10)...)},
		{"video.mp4", blob, blob2},
		{"secret.7z", randomBytes(200 << 10), randomBytes(210 << 10)},
		{"report.docx", makeZIP(t, 3, 8, true), makeZIP(t, 4, 9, true)},
		{"archive.zip", makeZIP(t, 3, 12, false), makeZIP(t, 5, 30, false)},
		{"photo.jpg", makeJPEG(t, 3), makeJPEG(t, 9)},
		{"image.png", makePNG(t, 3), makePNG(t, 4)},
		{"ledger.db", makeSQLite(t, 2000), makeSQLite(t, 2600)},
		{"data.tar", makeTar(t, 1, 10), makeTar(t, 2, 14)},
		{"paper.pdf", makePDF(1, 5), makePDF(2, 8)},
		{"text-became-gzip", text, makeGzip(t, text)},
		{"data.txt.gz", makeGzip(t, text), makeGzip(t, prose(8, 300<<10))},
		{"data.zst", makeZstd(t, text), makeZstd(t, prose(9, 400<<10))},
		{"records.bin", plainBinary(1, 300<<10), plainBinary(2, 320<<10)},
		{"clip.mp4", makeMP4(t, 1), makeMP4(t, 2)},
		{"sound.wav", makeWAV(1, 200<<10), makeWAV(2, 220<<10)},
		{"bin/tool", elf, otherELF(t, elf)},
	}
	for _, c := range cases {
		if ev := compareFiles(t, c.name, c.old, c.cur); ev.Weight > 0 {
			t.Errorf("%s: benign change flagged: %q (%.2f)", c.name, ev.Reason, ev.Weight)
		}
	}
	// New files.
	for _, s := range samples(t, 6) {
		r := examine(t.Context(), pair{cur: ref(s.name, s.data)}, DefaultOptions(), nil)
		mustT(t, r.err)
		if r.ev.Weight > 0 {
			t.Errorf("new %s flagged: %q", s.name, r.ev.Reason)
		}
	}
}

// otherELF finds another ELF executable on the machine: an "upgraded"
// binary.
func otherELF(t *testing.T, self []byte) []byte {
	for _, p := range []string{"/usr/bin/ls", "/bin/ls", "/usr/bin/cp", "/usr/bin/env"} {
		b := readFileOrNil(p)
		if bytes.HasPrefix(b, []byte("\x7fELF")) && !bytes.Equal(b, self) {
			return b
		}
	}
	t.Skip("no other ELF binary on this machine")
	return nil
}

func TestCellClasses(t *testing.T) {
	scratch := newScratch(4096)
	cases := []struct {
		name string
		data []byte
		want Class
	}{
		{"random", randomBytes(4096), ClassRandom},
		{"text", prose(1, 4096), ClassText},
		{"plain", plainBinary(1, 4096), ClassPlain},
		{"base64", []byte(strings.Repeat("", 0) + b64(randomBytes(3072))), ClassEncoded},
		{"hex", []byte(hexs(randomBytes(2048))), ClassEncoded},
		{"base64-of-text", []byte(b64(prose(2, 3072))), ClassText},
		{"small-random", randomBytes(200), ClassRandom},
		{"small-text", prose(3, 200), ClassText},
	}
	for _, c := range cases {
		rs := cellStats(c.data, 0, scratch)
		if rs.Class != c.want {
			t.Errorf("%s: class %s (entropy %.3f chi %.1f enc %q dchi %.1f), want %s", c.name, rs.Class, rs.Entropy, rs.ChiSquare, rs.Encoding, rs.DecodedChiSquare, c.want)
		}
	}
	// Compressed data is dense or random, never plain or text.
	z := makeGzip(t, prose(4, 1<<20))
	for off := 4096; off+4096 < len(z); off += 4096 {
		if rs := cellStats(z[off:off+4096], 0, scratch); rs.Class < ClassDense {
			t.Errorf("gzip cell at %d: %s", off, rs.Class)
		}
	}
}

// TestEncodedCiphertextOfBinaryFormats: a binary file (image, archive,
// PDF, database...) replaced by the base64 or hex of its ciphertext is
// strong evidence, although the result is valid text.
func TestEncodedCiphertextOfBinaryFormats(t *testing.T) {
	for _, s := range samples(t, 21) {
		if s.want == FormatText {
			continue
		}
		for _, a := range textAttacks() {
			if ev := compareFiles(t, s.name, s.data, a.f(t, s.data)); !ev.Strong {
				t.Errorf("%s/%s: not detected (weight %.2f, %q)", s.name, a.name, ev.Weight, ev.Reason)
			}
		}
		// Text that replaces a binary file is no evidence unless it
		// encodes random bytes.
		if ev := compareFiles(t, s.name, s.data, prose(5, len(s.data))); ev.Weight >= weightStrong {
			t.Errorf("%s replaced by prose: %q", s.name, ev.Reason)
		}
	}
}

// TestShortEncodedCells: base64 or hex cells whose decoded bytes are too
// few for chi-square (a short file) are encoded-random when the decoded
// bytes have as many distinct values as random bytes would, and not when
// they are text or repetitive.
func TestShortEncodedCells(t *testing.T) {
	sc := newScratch(4096)
	for _, n := range []int{48, 80, 107, 120} {
		r := randomBytes(n)
		for name, cell := range map[string]string{"base64": b64(r), "hex": hexs(r)} {
			if len(cell) < minCell {
				continue
			}
			if c := cellStats([]byte(cell), 0, sc).Class; c != ClassEncoded {
				t.Errorf("%s of %d random bytes: %s", name, n, c)
			}
		}
		txt := prose(uint64(n), n)
		for name, cell := range map[string]string{"base64": b64(txt), "hex": hexs(txt), "zeros": hexs(make([]byte, n))} {
			if len(cell) < minCell {
				continue
			}
			if c := cellStats([]byte(cell), 0, sc).Class; c == ClassEncoded || c == ClassRandom {
				t.Errorf("%s of %d plain bytes: %s", name, n, c)
			}
		}
	}
	// A short text file replaced by the base64 of its ciphertext.
	old := []byte("# github.com/ianlancetaylor/demangle\n\nA Go package that can be used to demangle C++ and Rust symbol names.\n")
	for _, a := range textAttacks() {
		if ev := compareFiles(t, "README.md", old, a.f(t, old)); !ev.Strong {
			t.Errorf("%s of a %d-byte text: not detected (%q)", a.name, len(old), ev.Reason)
		}
	}
}

// TestBzip2 checks identification and the end-of-stream check, and that
// compressing a file with bzip2 is not evidence while encrypting a
// bzip2 file past its header is.
func TestBzip2(t *testing.T) {
	text := prose(31, 150<<10)
	for _, data := range [][]byte{readTestdata(t, "words.txt.bz2"), makeBzip2(t, text)} {
		p := profile(t, "x.bz2", data)
		if p.Format != FormatBzip2 || !p.Valid {
			t.Fatalf("bzip2: %s valid %v %q", p.Format, p.Valid, p.Problem)
		}
		if p := profile(t, "x.bz2", data[:len(data)-3]); p.Valid {
			t.Error("truncated bzip2 is valid")
		}
		if ev := compareFiles(t, "x.bz2", data, encryptRange(aesStream(t), data, 4096, len(data))); !ev.Strong {
			t.Errorf("bzip2 encrypted past 4 KiB: %q", ev.Reason)
		}
	}
	if ev := compareFiles(t, "x", text, makeBzip2(t, text)); ev.Weight > 0 {
		t.Errorf("bzip2 compression flagged: %q", ev.Reason)
	}
	// Header encrypted: the format is lost.
	data := makeBzip2(t, text)
	if ev := compareFiles(t, "x.bz2", data, encryptRange(aesStream(t), data, 0, 4096)); !ev.Strong {
		t.Errorf("bzip2 header encrypted: %q", ev.Reason)
	}
}

// TestVeryShortFiles: files of 8 to 31 bytes (a host name, a one-line
// source file) judged whole: random replacements are random, text is
// text, short binary records are too short to judge, and a short text
// file encrypted is strong evidence.
func TestVeryShortFiles(t *testing.T) {
	sc := newScratch(4096)
	for _, n := range []int{8, 10, 16, 24, 31} {
		miss := 0
		for i := 0; i < 200; i++ {
			if cellStats(randomBytes(n), 0, sc).Class != ClassRandom {
				miss++
			}
		}
		// Random bytes are occasionally valid UTF-8 or short of distinct
		// values; at 8 bytes a few in a hundred.
		if miss > 200*6/100 {
			t.Errorf("%d random bytes: %d of 200 not random", n, miss)
		}
		for _, txt := range [][]byte{prose(uint64(n), n), []byte("package d\n0123456789abcdefghijklmnopq")[:n]} {
			if c := cellStats(txt, 0, sc).Class; c != ClassText {
				t.Errorf("%d bytes of text %q: %s", n, txt, c)
			}
		}
		rec := make([]byte, n)
		rec[0], rec[3], rec[n-1] = 1, 0x80, 7
		if c := cellStats(rec, 0, sc).Class; c == ClassRandom {
			t.Errorf("%d-byte record: %s", n, c)
		}
	}
	for _, s := range []string{"Google.com\n", "package d\n", "hostname-01\n", "FIPS 140-3 ok\n\n\n"} {
		old := []byte(s)
		caught := 0
		for i := 0; i < 20; i++ {
			if ev := compareFiles(t, "f.txt", old, encryptRange(aesStream(t), old, 0, len(old))); ev.Strong {
				caught++
			}
		}
		if caught < 18 {
			t.Errorf("%q encrypted: %d of 20 detected", s, caught)
		}
		if ev := compareFiles(t, "f.txt", old, []byte(strings.ToUpper(s))); ev.Weight > 0 {
			t.Errorf("%q edited: %q", s, ev.Reason)
		}
	}
}

// TestShortEncodedFiles: text files of 64 to 127 bytes that are one
// base64 or hex word of random bytes are encoded-random; words,
// identifiers, sentences and repetitive hex are not.
func TestShortEncodedFiles(t *testing.T) {
	sc := newScratch(4096)
	miss := 0
	for i := 0; i < 100; i++ {
		for _, n := range []int{48, 61, 90} {
			r := randomBytes(n)
			for _, cell := range []string{b64(r), b64(r) + "\n", hexs(r[:n/2+8])} {
				if len(cell) < minShortEncoded || len(cell) >= minCell {
					continue
				}
				if cellStats([]byte(cell), 0, sc).Class != ClassEncoded {
					miss++
				}
			}
		}
	}
	if miss > 6 {
		t.Errorf("%d of about 600 short encoded cells missed", miss)
	}
	for _, s := range []string{
		"Supercalifragilisticexpialidocious_and_antidisestablishmentarianism_together",
		"github.com/ianlancetaylor/demangle/internal/testdata/rust-symbols-v0.txt",
		"The quick brown fox jumps over the lazy dog while the cat sleeps by the fire\n",
		"deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef00112233",
		"MyVeryLongJavaClassNameFactoryBeanProviderImplementationSingletonHolder2",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
	} {
		if c := cellStats([]byte(s), 0, sc).Class; c != ClassText {
			t.Errorf("%q: %s", s, c)
		}
	}
	old := []byte("Today is a good day to write down a fortune for later.\nLuck favours you.\n")
	for _, a := range textAttacks() {
		if ev := compareFiles(t, "fortune.txt", old, a.f(t, old)); !ev.Strong {
			t.Errorf("%s of a %d-byte text: %q", a.name, len(old), ev.Reason)
		}
	}
}
