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
// sizes. "encrypted" is the worst case (the old version is sampled as much
// as the new one); "edited" is a benign change of text.
func BenchmarkJudge(b *testing.B) {
	for _, kind := range []string{"encrypted", "edited"} {
		for _, size := range []int{256 << 10, 1 << 20, 8 << 20} {
			b.Run(fmt.Sprintf("%s-%dKiB", kind, size>>10), func(b *testing.B) {
				var ch []Change
				total := 0
				for i := 0; i < 16; i++ {
					old := prose(uint64(i), size)
					var cur []byte
					if kind == "encrypted" {
						cur = encryptRange(aesStream(b), old, 0, len(old))
					} else {
						cur = append(prose(uint64(i+100), 4096), old...)
					}
					ch = append(ch, modified(fmt.Sprintf("d/f%d.txt", i), old, cur))
					total += len(cur)
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
}
