package fsmeta

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bunkerhq/bunker/internal/tree"
)

// maxXattrTries bounds the retries when an attribute grows between asking
// for its size and reading it.
const maxXattrTries = 4

// listXattrs reads every extended attribute of path, without following a
// symbolic link, sorted by name. A filesystem without extended attribute
// support yields none.
func listXattrs(path string) ([]tree.Xattr, error) {
	buf, err := readSized(func(b []byte) (int, error) { return unix.Llistxattr(path, b) })
	if err != nil {
		if isNotSupported(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list extended attributes: %w", err)
	}
	names := splitNames(buf)
	if len(names) == 0 {
		return nil, nil
	}
	slices.Sort(names)
	xattrs := make([]tree.Xattr, 0, len(names))
	for _, name := range names {
		value, err := readSized(func(b []byte) (int, error) { return unix.Lgetxattr(path, name, b) })
		switch {
		case errors.Is(err, unix.ENODATA) || isNotSupported(err):
			continue // removed since listing, or a namespace the filesystem refuses
		case err != nil:
			return nil, fmt.Errorf("read extended attribute %s: %w", name, err)
		}
		xattrs = append(xattrs, tree.Xattr{Name: name, Value: value})
	}
	return xattrs, nil
}

// readSized calls read first with no buffer to learn the size, then with a
// buffer of that size, retrying while the data grows in between.
func readSized(read func([]byte) (int, error)) ([]byte, error) {
	for range maxXattrTries {
		size, err := read(nil)
		if err != nil || size == 0 {
			return nil, err
		}
		buf := make([]byte, size)
		n, err := read(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}

// splitNames splits a NUL-separated name list.
func splitNames(buf []byte) []string {
	var names []string
	for name := range bytes.SplitSeq(buf, []byte{0}) {
		if len(name) > 0 {
			names = append(names, string(name))
		}
	}
	return names
}

func isNotSupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

// userXattr reports whether name is in the user namespace, which Linux
// allows only on regular files and directories.
func userXattr(name string) bool {
	return strings.HasPrefix(name, "user.")
}
