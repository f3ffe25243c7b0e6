package repo

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// codec compresses blob payloads. Both coders are safe for concurrent use
// through EncodeAll and DecodeAll.
type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
	// bounded decodes blobs of known size and never writes past the room
	// it is given, so a hostile payload cannot expand beyond its claim.
	bounded  *zstd.Decoder
	disabled bool
}

func newCodec(disabled bool) (*codec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(false), // every blob is authenticated already
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderMaxMemory(maxObjectSize))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	bounded, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &codec{enc: enc, dec: dec, bounded: bounded, disabled: disabled}, nil
}

func (c *codec) close() {
	c.enc.Close()
	c.dec.Close()
	c.bounded.Close()
}

// compress always compresses (for metadata objects).
func (c *codec) compress(dst, src []byte) []byte { return c.enc.EncodeAll(src, dst) }

// maybeCompress compresses src into dst unless the data looks incompressible
// or compression saves too little; ok reports whether dst holds compressed data.
func (c *codec) maybeCompress(dst, src []byte) (out []byte, ok bool) {
	if c.disabled || len(src) < 64 || looksIncompressible(src) {
		return nil, false
	}
	out = c.enc.EncodeAll(src, dst[:0])
	if len(out) >= len(src)-len(src)/32 {
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
	if cap(dst) < room {
		dst = make([]byte, 0, room)
	}
	out, err := c.bounded.DecodeAll(src, dst[:0:room])
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if len(out) != rawLen {
		return nil, fmt.Errorf("decompress: got %d bytes, want %d", len(out), rawLen)
	}
	return out, nil
}

// looksIncompressible samples up to three 4 KiB windows and reports whether
// their byte entropy is so close to 8 bits per byte that zstd would save
// nothing (compressed media, archives, ciphertext). It costs a few
// microseconds per chunk, far less than compressing.
func looksIncompressible(data []byte) bool {
	const window = 4096
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

// entropy returns the Shannon entropy of data in bits per byte.
func entropy(data []byte) float64 {
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
