package scan

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkAnalyze measures analysis throughput on changed data, counted
// as the size of the files analysed (large files are sampled, so their
// figure is far above the raw statistics speed that bounds small files).
func BenchmarkAnalyze(b *testing.B) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"random-256KiB", randomBytes(256 << 10)},
		{"text-1MiB", prose(1, 1<<20)},
		{"zip-1MiB", makeZIP(b, 1, 300, false)},
		{"random-16MiB", randomBytes(16 << 20)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			r := bytes.NewReader(c.data)
			for b.Loop() {
				if _, err := Analyze(context.Background(), r, int64(len(c.data)), c.name, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJudge measures a point of modified files, each compared with
// its previous version, on one goroutine: bytes are the new versions'
// sizes.
func BenchmarkJudge(b *testing.B) {
	for _, size := range []int{256 << 10, 1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			var ch []Change
			total := 0
			for i := 0; i < 16; i++ {
				old := prose(uint64(i), size)
				cur := encryptRange(aesStream(b), old, 0, len(old))
				ch = append(ch, modified(fmt.Sprintf("d/f%d.txt", i), old, cur))
				total += size
			}
			b.SetBytes(int64(total))
			for b.Loop() {
				if _, err := Judge(context.Background(), ch, Options{Parallelism: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
