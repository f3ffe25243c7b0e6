package repo

import "testing"

func TestPackBuffersExactAndBounded(t *testing.T) {
	s := &saver{r: &Repository{cfg: Config{PackSize: 16 << 20, ChunkMax: 8 << 20}}, packBufs: make(chan []byte, 3)}
	b := s.packBuf()
	if len(b) != 0 || cap(b) != s.packCap() {
		t.Fatalf("pack buffer: len %d cap %d, want 0 and exactly %d", len(b), cap(b), s.packCap())
	}
	b = append(b, "pack bytes"...)
	s.putPackBuf(b)
	if c := s.packBuf(); len(c) != 0 || &c[:1][0] != &b[0] {
		t.Fatal("a pack buffer put back was not reused, empty")
	}
	s.putPackBuf(make([]byte, 0, s.packCap()+1)) // outgrown: dropped
	if len(s.packBufs) != 0 {
		t.Fatal("kept a buffer that is not a pack buffer")
	}
	for range 5 {
		s.putPackBuf(make([]byte, 0, s.packCap()))
	}
	if len(s.packBufs) != 3 {
		t.Fatalf("kept %d pack buffers, want at most 3", len(s.packBufs))
	}
}
