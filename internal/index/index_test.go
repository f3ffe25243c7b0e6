package index_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
)

func sample() []index.PackEntries {
	var out []index.PackEntries
	for p := range 3 {
		pe := index.PackEntries{Pack: blob.ID{byte(p), 1}, Salt: [32]byte{byte(p), 2}}
		var off uint64
		for b := range 4 {
			e := pack.Entry{Type: blob.DataBlob, Offset: off, Length: uint32(100 + b), RawLen: uint32(72 + b), ID: blob.ID{byte(p), byte(b), 3}}
			if b == 3 {
				e.Type, e.Flags = blob.TreeBlob, pack.FlagCompressed
			}
			off += uint64(e.Length)
			pe.Entries = append(pe.Entries, e)
		}
		out = append(out, pe)
	}
	return out
}

func TestCodecRoundTrip(t *testing.T) {
	in := sample()
	out, err := index.Decode(index.Encode(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d packs, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].Pack != in[i].Pack || out[i].Salt != in[i].Salt || len(out[i].Entries) != len(in[i].Entries) {
			t.Fatalf("pack %d differs", i)
		}
		for j := range in[i].Entries {
			if out[i].Entries[j] != in[i].Entries[j] {
				t.Fatalf("entry %d/%d: %+v want %+v", i, j, out[i].Entries[j], in[i].Entries[j])
			}
		}
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	valid := index.Encode(sample())
	for name, data := range map[string][]byte{
		"empty":      nil,
		"version":    append([]byte{9}, valid[1:]...),
		"truncated":  valid[:len(valid)-5],
		"trailing":   append(append([]byte(nil), valid...), 0),
		"huge count": {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := index.Decode(data); !errors.Is(err, index.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
}

func TestIndexLookupAndDuplicates(t *testing.T) {
	x := index.New()
	s := sample()
	for _, pe := range s {
		x.AddPack(pe.Pack, pe.Salt, pe.Entries)
	}
	// The same blob stored again in another pack is kept as a second copy.
	dup := index.PackEntries{Pack: blob.ID{9}, Salt: [32]byte{9}, Entries: []pack.Entry{s[0].Entries[0]}}
	x.AddPack(dup.Pack, dup.Salt, dup.Entries)
	h := blob.Handle{ID: s[0].Entries[0].ID, Type: blob.DataBlob}
	l, ok := x.Lookup(h)
	if !ok || l.Pack != s[0].Pack || l.Salt != s[0].Salt {
		t.Fatalf("lookup: %+v %v", l, ok)
	}
	if all := x.LookupAll(h); len(all) != 2 || all[1].Pack != dup.Pack {
		t.Fatalf("copies: %+v", all)
	}
	if x.Has(blob.Handle{ID: h.ID, Type: blob.TreeBlob}) {
		t.Fatal("a data blob was found as a tree blob")
	}
	if x.Len() != 12 || len(x.Packs()) != 4 {
		t.Fatalf("len %d packs %d", x.Len(), len(x.Packs()))
	}
	snap := x.Snapshot()
	if len(snap) != 4 || !bytes.Equal(index.Encode(snap), index.Encode(x.Snapshot())) {
		t.Fatal("snapshot is not stable")
	}
}

func FuzzDecode(f *testing.F) {
	seeds := [][]byte{index.Encode(sample()), index.Encode(nil), {1}, {1, 1}}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecode", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		packs, err := index.Decode(data)
		if err != nil {
			return
		}
		again, err := index.Decode(index.Encode(packs))
		if err != nil || len(again) != len(packs) {
			t.Fatalf("re-encoded index does not decode: %v", err)
		}
	})
}
