package repo

import (
	"bytes"
	"math"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

func testRepo(t testing.TB) *Repository {
	t.Helper()
	m, err := crypto.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Derive()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCodec(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return &Repository{key: k, codec: c}
}

func TestObjectKindIsBound(t *testing.T) {
	r := testRepo(t)
	data, _, err := r.sealObject("point", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.openObject("point", data); err != nil || string(got) != `{"a":1}` {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := r.openObject("index", data); err == nil {
		t.Fatal("a point record opened as an index object")
	}
}

func TestIncompressibleDataIsNotCompressed(t *testing.T) {
	r := testRepo(t)
	random := make([]byte, 1<<20)
	x := uint64(1)
	for i := range random {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		random[i] = byte(x)
	}
	if _, ok := r.codec.maybeCompress(nil, random); ok {
		t.Fatal("random data was stored compressed")
	}
	text := make([]byte, 1<<20)
	for i := range text {
		text[i] = "abcdefgh \n"[i%10]
	}
	if out, ok := r.codec.maybeCompress(nil, text); !ok || len(out) > len(text)/10 {
		t.Fatalf("text not compressed (ok=%v, %d bytes)", ok, len(out))
	}
}

func TestCompressedBlobsUseASmallWindow(t *testing.T) {
	r := testRepo(t)
	text := make([]byte, 4<<20)
	for i := range text {
		text[i] = "the quick brown fox jumps over the lazy dog\n"[i%44] ^ byte(i>>12)
	}
	out, ok := r.codec.maybeCompress(nil, text)
	if !ok {
		t.Fatal("text not compressed")
	}
	var h zstd.Header
	if err := h.Decode(out); err != nil {
		t.Fatal(err)
	}
	if h.WindowSize == 0 || h.WindowSize > windowSize {
		t.Errorf("frame of %d bytes needs a %d byte window, want at most %d", len(text), h.WindowSize, windowSize)
	}
	back, err := r.codec.decompressInto(make([]byte, 0, len(text)), out, len(text))
	if err != nil || !bytes.Equal(back, text) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestEntropyMatchesDefinition(t *testing.T) {
	random := make([]byte, 3*entropyWindow-1)
	x := uint64(7)
	for i := range random {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		random[i] = byte(x)
	}
	skewed := make([]byte, len(random))
	for i := range skewed {
		skewed[i] = random[i] & random[(i*7)%len(random)] & 0x3f
	}
	for _, data := range [][]byte{random, skewed, make([]byte, 5000), []byte("a"), []byte("ab")} {
		for _, n := range []int{1, 2, 63, 64, 4095, entropyWindow, 5000, len(data)} {
			if n > len(data) {
				continue
			}
			d := data[:n]
			if got, want := entropy(d), entropySlow(d); math.Abs(got-want) > 1e-9 {
				t.Errorf("entropy of %d bytes = %.12f, by definition %.12f", n, got, want)
			}
		}
	}
	if got := entropy(make([]byte, 4*entropyWindow)); got != 0 {
		t.Errorf("entropy of zeros longer than the table = %v, want 0", got)
	}
	if got := entropy(nil); got != 0 {
		t.Errorf("entropy of nothing = %v, want 0", got)
	}
}

func BenchmarkLooksIncompressible(b *testing.B) {
	data := make([]byte, 1<<20)
	x := uint64(3)
	for i := range data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i] = byte(x)
	}
	b.SetBytes(3 * entropyWindow)
	for range b.N {
		looksIncompressible(data)
	}
}

func FuzzOpenObject(f *testing.F) {
	r := testRepo(f)
	valid, _, _ := r.sealObject("point", []byte(`{"version":1}`))
	seeds := [][]byte{valid, valid[:40], {1}, {}}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzOpenObject", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = r.openObject("point", data)
	})
}

func TestEncoderStackHandsOutTheLastPutBack(t *testing.T) {
	var s encoderStack
	defer s.close()
	a, err := s.get()
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.get()
	if err != nil || b == a {
		t.Fatalf("second encoder while the first is in use: %p %p %v", a, b, err)
	}
	s.put(b)
	s.put(a)
	if got, _ := s.get(); got != a {
		t.Error("get did not return the encoder put back last")
	}
	if got, _ := s.get(); got != b {
		t.Error("get did not return the remaining idle encoder")
	}
	if len(s.all) != 2 {
		t.Errorf("%d encoders made for two users, want 2", len(s.all))
	}
}
