package scanrun

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
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
// with no change at all, and two where files holding a fraction frac of
// its bytes changed (files taken in an order fixed by a hash of their
// paths), once fully encrypted in place with AES-256-CTR (the worst case:
// both versions are sampled in full) and once edited (4 KiB of text
// appended: the old version is read only where the new one is dense). New
// versions are held in memory, old ones read from disk (the page cache is
// warmed first). workers is the scanner's Parallelism; each point is
// judged rounds times and the fastest run is reported.
func MeasureThroughput(ctx context.Context, b *Base, frac float64, workers, rounds int) ([]Throughput, error) {
	so := scan.Options{Parallelism: workers, PreviousFiles: b.Files()}
	rounds = max(rounds, 1)
	best := func(ch []scan.Change, t *Throughput) error {
		for i := 0; i < rounds; i++ {
			start := time.Now()
			v, err := scan.Judge(ctx, ch, so)
			if err != nil {
				return err
			}
			if d := time.Since(start); i == 0 || d < t.Duration {
				t.Duration = d
			}
			t.Read = v.Stats.BytesRead
		}
		return nil
	}
	var out []Throughput
	t := Throughput{Kind: "unchanged", Workers: workers}
	if err := best(nil, &t); err != nil {
		return nil, err
	}
	out = append(out, t)
	type cand struct {
		p string
		h [32]byte
	}
	var cs []cand
	var total int64
	for p, e := range b.files {
		cs = append(cs, cand{p, sha256.Sum256([]byte(p))})
		total += e.info.Size()
	}
	sort.Slice(cs, func(i, j int) bool { return bytes.Compare(cs[i].h[:], cs[j].h[:]) < 0 })
	want := int64(frac * float64(total))
	var picked []string
	var got int64
	for _, c := range cs {
		sz := b.files[c.p].info.Size()
		if got >= want {
			break
		}
		if got+sz > want+want/10 {
			continue
		}
		picked = append(picked, c.p)
		got += sz
	}
	sort.Strings(picked)
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
		if err := best(ch, &t); err != nil {
			return nil, err
		}
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
