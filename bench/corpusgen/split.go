package main

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// SplitStats says how Split divided a tree.
type SplitStats struct {
	Parts       int
	CommonFiles int
	CommonBytes int64   // regular file bytes in the common part
	PartFiles   []int   // regular files in each part
	PartBytes   []int64 // regular file bytes in each part
}

// Unique is the regular file bytes of the whole tree: the common part and
// every part, each counted once.
func (s SplitStats) Unique() int64 {
	n := s.CommonBytes
	for _, b := range s.PartBytes {
		n += b
	}
	return n
}

// Clients is the regular file bytes that the clients back up together when
// client i backs up the common part and part i: the common part is counted
// once per client.
func (s SplitStats) Clients() int64 {
	return s.Unique() + int64(s.Parts-1)*s.CommonBytes
}

// Split divides the tree under src into a common part, dst/common, and parts
// disjoint slices, dst/part-1 to dst/part-N, made of hard links to the files
// of src, each under its path relative to src. Every regular file lands in
// exactly one of them; symlinks go to the common part (directories are made
// as needed). commonPct is the share of the bytes the common part aims at;
// the rest is shared evenly among the parts. Files are placed largest first,
// each where the most of its share is still free, so a file larger than a
// part's share goes to the common part if that has the most room, and the
// division is the same for the same tree and arguments. src and dst must be
// on the same filesystem.
func Split(ctx context.Context, src, dst string, parts, commonPct int) (SplitStats, error) {
	st := SplitStats{Parts: parts, PartFiles: make([]int, parts), PartBytes: make([]int64, parts)}
	if parts < 1 || commonPct < 0 || commonPct > 100 {
		return st, fmt.Errorf("split: want at least 1 part and a common share of 0 to 100%%, got %d parts and %d%%", parts, commonPct)
	}
	type file struct {
		rel  string
		size int64
	}
	var files, links []file
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		switch t := d.Type(); {
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("stat %s: %w", p, err)
			}
			files = append(files, file{rel, info.Size()})
			total += info.Size()
		case t&fs.ModeSymlink != 0:
			links = append(links, file{rel: rel})
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("split %s: %w", src, err)
	}
	slices.SortStableFunc(files, func(a, b file) int {
		return cmp.Or(cmp.Compare(b.size, a.size), cmp.Compare(a.rel, b.rel))
	})
	// room[0] is the common part's free share, room[i] part i's.
	room := make([]int64, parts+1)
	room[0] = total * int64(commonPct) / 100
	for i := 1; i <= parts; i++ {
		room[i] = (total - room[0]) / int64(parts)
	}
	dirs := make([]string, parts+1)
	dirs[0] = filepath.Join(dst, "common")
	for i := 1; i <= parts; i++ {
		dirs[i] = filepath.Join(dst, fmt.Sprintf("part-%d", i))
	}
	place := func(bin int, rel string) error {
		to := filepath.Join(dirs[bin], rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("split: %w", err)
		}
		if err := os.Link(filepath.Join(src, rel), to); err != nil {
			return fmt.Errorf("split: %w", err)
		}
		return nil
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		bin := 0
		for i := 1; i <= parts; i++ {
			if room[i] > room[bin] {
				bin = i
			}
		}
		if err := place(bin, f.rel); err != nil {
			return st, err
		}
		room[bin] -= f.size
		if bin == 0 {
			st.CommonFiles++
			st.CommonBytes += f.size
		} else {
			st.PartFiles[bin-1]++
			st.PartBytes[bin-1] += f.size
		}
	}
	for _, l := range links {
		if err := place(0, l.rel); err != nil {
			return st, err
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return st, fmt.Errorf("split: %w", err)
		}
	}
	return st, nil
}
