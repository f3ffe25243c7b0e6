package repo

import (
	"testing"

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
