package fsmeta

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// ErrBadPath is returned for a path that is not clean, not relative, or
// that climbs out of the root with "..".
var ErrBadPath = errors.New("invalid restore path")

// checkRel validates a slash-separated path relative to a root. "." names
// the root itself.
func checkRel(rel string) error {
	switch {
	case rel == "":
		return fmt.Errorf("%w: empty", ErrBadPath)
	case strings.IndexByte(rel, 0) >= 0:
		return fmt.Errorf("%w: %q contains NUL", ErrBadPath, rel)
	case path.IsAbs(rel):
		return fmt.Errorf("%w: %q is absolute", ErrBadPath, rel)
	case path.Clean(rel) != rel:
		return fmt.Errorf("%w: %q is not clean", ErrBadPath, rel)
	}
	for elem := range strings.SplitSeq(rel, "/") {
		if elem == ".." {
			return fmt.Errorf("%w: %q contains ..", ErrBadPath, rel)
		}
	}
	return nil
}

// entry is an object named by base inside dir, a directory opened through
// a root. Operating on (dir, base) with the *at system calls keeps every
// change inside the root: the parent was resolved by the root, and base is
// a single path element that is never followed if it is a symbolic link.
type entry struct {
	rel  string
	dir  *os.File
	base string
}

// openEntry validates rel and opens its parent directory through root.
// allowRoot admits "." for the root directory itself.
func openEntry(root *os.Root, rel string, allowRoot bool) (*entry, error) {
	if root == nil {
		return nil, errors.New("nil root")
	}
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	dir, base := path.Dir(rel), path.Base(rel)
	if rel == "." {
		if !allowRoot {
			return nil, fmt.Errorf("%w: %q names the root itself", ErrBadPath, rel)
		}
		dir, base = ".", "."
	}
	f, err := root.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open parent of %s: %w", rel, err)
	}
	return &entry{rel: rel, dir: f, base: base}, nil
}

func (e *entry) close() { e.dir.Close() }

// do runs fn with the file descriptor of the parent directory.
func (e *entry) do(fn func(dirfd int) error) error {
	conn, err := e.dir.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := conn.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return err
	}
	return opErr
}
