package chunker

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMeasureSizes reports how well each average chunk size deduplicates a
// second backup of Go's installation tree after 5% (and 0.5%) of its files
// were edited, backed up file by file and as one concatenated stream.
// It only runs with BUNKER_MEASURE=1; the figures justify DefaultParams.
func TestMeasureSizes(t *testing.T) {
	if os.Getenv("BUNKER_MEASURE") != "1" {
		t.Skip("set BUNKER_MEASURE=1 to measure chunk sizes")
	}
	before := loadCorpus(t)
	var total int
	for _, f := range before {
		total += len(f)
	}
	t.Logf("corpus: %d files, %.1f MiB", len(before), mib(total))
	for _, fraction := range []float64{0.05, 0.005} {
		after := editCorpus(before, fraction)
		edited, editedBytes := countEdited(before, after)
		t.Logf("%.1f%% of files edited: %d files, %.1f MiB in all", 100*fraction, edited, mib(editedBytes))
		t.Logf("  %-6s %-8s %7s %9s %8s %7s", "mode", "avg", "chunks", "mean KiB", "new MiB", "dedup")
		for _, avg := range []int{256 << 10, 512 << 10, 1 << 20, 2 << 20} {
			p := Params{Min: avg / 2, Avg: avg, Max: 8 * avg}
			for _, mode := range []string{"files", "stream"} {
				first, second := before, after
				if mode == "stream" {
					first, second = [][]byte{bytes.Join(before, nil)}, [][]byte{bytes.Join(after, nil)}
				}
				stored := make(map[[32]byte]bool)
				chunks, _ := chunkCorpus(t, first, p, stored)
				_, added := chunkCorpus(t, second, p, stored)
				t.Logf("  %-6s %4d KiB %7d %9.0f %8.2f %6.1fx",
					mode, avg>>10, chunks, float64(total)/float64(chunks)/1024, mib(added), float64(total)/float64(added))
			}
		}
	}
}

func mib(n int) float64 { return float64(n) / (1 << 20) }

// loadCorpus reads every regular file under GOROOT, in path order.
func loadCorpus(t *testing.T) [][]byte {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	root := strings.TrimSpace(string(out))
	var files [][]byte
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		files = append(files, data)
		return err
	})
	if err != nil {
		t.Fatalf("read corpus: %v", err)
	}
	return files
}

// editCorpus returns a copy of files in which the given fraction of files,
// picked at random, has 32 bytes inserted at a random offset.
func editCorpus(files [][]byte, fraction float64) [][]byte {
	rng := rand.New(rand.NewPCG(1, 1))
	out := slices.Clone(files)
	for _, i := range rng.Perm(len(files))[:int(fraction*float64(len(files)))] {
		at := rng.IntN(len(files[i]) + 1)
		insert := make([]byte, 32)
		for j := range insert {
			insert[j] = byte(rng.Uint32())
		}
		out[i] = slices.Concat(files[i][:at], insert, files[i][at:])
	}
	return out
}

// countEdited returns how many files differ between a and b and their
// total size in b.
func countEdited(a, b [][]byte) (files, size int) {
	for i := range a {
		if len(a[i]) != len(b[i]) {
			files++
			size += len(b[i])
		}
	}
	return files, size
}

// chunkCorpus chunks every file and returns the number of chunks and the
// number of bytes in chunks not already in stored, adding them to stored.
func chunkCorpus(t *testing.T, files [][]byte, p Params, stored map[[32]byte]bool) (chunks, added int) {
	c, err := New(nil, NewGear(seedOf(42)), p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, p.Max)
	for _, f := range files {
		c.Reset(bytes.NewReader(f))
		for {
			buf, err = c.Next(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			chunks++
			if sum := sha256.Sum256(buf); !stored[sum] {
				stored[sum] = true
				added += len(buf)
			}
		}
	}
	return chunks, added
}
