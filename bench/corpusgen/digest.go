package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Summary counts a tree's entries and fingerprints its names, types, file
// contents and symlink targets (not modes, owners or times).
type Summary struct {
	Files    int
	Dirs     int // not counting the root
	Symlinks int
	Bytes    int64 // regular file content
	Digest   string
}

// Digest summarises the tree under root. Two trees with the same Digest hold
// the same names, file contents and symlink targets.
func Digest(ctx context.Context, root string) (Summary, error) {
	var s Summary
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return s.add(h, p, filepath.ToSlash(rel), d)
	})
	if err != nil {
		return s, fmt.Errorf("digest %s: %w", root, err)
	}
	s.Digest = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

func (s *Summary) add(h hash.Hash, p, rel string, d fs.DirEntry) error {
	switch t := d.Type(); {
	case t.IsDir():
		s.Dirs++
		fmt.Fprintf(h, "d %s\x00", rel)
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", p, err)
		}
		s.Symlinks++
		fmt.Fprintf(h, "l %s\x00%s\x00", rel, target)
	case t.IsRegular():
		n, sum, err := hashFile(p)
		if err != nil {
			return err
		}
		s.Files++
		s.Bytes += n
		fmt.Fprintf(h, "f %s\x00%s\x00%x\x00", rel, strconv.FormatInt(n, 10), sum)
	default:
		fmt.Fprintf(h, "o %s\x00%s\x00", rel, t.Type().String())
	}
	return nil
}

func hashFile(p string) (int64, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return n, nil, fmt.Errorf("read %s: %w", p, err)
	}
	return n, h.Sum(nil), nil
}
