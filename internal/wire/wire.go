// Package wire encodes what a backup client and a vault server exchange in
// bulk, in binary: lists of blob handles ("which of these do you lack?")
// and streams of blob frames (uploads and restores). JSON carries
// everything else.
//
// A handle list is a sequence of 33-byte records: type (1) | id (32).
//
// A frame stream is a sequence of frames:
//
//	type (1) | flags (1) | raw length (uint32 LE) | payload length (uint32 LE) | id (32) | payload
//
// flags bit 0 says the payload is zstd-compressed; raw length is the length
// of the blob's plaintext. No other flag bits are defined.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/bunkerhq/bunker/internal/blob"
)

// Content types of the bodies this package encodes.
const (
	HandlesType = "application/vnd.bunker.handles"
	FramesType  = "application/vnd.bunker.frames"
)

// HandleSize is the encoded size of one handle.
const HandleSize = 1 + blob.IDSize

// FrameHeaderSize is the size of a frame's fixed part.
const FrameHeaderSize = 1 + 1 + 4 + 4 + blob.IDSize

// FlagCompressed marks a compressed payload.
const FlagCompressed = 1 << 0

// ErrFormat reports a malformed body.
var ErrFormat = errors.New("malformed body")

// AppendHandles appends the encoding of hs to dst.
func AppendHandles(dst []byte, hs []blob.Handle) []byte {
	for _, h := range hs {
		dst = append(dst, byte(h.Type))
		dst = append(dst, h.ID[:]...)
	}
	return dst
}

// DecodeHandles decodes a handle list of at most limit handles, checking
// every type.
func DecodeHandles(b []byte, limit int) ([]blob.Handle, error) {
	if len(b)%HandleSize != 0 {
		return nil, fmt.Errorf("%w: handle list of %d bytes is not a multiple of %d", ErrFormat, len(b), HandleSize)
	}
	n := len(b) / HandleSize
	if n > limit {
		return nil, fmt.Errorf("%w: %d handles, at most %d per request", ErrFormat, n, limit)
	}
	out := make([]blob.Handle, n)
	for i := range out {
		rec := b[i*HandleSize:]
		t := blob.Type(rec[0])
		if !t.Valid() {
			return nil, fmt.Errorf("%w: handle %d has unknown blob type %d", ErrFormat, i, rec[0])
		}
		out[i].Type = t
		copy(out[i].ID[:], rec[1:HandleSize])
	}
	return out, nil
}

// Frame is one blob in a frame stream.
type Frame struct {
	Handle     blob.Handle
	Compressed bool
	RawLen     int
	Payload    []byte
}

// AppendFrame appends the encoding of f to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	var flags byte
	if f.Compressed {
		flags = FlagCompressed
	}
	dst = append(dst, byte(f.Handle.Type), flags)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(f.RawLen))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.Payload)))
	dst = append(dst, f.Handle.ID[:]...)
	return append(dst, f.Payload...)
}

// FrameReader reads a frame stream.
type FrameReader struct {
	r        *bufio.Reader
	maxBlob  int
	maxCount int
	count    int
	buf      []byte
	hdr      [FrameHeaderSize]byte
}

// NewFrameReader reads frames from r, refusing payloads or raw lengths above
// maxBlob bytes and more than maxCount frames.
func NewFrameReader(r io.Reader, maxBlob, maxCount int) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), maxBlob: maxBlob, maxCount: maxCount}
}

// Next returns the next frame, or io.EOF after the last one. The payload is
// valid until the next call.
func (fr *FrameReader) Next() (Frame, error) {
	var f Frame
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return f, io.EOF
		}
		return f, fmt.Errorf("%w: frame %d: truncated header: %v", ErrFormat, fr.count, err)
	}
	if fr.count >= fr.maxCount {
		return f, fmt.Errorf("%w: more than %d frames", ErrFormat, fr.maxCount)
	}
	h := fr.hdr[:]
	t := blob.Type(h[0])
	if !t.Valid() {
		return f, fmt.Errorf("%w: frame %d: unknown blob type %d", ErrFormat, fr.count, h[0])
	}
	if h[1]&^FlagCompressed != 0 {
		return f, fmt.Errorf("%w: frame %d: unknown flags %#x", ErrFormat, fr.count, h[1])
	}
	raw := binary.LittleEndian.Uint32(h[2:])
	n := binary.LittleEndian.Uint32(h[6:])
	if uint64(raw) > uint64(fr.maxBlob) || uint64(n) > uint64(fr.maxBlob) {
		return f, fmt.Errorf("%w: frame %d: blob of %d bytes (payload %d) exceeds the %d byte limit", ErrFormat, fr.count, raw, n, fr.maxBlob)
	}
	f.Handle.Type = t
	copy(f.Handle.ID[:], h[10:])
	f.Compressed = h[1]&FlagCompressed != 0
	f.RawLen = int(raw)
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		return f, fmt.Errorf("%w: frame %d (%s): truncated payload: %v", ErrFormat, fr.count, f.Handle, err)
	}
	f.Payload = fr.buf
	fr.count++
	return f, nil
}
