package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
)

// Selection is the set of paths chosen from the corpus sources, relative to
// the filesystem root so that `tar -C / --null --no-recursion -T -` reads them.
type Selection struct {
	Paths []string // in walk order; directories precede their contents
	Bytes int64    // regular file bytes selected
	Total int64    // regular file bytes in all sources
}

// WriteNUL writes the paths, each terminated by a NUL byte.
func (s *Selection) WriteNUL(w io.Writer) error {
	for _, p := range s.Paths {
		if _, err := io.WriteString(w, p+"\x00"); err != nil {
			return err
		}
	}
	return nil
}

type entry struct {
	path string
	dir  bool
	size int64
}

// Select walks the sources (absolute paths; missing ones are skipped) and
// picks everything when the regular files fit in budget bytes. Otherwise it
// picks every kth file or symlink, k chosen so that the pick spreads over all
// sources, skipping files that would overflow the budget. Directories are then
// left out: tar creates the parents of what it extracts.
func Select(ctx context.Context, sources []string, budget int64) (*Selection, error) {
	var all []entry
	var total int64
	for _, src := range sources {
		found, bytes, err := walkSource(ctx, src)
		if err != nil {
			return nil, err
		}
		all = append(all, found...)
		total += bytes
	}
	sel := &Selection{Total: total}
	if total <= budget {
		for _, e := range all {
			sel.Paths = append(sel.Paths, e.path)
		}
		sel.Bytes = total
		return sel, nil
	}
	stride := int((total + budget - 1) / budget)
	n := 0
	for _, e := range all {
		if e.dir {
			continue
		}
		n++
		if n%stride != 0 || sel.Bytes+e.size > budget {
			continue
		}
		sel.Paths = append(sel.Paths, e.path)
		sel.Bytes += e.size
	}
	return sel, nil
}

// walkSource lists the directories, regular files and symlinks under src.
func walkSource(ctx context.Context, src string) ([]entry, int64, error) {
	if !filepath.IsAbs(src) {
		return nil, 0, fmt.Errorf("source %q is not an absolute path", src)
	}
	root, err := filepath.EvalSymlinks(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil // a source this machine lacks is skipped
	}
	if err != nil {
		return nil, 0, fmt.Errorf("resolve source %s: %w", src, err)
	}
	var out []entry
	var total int64
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		e := entry{path: strings.TrimPrefix(p, "/"), dir: d.IsDir()}
		switch {
		case d.IsDir(), d.Type()&fs.ModeSymlink != 0:
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("stat %s: %w", p, err)
			}
			e.size = info.Size()
			total += e.size
		default:
			return nil // devices, sockets and pipes are not corpus material
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list source %s: %w", src, err)
	}
	return out, total, nil
}
