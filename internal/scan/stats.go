package scan

import (
	"encoding/binary"
	"math"
)

// Class is the kind of content a sampled cell holds, judged from its byte
// statistics.
type Class uint8

// Cell classes, from least to most random.
const (
	// ClassTiny is a cell too short to judge.
	ClassTiny Class = iota
	// ClassText is printable text that is not an encoding of random bytes.
	ClassText
	// ClassPlain is binary data with visible structure (low entropy).
	ClassPlain
	// ClassDense is high-entropy data that is not uniform, typical of
	// compressed streams and media.
	ClassDense
	// ClassEncoded is base64 or hex text whose decoded bytes are uniformly
	// random: ciphertext made to look like text.
	ClassEncoded
	// ClassRandom is data indistinguishable from uniform random bytes.
	ClassRandom
)

// String names the class.
func (c Class) String() string {
	switch c {
	case ClassTiny:
		return "tiny"
	case ClassText:
		return "text"
	case ClassPlain:
		return "plain"
	case ClassDense:
		return "dense"
	case ClassEncoded:
		return "encoded-random"
	case ClassRandom:
		return "random"
	}
	return "unknown"
}

// Random reports whether the class is ciphertext-like: uniform bytes, or
// base64/hex of uniform bytes.
func (c Class) Random() bool { return c == ClassRandom || c == ClassEncoded }

// Encoding names a text encoding detected in a cell.
type Encoding string

// Encodings recognised in cells.
const (
	EncodingNone   Encoding = ""
	EncodingBase64 Encoding = "base64"
	EncodingHex    Encoding = "hex"
)

// RegionStats are the byte statistics of one sampled cell of a file.
type RegionStats struct {
	// Offset and Length locate the cell in the file.
	Offset int64
	Length int
	// Entropy is the Shannon entropy in bits per byte (0..8).
	Entropy float64
	// ChiSquare is Pearson's statistic of the byte histogram against the
	// uniform distribution (255 degrees of freedom; about 255 for random
	// data).
	ChiSquare float64
	// Printable is the fraction of bytes that are printable ASCII, common
	// whitespace or part of a UTF-8 multi-byte sequence.
	Printable float64
	// Encoding is set when the cell is almost entirely in the base64 or hex
	// alphabet; DecodedEntropy and DecodedChiSquare then describe the
	// decoded bytes.
	Encoding         Encoding
	DecodedEntropy   float64
	DecodedChiSquare float64
	// Class is the verdict on the cell.
	Class Class
	// Probes are the cell's bytes at every ProbeStride-th offset (at most
	// probes of them): comparing them with the previous version's cell at
	// the same offset tells a cell rewritten throughout (encryption
	// changes nearly every byte) from one edited in a few places. The
	// stride is a power of two, so the probes of two cells of different
	// lengths share every offset the coarser one probes.
	Probes      [probes]byte
	ProbeStride int
}

// probes is how many bytes of each cell are kept to compare versions.
const probes = 32

// probe fills rs.Probes from the cell's bytes.
func probe(p []byte, rs *RegionStats) {
	stride := 1
	for stride*2*probes <= len(p) {
		stride *= 2
	}
	rs.ProbeStride = stride
	for i := range rs.Probes {
		if i*stride >= len(p) {
			break
		}
		rs.Probes[i] = p[i*stride]
	}
}

// probeDiff compares two cells' probes at the offsets both hold. It
// returns how many offsets were compared, how many differ, and whether one
// of those that differ lies in the first quarter of the shorter cell.
func probeDiff(a, b *RegionStats) (common, differ int, head bool) {
	if a.ProbeStride < b.ProbeStride {
		a, b = b, a
	}
	if b.ProbeStride == 0 {
		return 0, 0, false
	}
	n := min(a.Length, b.Length)
	step := a.ProbeStride / b.ProbeStride
	for i := 0; i < probes && i*a.ProbeStride < n; i++ {
		j := i * step
		if j >= probes {
			break
		}
		common++
		if a.Probes[i] != b.Probes[j] {
			differ++
			head = head || 4*i*a.ProbeStride < n
		}
	}
	return common, differ, head
}

// minCell is the shortest cell whose statistics are judged by
// chi-square; shorter cells down to minTiny are judged by their distinct
// byte values and UTF-8 validity. Below 8 bytes random data is too often
// valid UTF-8 or short of distinct values to tell.
const (
	minCell = 128
	minTiny = 8
)

// tinyClass classifies a cell of minTiny..minCell bytes: random when it
// is not UTF-8 and has nearly as many distinct byte values as random bytes
// would (at least 80% of the expectation), text when it is printable
// UTF-8, else too short to judge.
func tinyClass(p []byte, h *[256]uint32) Class {
	if len(p) < minTiny {
		return ClassTiny
	}
	if ok, pr := textStats(p); ok {
		if pr >= 0.95 {
			return ClassText
		}
		return ClassTiny
	}
	distinct := 0
	for _, c := range h {
		if c != 0 {
			distinct++
		}
	}
	want := 256 * (1 - math.Pow(255.0/256, float64(len(p))))
	if float64(distinct) >= 0.8*want {
		return ClassRandom
	}
	return ClassTiny
}

// histogram counts byte values of p, spreading consecutive bytes over four
// tables so that repeated values do not serialise on one counter.
func histogram(p []byte, h *[256]uint32) {
	var h1, h2, h3 [256]uint32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		v := binary.LittleEndian.Uint64(p[i:])
		h[byte(v)]++
		h1[byte(v>>8)]++
		h2[byte(v>>16)]++
		h3[byte(v>>24)]++
		h[byte(v>>32)]++
		h1[byte(v>>40)]++
		h2[byte(v>>48)]++
		h3[byte(v>>56)]++
	}
	for ; i < len(p); i++ {
		h[p[i]]++
	}
	for j := range h {
		h[j] += h1[j] + h2[j] + h3[j]
	}
}

// scratch is per-analysis working memory: memoised c·log2(c) values and
// the decoded bytes of base64/hex cells.
type scratch struct {
	xlogx []float64
	dec   []byte
}

func newScratch(cell int) *scratch {
	return &scratch{xlogx: make([]float64, cell+1)}
}

// clog2c returns c·log2(c), memoised.
func (sc *scratch) clog2c(c uint32) float64 {
	if c < 2 {
		return 0
	}
	if int(c) >= len(sc.xlogx) {
		return float64(c) * math.Log2(float64(c))
	}
	v := sc.xlogx[c]
	if v == 0 {
		v = float64(c) * math.Log2(float64(c))
		sc.xlogx[c] = v
	}
	return v
}

// entropyChi returns the Shannon entropy (bits per byte) and the chi-square
// statistic against uniform of a histogram over n bytes.
func (sc *scratch) entropyChi(h *[256]uint32, n int) (float64, float64) {
	if n == 0 {
		return 0, 0
	}
	var sq uint64
	var sum float64
	for _, c := range h {
		sq += uint64(c) * uint64(c)
		sum += sc.clog2c(c)
	}
	fn := float64(n)
	ent := math.Log2(fn) - sum/fn
	if ent < 0 {
		ent = 0
	}
	chi := 256*float64(sq)/fn - fn
	return ent, chi
}

// chiBound is the largest chi-square accepted as uniform for n bytes: the
// mean (255) plus seven standard deviations, with the small-sample variance
// correction. A truly random cell exceeds it with negligible probability;
// compressed streams and text exceed it by far on all but tiny cells.
func chiBound(n int) float64 {
	v := 510 + 65536/float64(n)
	return 255 + 7*math.Sqrt(v)
}

// printableByte reports whether b counts as printable for text detection.
func printableByte(b int) bool {
	return b == '\t' || b == '\n' || b == '\r' || b == '\f' || (b >= 0x20 && b < 0x7f) || b >= 0x80
}

func isB64(b int) bool {
	return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '+' || b == '/' || b == '-' || b == '_' || b == '='
}

func isHex(b int) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

func isSpace(b int) bool { return b == ' ' || b == '\n' || b == '\r' || b == '\t' }

// cellStats computes the statistics of one cell.
func cellStats(p []byte, off int64, sc *scratch) RegionStats {
	rs := RegionStats{Offset: off, Length: len(p)}
	if len(p) == 0 {
		return rs
	}
	probe(p, &rs)
	var h [256]uint32
	histogram(p, &h)
	rs.Entropy, rs.ChiSquare = sc.entropyChi(&h, len(p))
	var printable, b64, hex, space uint32
	for b, c := range h {
		if c == 0 {
			continue
		}
		if printableByte(b) {
			printable += c
		}
		switch {
		case isHex(b):
			hex += c
			b64 += c
		case isB64(b):
			b64 += c
		case isSpace(b):
			space += c
		}
	}
	n := uint32(len(p))
	rs.Printable = float64(printable) / float64(n)
	if len(p) < minCell {
		rs.Class = tinyClass(p, &h)
		if rs.Class == ClassText && len(p) >= minShortEncoded {
			shortEncoded(p, &h, &rs, sc)
		}
		return rs
	}
	// Alphabet cells: allow a few stray bytes (a header line, a cut UTF-8
	// sequence at the cell edge).
	slack := n / 200
	switch {
	case hex+space+slack >= n && hex >= n/2:
		rs.Encoding = EncodingHex
		sc.dec = decodeHex(p, sc.dec[:0])
	case b64+space+slack >= n && b64 >= n/2:
		rs.Encoding = EncodingBase64
		sc.dec = decodeB64(p, sc.dec[:0])
	}
	if rs.Encoding != EncodingNone {
		d := sc.dec
		var dh [256]uint32
		histogram(d, &dh)
		rs.DecodedEntropy, rs.DecodedChiSquare = sc.entropyChi(&dh, len(d))
		if len(d) >= minCell && rs.DecodedChiSquare <= chiBound(len(d)) {
			rs.Class = ClassEncoded
			return rs
		}
		// Too few decoded bytes for chi-square (a short file, the last
		// cell): judged like a tiny cell, by distinct values and UTF-8.
		if len(d) >= minTiny && len(d) < minCell && tinyClass(d, &dh) == ClassRandom {
			rs.Class = ClassEncoded
			return rs
		}
	}
	switch {
	case rs.ChiSquare <= chiBound(len(p)):
		rs.Class = ClassRandom
	case rs.Printable >= 0.95:
		rs.Class = ClassText
	case rs.Entropy >= denseEntropy(len(p)):
		rs.Class = ClassDense
	default:
		rs.Class = ClassPlain
	}
	return rs
}

// minShortEncoded is the shortest cell tested for base64 or hex of random
// bytes below minCell.
const minShortEncoded = 64

// shortEncoded marks a short text cell (minShortEncoded..minCell bytes)
// as encoded-random when it is one word of the base64 or hex alphabet
// (line breaks allowed, no spaces) using nearly as many distinct symbols
// as uniform symbols would (at least 80% of the expectation: words and
// identifiers use far fewer) and its decoded bytes look random to
// [tinyClass].
func shortEncoded(p []byte, h *[256]uint32, rs *RegionStats, sc *scratch) {
	var hexN, b64N, brk, hexD, b64D uint32
	for b, c := range h {
		if c == 0 {
			continue
		}
		switch {
		case isHex(b):
			hexN += c
			hexD++
			b64N += c
			b64D++
		case isB64(b) && b != '=':
			b64N += c
			b64D++
		case b == '=':
			b64N += c
		case b == '\n' || b == '\r':
			brk += c
		}
	}
	n := uint32(len(p))
	distinctOK := func(d, m uint32, alphabet float64) bool {
		return float64(d) >= 0.8*alphabet*(1-math.Pow(1-1/alphabet, float64(m)))
	}
	switch {
	case hexN+brk == n && distinctOK(hexD, hexN, 16):
		rs.Encoding = EncodingHex
		sc.dec = decodeHex(p, sc.dec[:0])
	case b64N+brk == n && distinctOK(b64D, b64N, 64):
		rs.Encoding = EncodingBase64
		sc.dec = decodeB64(p, sc.dec[:0])
	default:
		return
	}
	var dh [256]uint32
	histogram(sc.dec, &dh)
	rs.DecodedEntropy, rs.DecodedChiSquare = sc.entropyChi(&dh, len(sc.dec))
	if tinyClass(sc.dec, &dh) == ClassRandom {
		rs.Class = ClassEncoded
	}
}

// denseEntropy is the entropy above which a cell of n bytes counts as dense
// (compressed-like): 7.2 bits per byte for large cells, lowered by the
// expected small-sample deficit.
func denseEntropy(n int) float64 {
	return 7.2 - 255/(2*float64(n)*math.Ln2)
}

// decodeHex decodes the hex digits of p (whitespace and strays skipped),
// appending to dst.
func decodeHex(p []byte, dst []byte) []byte {
	var acc byte
	half := false
	for _, c := range p {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			continue
		}
		if half {
			dst = append(dst, acc<<4|v)
		} else {
			acc = v
		}
		half = !half
	}
	return dst
}

// decodeB64 decodes the base64 (standard or URL) symbols of p, skipping
// whitespace, padding and strays, appending to dst. It does not care about
// alignment: a cell cut from the middle of a base64 file decodes to the same
// statistics up to a bit shift, which keeps uniform bytes uniform.
func decodeB64(p []byte, dst []byte) []byte {
	var acc uint32
	bits := 0
	for _, c := range p {
		var v uint32
		switch {
		case c >= 'A' && c <= 'Z':
			v = uint32(c - 'A')
		case c >= 'a' && c <= 'z':
			v = uint32(c-'a') + 26
		case c >= '0' && c <= '9':
			v = uint32(c-'0') + 52
		case c == '+' || c == '-':
			v = 62
		case c == '/' || c == '_':
			v = 63
		default:
			continue
		}
		acc = acc<<6 | v
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst = append(dst, byte(acc>>uint(bits)))
			acc &= 1<<uint(bits) - 1
		}
	}
	return dst
}
