package repo

import (
	"context"
	"math/bits"
	"runtime"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

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

// TestCompressionScratchBoundedByCores saves from many goroutines at once and
// checks that no more compression buffers were ever in use than cores.
func TestCompressionScratchBoundedByCores(t *testing.T) {
	ctx := context.Background()
	be, err := local.Create(t.TempDir() + "/vault")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	cfg, err := NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := Init(ctx, be, cfg); err != nil {
		t.Fatal(err)
	}
	m, err := crypto.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, be, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const size = 256 << 10
	var wg sync.WaitGroup
	for g := range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				data := make([]byte, size)
				for j := range data {
					data[j] = byte(j*g+i) % 61
				}
				if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(data), data); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	perBuf := 1 << bits.Len(uint(compressBound(size)-1))
	if idle, most := r.saver.scratch.Idle(), runtime.GOMAXPROCS(0)*perBuf; idle > most {
		t.Errorf("%d KiB of compression buffers were in use at once, want at most %d KiB (one per core)", idle>>10, most>>10)
	}
}
