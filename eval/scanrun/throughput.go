package scanrun

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/bunkerhq/bunker/internal/scan"
)

// Throughput is the cost of judging one point.
type Throughput struct {
	Kind     string        `json:"kind"`
	Files    int           `json:"files"`
	Changed  int64         `json:"changed_bytes"` // sizes of the new versions
	Read     int64         `json:"read_bytes"`    // bytes the scanner read
	Duration time.Duration `json:"duration_ns"`
	Workers  int           `json:"workers"`
}

// MBPerCore is the changed data judged per second and per worker, in MB
// (10^6 bytes).
func (t Throughput) MBPerCore() float64 {
	s := t.Duration.Seconds() * float64(max(t.Workers, 1))
	if s == 0 {
		return 0
	}
	return float64(t.Changed) / 1e6 / s
}

// String formats the figure.
func (t Throughput) String() string {
	return fmt.Sprintf("%-10s %5d files %8.1f MiB changed, %8.1f MiB read, %10v on %d worker(s): %7.1f MB/s per core",
		t.Kind, t.Files, float64(t.Changed)/(1<<20), float64(t.Read)/(1<<20), t.Duration.Round(time.Microsecond), t.Workers, t.MBPerCore())
}

// MeasureThroughput judges synthetic points derived from the base: one
// with no change at all, and two where a fraction frac of its files (every
// 1/frac-th file in path order) changed, once fully encrypted in place
// with AES-256-CTR (the worst case: both versions are sampled in full) and
// once edited (4 KiB of text appended: the old version is read only where
// the new one is dense). New versions are held in memory, old ones read
// from disk; the page cache is warmed first. workers is the scanner's
// Parallelism.
func MeasureThroughput(ctx context.Context, b *Base, frac float64, workers int) ([]Throughput, error) {
	so := scan.Options{Parallelism: workers, PreviousFiles: b.Files()}
	var out []Throughput
	start := time.Now()
	v, err := scan.Judge(ctx, nil, so)
	if err != nil {
		return nil, err
	}
	out = append(out, Throughput{Kind: "unchanged", Duration: time.Since(start), Workers: workers, Read: v.Stats.BytesRead})
	paths := make([]string, 0, len(b.files))
	for p := range b.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	step := max(int(1/frac+0.5), 1)
	var picked []string
	for i := step / 2; i < len(paths); i += step {
		picked = append(picked, paths[i])
	}
	olds := make([][]byte, len(picked))
	for i, p := range picked {
		d, err := os.ReadFile(b.files[p].abs)
		if err != nil {
			return nil, err
		}
		olds[i] = d
	}
	for _, kind := range []string{"encrypted", "edited"} {
		var ch []scan.Change
		t := Throughput{Kind: kind, Files: len(picked), Workers: workers}
		for i, p := range picked {
			var cur []byte
			if kind == "encrypted" {
				var err error
				if cur, err = encrypt(olds[i]); err != nil {
					return nil, err
				}
			} else {
				cur = append(append([]byte(nil), olds[i]...), bytes.Repeat([]byte("an edited line of plain text\n"), 4096/29)...)
			}
			e := b.files[p]
			old := ref(p, e, "")
			data := cur
			ch = append(ch, scan.Change{Kind: scan.Modified, Old: old, New: &scan.FileRef{Path: p, Size: int64(len(cur)),
				Open: func(context.Context) (io.ReaderAt, error) { return bytes.NewReader(data), nil }}})
			t.Changed += int64(len(cur))
		}
		start := time.Now()
		v, err := scan.Judge(ctx, ch, so)
		if err != nil {
			return nil, err
		}
		t.Duration = time.Since(start)
		t.Read = v.Stats.BytesRead
		out = append(out, t)
	}
	return out, nil
}

func encrypt(p []byte) ([]byte, error) {
	key := make([]byte, 32+aes.BlockSize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	c, err := aes.NewCipher(key[:32])
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(p))
	cipher.NewCTR(c, key[32:]).XORKeyStream(out, p)
	return out, nil
}
