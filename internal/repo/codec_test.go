package repo

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCompressedStreamsAreStoredAsTheyAre checks that a blob which starts as
// a gzip, zstd, xz or bzip2 stream is not compressed again, even where zstd
// would shrink it (a gzip stream of stored blocks), while text that merely
// starts like one is.
func TestCompressedStreamsAreStoredAsTheyAre(t *testing.T) {
	r := testRepo(t)
	text := []byte(strings.Repeat("a line of a manual page, repeated\n", 400))
	if _, ok := r.codec.maybeCompress(nil, text); !ok {
		t.Fatal("plain text not compressed")
	}

	var stored bytes.Buffer
	w, err := gzip.NewWriterLevel(&stored, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	zenc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := zenc.EncodeAll(text, nil)
	zenc.Close()
	xz := append([]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, text...)
	bz := append([]byte{'B', 'Z', 'h', '9', 0x31, 0x41, 0x59, 0x26, 0x53, 0x59}, text...)
	for name, blob := range map[string][]byte{"gzip": stored.Bytes(), "zstd": frame, "xz": xz, "bzip2": bz} {
		if _, ok := r.codec.maybeCompress(nil, blob); ok {
			t.Errorf("%s stream of %d bytes was compressed again", name, len(blob))
		}
	}

	for name, blob := range map[string][]byte{
		"text starting BZh":            append([]byte("BZh9 is not bzip2\n"), text...),
		"gzip magic, another method":   append([]byte{0x1f, 0x8b, 0x07}, text...),
		"zstd magic cut short":         append([]byte{0x28, 0xb5, 0x2f, 0x00}, text...),
		"xz magic without its zero":    append([]byte{0xfd, '7', 'z', 'X', 'Z', 0x01}, text...),
		"bzip2 header, no block magic": append([]byte("BZh91AY&SZ"), text...),
	} {
		if _, ok := r.codec.maybeCompress(nil, blob); !ok {
			t.Errorf("%s: not compressed", name)
		}
	}
}

// TestDecompressIntoKeepsTheCallersBuffer checks that a blob decompressed
// into a buffer comes back in that buffer with its whole capacity, so that
// the buffer can take a larger blob next and go back to a pool sorted by
// capacity, and that a buffer too small is not written past.
func TestDecompressIntoKeepsTheCallersBuffer(t *testing.T) {
	r := testRepo(t)
	text := []byte(strings.Repeat("a chunk of a file, compressible\n", 3000))
	payload, ok := r.codec.maybeCompress(nil, text)
	if !ok {
		t.Fatal("text not compressed")
	}
	for _, capacity := range []int{len(text), len(text) + decodeSlack, 1 << 20} {
		buf := make([]byte, 0, capacity)
		out, err := r.codec.decompressInto(buf, payload, len(text))
		if err != nil {
			t.Fatalf("cap %d: %v", capacity, err)
		}
		if !bytes.Equal(out, text) {
			t.Fatalf("cap %d: content differs", capacity)
		}
		if &out[0] != &buf[:1][0] || cap(out) != capacity {
			t.Errorf("cap %d: came back in another buffer or with cap %d", capacity, cap(out))
		}
	}
	small := make([]byte, 0, len(text)-1)
	out, err := r.codec.decompressInto(small, payload, len(text))
	if err != nil || !bytes.Equal(out, text) {
		t.Fatalf("small buffer: %v", err)
	}
	if &out[0] == &small[:1][0] {
		t.Error("a buffer too small for the blob was used")
	}
}
