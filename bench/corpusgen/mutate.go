package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MutateStats says how much Mutate changed.
type MutateStats struct {
	Files int   // regular files changed
	Bytes int64 // bytes overwritten or appended
	// Sizes is the files' sizes before the change.
	Sizes int64
	// Paths are the changed files, relative to the root, in walk order.
	Paths []string
}

// Mutate changes every nth regular file under root, counting in walk order:
// a run of bytes in the middle of the file is overwritten and a line is
// appended. The bytes come from a generator seeded with seed, so the same
// tree and arguments always yield the same result.
func Mutate(ctx context.Context, root string, every int, seed uint64) (MutateStats, error) {
	var st MutateStats
	if every < 1 {
		return st, fmt.Errorf("mutate: every must be at least 1, got %d", every)
	}
	r := newRNG(seed)
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		n++
		if n%every != 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		written, err := editFile(p, r)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		st.Files++
		st.Bytes += written
		st.Sizes += fi.Size()
		st.Paths = append(st.Paths, rel)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("mutate %s: %w", root, err)
	}
	return st, nil
}

// editFile overwrites up to 512 bytes from the middle of the file at p and
// appends a short line, returning how many bytes it wrote.
func editFile(p string, r *rng) (int64, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", p, err)
	}
	written, err := edit(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return written, fmt.Errorf("edit %s: %w", p, err)
	}
	return written, nil
}

func edit(f *os.File, r *rng) (int64, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	var written int64
	if size > 0 {
		mid := size / 2
		patch := randomBytes(r, int(min(size-mid, int64(1+r.intn(512)))))
		if _, err := f.WriteAt(patch, mid); err != nil {
			return written, err
		}
		written += int64(len(patch))
	}
	line := fmt.Sprintf("\nbench change %016x\n", r.next())
	if _, err := f.WriteAt([]byte(line), size); err != nil {
		return written, err
	}
	return written + int64(len(line)), nil
}

func randomBytes(r *rng, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.next())
	}
	return b
}
