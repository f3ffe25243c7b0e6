package chunker

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// smallParams keeps tests fast while still producing many chunks.
func smallParams() Params { return Params{Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10} }

func randomData(n int, seed uint64) []byte {
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}).Read(data)
	return data
}

func seedOf(b byte) [32]byte {
	var s [32]byte
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

// chunkAll splits r and returns the chunks, each in its own slice.
func chunkAll(t testing.TB, r io.Reader, seed [32]byte, p Params) [][]byte {
	t.Helper()
	c, err := New(r, NewGear(seed), p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var chunks [][]byte
	for {
		chunk, err := c.Next(nil)
		if err == io.EOF {
			return chunks
		}
		if err != nil {
			t.Fatalf("Next after %d chunks: %v", len(chunks), err)
		}
		chunks = append(chunks, chunk)
	}
}

func lengths(chunks [][]byte) []int {
	out := make([]int, len(chunks))
	for i, c := range chunks {
		out[i] = len(c)
	}
	return out
}

func checkChunks(t *testing.T, data []byte, chunks [][]byte, p Params) {
	t.Helper()
	if got := bytes.Join(chunks, nil); !bytes.Equal(got, data) {
		t.Fatalf("concatenated chunks (%d bytes) differ from the input (%d bytes)", len(got), len(data))
	}
	for i, c := range chunks {
		last := i == len(chunks)-1
		if len(c) == 0 || len(c) > p.Max || (!last && len(c) < p.Min) {
			t.Errorf("chunk %d of %d has %d bytes, want [%d, %d]", i, len(chunks), len(c), p.Min, p.Max)
		}
	}
}

func TestChunksCoverInputWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		size int
	}{
		{"small", smallParams(), 4 << 20},
		{"default", DefaultParams(), 40 << 20},
		{"shorter than min", smallParams(), 1000},
		{"exactly min", smallParams(), smallParams().Min},
		{"one byte", smallParams(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomData(tc.size, 1)
			chunks := chunkAll(t, bytes.NewReader(data), seedOf(1), tc.p)
			checkChunks(t, data, chunks, tc.p)
		})
	}
}

func TestMeanSizeNearAvg(t *testing.T) {
	p := smallParams()
	data := randomData(16<<20, 2)
	chunks := chunkAll(t, bytes.NewReader(data), seedOf(2), p)
	mean := float64(len(data)) / float64(len(chunks))
	if avg := float64(p.Avg); mean < 0.9*avg || mean > 1.2*avg {
		t.Errorf("mean chunk size %.0f over %d chunks, want within [0.9, 1.2] of avg %d", mean, len(chunks), p.Avg)
	}
	forced := 0
	for _, c := range chunks[:len(chunks)-1] {
		if len(c) == p.Max {
			forced++
		}
	}
	if forced > len(chunks)/100 {
		t.Errorf("%d of %d chunks were cut at max; normalised chunking should make that rare", forced, len(chunks))
	}
}

func TestLowEntropyInputCutsAtMax(t *testing.T) {
	// On constant input the rolling hash settles to one value, so whether
	// any boundary is found depends on the seed; sizes must stay in bounds
	// either way, and a seed whose value never matches must cut at Max.
	data := make([]byte, 1<<20)
	sawMax := false
	for s := range byte(8) {
		chunks := chunkAll(t, bytes.NewReader(data), seedOf(s), smallParams())
		checkChunks(t, data, chunks, smallParams())
		sawMax = sawMax || len(chunks[0]) == smallParams().Max
	}
	if !sawMax {
		t.Error("no seed produced a chunk cut at max on all-zero input")
	}
}

func TestDeterministic(t *testing.T) {
	data := randomData(4<<20, 3)
	a := lengths(chunkAll(t, bytes.NewReader(data), seedOf(3), smallParams()))
	b := lengths(chunkAll(t, bytes.NewReader(data), seedOf(3), smallParams()))
	if !slices.Equal(a, b) {
		t.Fatal("same seed and input gave different chunk boundaries")
	}
}

func TestSeedChangesBoundaries(t *testing.T) {
	data := randomData(4<<20, 4)
	a := boundaries(lengths(chunkAll(t, bytes.NewReader(data), seedOf(4), smallParams())))
	b := boundaries(lengths(chunkAll(t, bytes.NewReader(data), seedOf(5), smallParams())))
	shared := 0
	for _, off := range a {
		if _, ok := slices.BinarySearch(b, off); ok {
			shared++
		}
	}
	// Only the end of the input must coincide.
	if shared > len(a)/20 {
		t.Errorf("%d of %d boundaries coincide under two different seeds", shared, len(a))
	}
}

// boundaries turns chunk lengths into end offsets.
func boundaries(lens []int) []int {
	out := make([]int, len(lens))
	off := 0
	for i, n := range lens {
		off += n
		out[i] = off
	}
	return out
}

func TestBoundariesResynchroniseAfterEdits(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		size int
	}{
		{"small", smallParams(), 8 << 20},
		{"default", DefaultParams(), 48 << 20},
	} {
		data := randomData(tc.size, 6)
		before := chunkAll(t, bytes.NewReader(data), seedOf(6), tc.p)
		if len(before) < 20 {
			t.Fatalf("%s: only %d chunks; the test needs more", tc.name, len(before))
		}
		known := make(map[[32]byte]bool)
		for _, c := range before {
			known[sha256.Sum256(c)] = true
		}
		mid, end := tc.size/2, tc.size-tc.size/10
		for _, edit := range []struct {
			name   string
			edited []byte
		}{
			{"insert near the start", slices.Concat(data[:5000], []byte("an odd-length insertion"), data[5000:])},
			{"delete in the middle", slices.Concat(data[:mid], data[mid+1000:])},
			{"overwrite near the end", slices.Concat(data[:end], []byte{^data[end]}, data[end+1:])},
		} {
			t.Run(tc.name+"/"+edit.name, func(t *testing.T) {
				after := chunkAll(t, bytes.NewReader(edit.edited), seedOf(6), tc.p)
				var changed []int
				for i, c := range after {
					if !known[sha256.Sum256(c)] {
						changed = append(changed, i)
					}
				}
				if len(changed) == 0 || len(changed) > 2 || changed[len(changed)-1]-changed[0] > 1 {
					t.Errorf("chunks changed: %v of %d, want one or two adjacent chunks", changed, len(after))
				}
			})
		}
	}
}

func TestShortReadsGiveSameChunks(t *testing.T) {
	data := randomData(1<<20, 7)
	want := lengths(chunkAll(t, bytes.NewReader(data), seedOf(7), smallParams()))
	for name, r := range map[string]io.Reader{
		"one byte":  iotest.OneByteReader(bytes.NewReader(data)),
		"half":      iotest.HalfReader(bytes.NewReader(data)),
		"data+EOF":  iotest.DataErrReader(bytes.NewReader(data)),
		"multi":     io.MultiReader(bytes.NewReader(data[:70000]), bytes.NewReader(data[70000:])),
		"bufferish": strings.NewReader(string(data)),
	} {
		if got := lengths(chunkAll(t, r, seedOf(7), smallParams())); !slices.Equal(got, want) {
			t.Errorf("%s reader: chunk lengths differ from a bytes.Reader's", name)
		}
	}
}

func TestEmptyInput(t *testing.T) {
	c, err := New(bytes.NewReader(nil), NewGear(seedOf(0)), smallParams())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if chunk, err := c.Next(nil); err != io.EOF || chunk != nil {
			t.Fatalf("Next on empty input = %d bytes, %v; want nil, io.EOF", len(chunk), err)
		}
	}
}

func TestReadErrorIsReturnedAndSticky(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(randomData(100<<10, 8)), iotest.ErrReader(boom))
	c, err := New(r, NewGear(seedOf(8)), smallParams())
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		_, err = c.Next(nil)
		if err != nil {
			break
		}
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Next = %v, want the reader's error", err)
	}
	if _, err := c.Next(nil); !errors.Is(err, boom) {
		t.Fatalf("Next after a read error = %v, want the same error again", err)
	}
}

func TestResetReusesChunker(t *testing.T) {
	a, b := randomData(300<<10, 9), randomData(50<<10, 10)
	c, err := New(bytes.NewReader(a), NewGear(seedOf(9)), smallParams())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(nil); err != nil {
		t.Fatal(err)
	}
	c.Reset(bytes.NewReader(b))
	var got [][]byte
	for {
		chunk, err := c.Next(nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, chunk)
	}
	want := chunkAll(t, bytes.NewReader(b), seedOf(9), smallParams())
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Error("chunks after Reset differ from a fresh Chunker's")
	}
}

func TestNextReusesBuffer(t *testing.T) {
	c, err := New(bytes.NewReader(randomData(200<<10, 11)), NewGear(seedOf(11)), smallParams())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, smallParams().Max)
	chunk, err := c.Next(buf)
	if err != nil {
		t.Fatal(err)
	}
	if &chunk[0] != &buf[0] {
		t.Error("Next allocated although buf was large enough")
	}
	small := make([]byte, 10)
	chunk, err = c.Next(small)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunk) < smallParams().Min || &chunk[0] == &small[0] {
		t.Errorf("Next with a 10-byte buf returned %d bytes in that buf", len(chunk))
	}
}

func TestNextViewMatchesNext(t *testing.T) {
	data := randomData(300<<10, 14)
	want := chunkAll(t, bytes.NewReader(data), seedOf(14), smallParams())
	c, err := New(iotest.HalfReader(bytes.NewReader(data)), NewGear(seedOf(14)), smallParams())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		view, err := c.NextView()
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("NextView gave %d chunks, Next %d", i, len(want))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(want) || !bytes.Equal(view, want[i]) {
			t.Fatalf("chunk %d differs from Next's", i)
		}
		if cap(view) != len(view) {
			t.Fatalf("chunk %d: view has room to append into the next chunk (cap %d, len %d)", i, cap(view), len(view))
		}
	}
}

func TestNextViewDoesNotAllocate(t *testing.T) {
	data := randomData(200<<10, 15)
	rd := bytes.NewReader(data)
	c, err := New(rd, NewGear(seedOf(15)), smallParams())
	if err != nil {
		t.Fatal(err)
	}
	drain := func() {
		rd.Reset(data)
		c.Reset(rd)
		for {
			if _, err := c.NextView(); err != nil {
				return
			}
		}
	}
	drain() // the buffer grows once
	if allocs := testing.AllocsPerRun(10, drain); allocs != 0 {
		t.Errorf("chunking a stream with a grown buffer allocates %.0f times, want 0", allocs)
	}
}

// TestBoundariesStable pins the chunk boundaries for a fixed seed and input.
// If it fails, chunking changed and every existing vault loses
// deduplication against new backups.
func TestBoundariesStable(t *testing.T) {
	data := randomData(256<<10, 12)
	got := lengths(chunkAll(t, bytes.NewReader(data), seedOf(12), smallParams()))
	want := []int{6358, 8486, 6522, 8618, 9229, 3522, 8864, 5455, 4295, 12115, 5317, 11364, 8680, 8339, 10714, 8335,
		8433, 9891, 12513, 8957, 9641, 8653, 8398, 8722, 6263, 2396, 9407, 10159, 11408, 8967, 10179, 1944}
	if !slices.Equal(got, want) {
		t.Errorf("chunk lengths = %#v, want %#v", got, want)
	}
}

func TestGearKnownAnswer(t *testing.T) {
	// AES-256 of a zero block under a zero key is dc95c078a2408989...
	if got := NewGear([32]byte{}).table[0]; got != 0x898940a278c095dc {
		t.Errorf("gear[0] for the zero seed = %#x, want 0x898940a278c095dc", got)
	}
	if NewGear(seedOf(1)).table == NewGear(seedOf(2)).table {
		t.Error("different seeds gave the same gear table")
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("DefaultParams: %v", err)
	}
	for _, tc := range []struct {
		p    Params
		want string
	}{
		{Params{Min: 0, Avg: 1024, Max: 4096}, "min 0 is below 64"},
		{Params{Min: -5, Avg: 1024, Max: 4096}, "min -5 is below 64"},
		{Params{Min: 1024, Avg: 1024, Max: 4096}, "avg 1024 must exceed min 1024"},
		{Params{Min: 1024, Avg: 512, Max: 4096}, "avg 512 must exceed min 1024"},
		{Params{Min: 1024, Avg: 4096, Max: 4096}, "max 4096 must be larger than avg 4096"},
		{Params{Min: 1024, Avg: 4096, Max: 128 << 20}, "max 134217728 is above"},
		{Params{Min: 64, Avg: math.MinInt, Max: 4096}, "must exceed min 64"},
		{Params{Min: math.MaxInt, Avg: 1024, Max: 4096}, "must exceed min"},
		{Params{Min: math.MaxInt - 10, Avg: math.MaxInt - 5, Max: math.MaxInt}, "max 9223372036854775807 is above"},
	} {
		err := tc.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.p, err, tc.want)
		}
		if _, err := New(bytes.NewReader(nil), NewGear(seedOf(0)), tc.p); err == nil {
			t.Errorf("New accepted %+v", tc.p)
		}
	}
	if _, err := New(bytes.NewReader(nil), nil, smallParams()); err == nil {
		t.Error("New accepted a nil gear table")
	}
}

func BenchmarkChunker(b *testing.B) {
	data := randomData(64<<20, 13)
	g := NewGear(seedOf(13))
	buf := make([]byte, DefaultParams().Max)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		c, err := New(bytes.NewReader(data), g, DefaultParams())
		if err != nil {
			b.Fatal(err)
		}
		for {
			buf, err = c.Next(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
