package chunker

import (
	"bytes"
	"slices"
	"testing"
	"testing/iotest"
)

// FuzzChunker checks, for arbitrary input and parameters, that the chunks
// cover the input exactly, respect the size bounds, and do not depend on how
// the reader splits its reads.
func FuzzChunker(f *testing.F) {
	f.Add([]byte("hello, world"), uint16(0), uint16(0), uint16(0), byte(1))
	f.Add(bytes.Repeat([]byte{0}, 5000), uint16(10), uint16(100), uint16(1), byte(2))
	f.Add(randomData(20000, 99), uint16(300), uint16(900), uint16(2000), byte(3))
	f.Fuzz(func(t *testing.T, data []byte, minExtra, spreadExtra, maxExtra uint16, seed byte) {
		p := Params{Min: MinSize + int(minExtra%1024)}
		p.Avg = p.Min + minSpread + int(spreadExtra%4096)
		p.Max = p.Avg + 1 + int(maxExtra%8192)
		chunks := chunkAll(t, bytes.NewReader(data), seedOf(seed), p)
		checkChunks(t, data, chunks, p)
		slow := chunkAll(t, iotest.OneByteReader(bytes.NewReader(data)), seedOf(seed), p)
		if !slices.EqualFunc(chunks, slow, bytes.Equal) {
			t.Errorf("one-byte reads gave %v, whole reads %v", lengths(slow), lengths(chunks))
		}
	})
}
