package pack_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

func testKey(t testing.TB) *crypto.Key {
	t.Helper()
	m, err := crypto.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Derive()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func buildPack(t testing.TB, k *crypto.Key, blobs ...[]byte) ([]byte, blob.ID, []pack.Entry) {
	t.Helper()
	w, err := pack.NewWriter(k, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blobs {
		typ := blob.DataBlob
		if i%2 == 1 {
			typ = blob.TreeBlob
		}
		if err := w.Add(typ, k.BlobID(b), b, 0, len(b)); err != nil {
			t.Fatal(err)
		}
	}
	data, id, entries, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return data, id, entries
}

func TestRoundTripThroughStorage(t *testing.T) {
	k := testKey(t)
	data, id, entries := buildPack(t, k, []byte("alpha"), bytes.Repeat([]byte("b"), 70000), []byte("gamma"))
	be, err := local.Create(t.TempDir() + "/v")
	if err != nil {
		t.Fatal(err)
	}
	h := storage.Handle{Kind: storage.KindPack, Name: id.String()}
	if err := be.Put(context.Background(), h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, tr, err := pack.ReadHeader(context.Background(), be, k, id, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(entries) {
		t.Fatalf("read %d entries, wrote %d", len(got), len(entries))
	}
	for i := range got {
		if got[i] != entries[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, got[i], entries[i])
		}
	}
	s, _ := k.Sealer(tr.Salt)
	e := got[1]
	plain, err := s.Open(nil, data[e.Offset:e.Offset+uint64(e.Length)], crypto.BlobAAD(e.Type, e.ID))
	if err != nil || !bytes.Equal(plain, bytes.Repeat([]byte("b"), 70000)) {
		t.Fatalf("blob 1 does not decrypt: %v", err)
	}
	// A blob presented under another id or type fails authentication.
	if _, err := s.Open(nil, data[e.Offset:e.Offset+uint64(e.Length)], crypto.BlobAAD(e.Type, got[0].ID)); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("swapped id: %v", err)
	}
	if _, err := s.Open(nil, data[e.Offset:e.Offset+uint64(e.Length)], crypto.BlobAAD(blob.DataBlob, e.ID)); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("swapped type: %v", err)
	}
}

func TestHeaderWrongKeyFails(t *testing.T) {
	data, _, _ := buildPack(t, testKey(t), []byte("x"))
	if _, _, err := pack.Parse(testKey(t), data); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("parse with another vault's key: %v", err)
	}
}

func TestDecodeHeaderRejectsOverlaps(t *testing.T) {
	k := testKey(t)
	_, _, entries := buildPack(t, k, []byte("one"), []byte("two"))
	var dataLen uint64
	for _, e := range entries {
		dataLen += uint64(e.Length)
	}
	bad := append([]pack.Entry(nil), entries...)
	bad[1].Offset = 0
	if _, err := pack.DecodeHeader(pack.EncodeHeader(bad), dataLen); !errors.Is(err, pack.ErrFormat) {
		t.Fatalf("overlapping entries: %v", err)
	}
	if _, err := pack.DecodeHeader(pack.EncodeHeader(entries), dataLen+1); !errors.Is(err, pack.ErrFormat) {
		t.Fatalf("gap at end: %v", err)
	}
	bad = append([]pack.Entry(nil), entries...)
	bad[0].Type = 9
	if _, err := pack.DecodeHeader(pack.EncodeHeader(bad), dataLen); !errors.Is(err, pack.ErrFormat) {
		t.Fatalf("unknown type: %v", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	k := testKey(f)
	_, _, entries := buildPack(f, k, []byte("one"), []byte("two"), []byte("three"))
	valid := pack.EncodeHeader(entries)
	seeds := [][]byte{valid, valid[:10], {}, {1, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecodeHeader", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := pack.DecodeHeader(data, 1<<20)
		if err != nil {
			return
		}
		if !bytes.Equal(pack.EncodeHeader(entries), data) {
			t.Fatal("decoded header does not re-encode to the same bytes")
		}
	})
}

func FuzzParse(f *testing.F) {
	k := testKey(f)
	data, _, _ := buildPack(f, k, []byte("one"), []byte("two"))
	seeds := [][]byte{data, data[:len(data)-1], data[len(data)-pack.TrailerSize:]}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzParse", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = pack.Parse(k, data)
	})
}
