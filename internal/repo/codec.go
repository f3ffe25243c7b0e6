package repo

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// codec compresses blob payloads. It is safe for concurrent use.
type codec struct {
	encoders encoderStack
	dec      *zstd.Decoder // safe for concurrent use through DecodeAll
	// bounded decodes blobs of known size and never writes past the room
	// it is given, so a hostile payload cannot expand beyond its claim.
	bounded  *zstd.Decoder
	disabled bool
}

// windowSize is the zstd window: how far back a match may reach. Chunks
// average 1 MiB and matches rarely reach further back than 512 KiB, so a
// larger window compresses the same (measured on the benchmark corpus:
// within 0.05% of an 8 MiB window) while each encoder keeps 8 MiB of history
// instead of 640 KiB and a decoder must be ready for 8 MiB.
const windowSize = 512 << 10

// newEncoder returns an encoder for one goroutine at a time.
func newEncoder() (*zstd.Encoder, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithWindowSize(windowSize),
		zstd.WithEncoderCRC(false), // every blob is authenticated already
		zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return enc, nil
}

// encoderStack keeps idle encoders and hands out the one put back last.
// An encoder's match tables (over a megabyte) are only fast while they are
// in the cache of the core using them; zstd's own pool hands out the encoder
// idle longest, which on two cores is nearly always the one whose tables the
// other core has just used. The last one put back is most often the one
// this goroutine, on this core, used a moment ago.
type encoderStack struct {
	mu   sync.Mutex
	idle []*zstd.Encoder
	all  []*zstd.Encoder
}

func (s *encoderStack) get() (*zstd.Encoder, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		e := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return e, nil
	}
	s.mu.Unlock()
	e, err := newEncoder()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.all = append(s.all, e)
	s.mu.Unlock()
	return e, nil
}

func (s *encoderStack) put(e *zstd.Encoder) {
	s.mu.Lock()
	s.idle = append(s.idle, e)
	s.mu.Unlock()
}

func (s *encoderStack) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.all {
		e.Close()
	}
	s.all, s.idle = nil, nil
}

func newCodec(disabled bool) (*codec, error) {
	c := &codec{disabled: disabled}
	// An encoder made now reports bad options at open, not at first use.
	e, err := c.encoders.get()
	if err != nil {
		return nil, err
	}
	c.encoders.put(e)
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderMaxMemory(maxObjectSize))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	bounded, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		dec.Close()
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	c.dec, c.bounded = dec, bounded
	return c, nil
}

func (c *codec) close() {
	c.encoders.close()
	c.dec.Close()
	c.bounded.Close()
}

// encode compresses src, appending to dst.
func (c *codec) encode(dst, src []byte) ([]byte, error) {
	e, err := c.encoders.get()
	if err != nil {
		return nil, err
	}
	out := e.EncodeAll(src, dst)
	c.encoders.put(e)
	return out, nil
}

// compress always compresses (for metadata objects).
func (c *codec) compress(dst, src []byte) ([]byte, error) { return c.encode(dst, src) }

// maybeCompress compresses src into dst unless the data looks incompressible
// or compression saves too little; ok reports whether dst holds compressed data.
func (c *codec) maybeCompress(dst, src []byte) (out []byte, ok bool) {
	if c.disabled || len(src) < 64 || compressedFormat(src) || looksIncompressible(src) {
		return nil, false
	}
	out, err := c.encode(dst[:0], src)
	if err != nil || len(out) >= len(src)-len(src)/32 {
		return nil, false
	}
	return out, true
}

var errTooLarge = errors.New("decompressed data exceeds limit")

func (c *codec) decompress(src []byte, limit int) ([]byte, error) {
	out, err := c.dec.DecodeAll(src, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// decodeSlack is the room past a blob's end given to the decoder.
const decodeSlack = 64

// decompressInto decompresses src into dst (reused when it has room);
// data that would expand beyond rawLen is an error.
func (c *codec) decompressInto(dst, src []byte, rawLen int) ([]byte, error) {
	// A little room past the end lets the decoder use its fast copies,
	// which may write up to 16 bytes beyond what they produce.
	room := rawLen + decodeSlack
	switch {
	case cap(dst) >= room:
	case cap(dst) >= rawLen:
		room = rawLen // the caller's buffer fits: use it, on the exact copies
	default:
		dst = make([]byte, 0, room)
	}
	out, err := c.bounded.DecodeAll(src, dst[:0:room])
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if len(out) != rawLen {
		return nil, fmt.Errorf("decompress: got %d bytes, want %d", len(out), rawLen)
	}
	// The decoder was held to room, but the buffer is the caller's whole:
	// handing back its full capacity lets the caller reuse it for a larger
	// blob next, and give it back to a pool that sorts buffers by capacity.
	if rawLen > 0 && &out[0] == &dst[:1][0] {
		out = dst[:rawLen]
	}
	return out, nil
}

// compressedFormat reports whether data starts as a gzip, xz, zstd or bzip2
// stream does: formats whose whole body is compressed, so that zstd saves
// nothing on them. The entropy test would catch most of them, but it
// misjudges a small one (the byte entropy of a few kilobytes is biased low),
// which would then be compressed for nothing. Containers that may hold
// stored data (zip, png, jpeg, pdf) are left to the entropy test:
// compressing them sometimes pays.
func compressedFormat(data []byte) bool {
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b, 0x08}), // gzip, deflate method
		bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}), // xz
		bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):         // zstd frame
		return true
	}
	// "BZh" also starts plain text: bzip2 follows it with the block size
	// digit and the block magic 0x314159265359.
	return len(data) >= 10 && bytes.HasPrefix(data, []byte("BZh")) &&
		data[3] >= '1' && data[3] <= '9' &&
		bytes.Equal(data[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59})
}

// entropyWindow is the size of each window looksIncompressible samples.
const entropyWindow = 4096

// looksIncompressible samples up to three 4 KiB windows and reports whether
// their byte entropy is so close to 8 bits per byte that zstd would save
// nothing (compressed media, archives, ciphertext). It costs a few
// microseconds per chunk, far less than compressing.
func looksIncompressible(data []byte) bool {
	const window = entropyWindow
	if len(data) < 3*window {
		return entropy(data) > 7.95
	}
	for _, off := range []int{0, len(data)/2 - window/2, len(data) - window} {
		if entropy(data[off:off+window]) <= 7.9 {
			return false
		}
	}
	return true
}

// xlog2x holds c·log2(c) for every count a byte can reach in the data
// entropy is given, so that entropy needs no logarithm per byte value.
var xlog2x = func() []float64 {
	t := make([]float64, 3*entropyWindow)
	for c := 1; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// entropy returns the Shannon entropy of data in bits per byte:
// log2(n) - Σ c·log2(c) / n over the count c of each byte value.
func entropy(data []byte) float64 {
	n := len(data)
	if n == 0 {
		return 0
	}
	if n >= len(xlog2x) {
		return entropySlow(data)
	}
	// Four sets of counters, so that runs of one byte value do not wait on
	// the same counter.
	var counts [4][256]uint32
	i := 0
	for ; i+4 <= n; i += 4 {
		counts[0][data[i]]++
		counts[1][data[i+1]]++
		counts[2][data[i+2]]++
		counts[3][data[i+3]]++
	}
	for ; i < n; i++ {
		counts[0][data[i]]++
	}
	var sum float64
	for b := range 256 {
		sum += xlog2x[counts[0][b]+counts[1][b]+counts[2][b]+counts[3][b]]
	}
	return math.Log2(float64(n)) - sum/float64(n)
}

// entropySlow is entropy by its definition, for data longer than the table.
func entropySlow(data []byte) float64 {
	var counts [256]int
	for _, b := range data {
		counts[b]++
	}
	n := float64(len(data))
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
