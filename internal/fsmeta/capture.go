package fsmeta

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/bunkerhq/bunker/internal/tree"
)

// ErrIncomplete marks an error from Capture or CaptureFileInfo after which
// the returned node is still valid but lacks some metadata (the symlink
// target or extended attributes) that could not be read.
var ErrIncomplete = errors.New("metadata incomplete")

// Capture describes the filesystem object at path without following a
// symbolic link in its last element. names resolves user and group names; a
// nil names leaves them empty.
//
// If the object exists but its symlink target or extended attributes cannot
// be read, Capture returns the node with every other field filled together
// with an error wrapping ErrIncomplete.
func Capture(path string, names *Names) (*tree.Node, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	return CaptureFileInfo(path, fi, names)
}

// CaptureFileInfo is Capture for a walker that already holds the lstat
// result fi of path (from os.Lstat or fs.DirEntry.Info), sparing one system
// call. fi must describe path itself, not a symlink's target. It reads the
// symlink target and the extended attributes from path; for an object
// without extended attributes that costs one system call.
func CaptureFileInfo(path string, fi fs.FileInfo, names *Names) (*tree.Node, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("capture %s: file info carries no stat data", path)
	}
	n, err := fromStat(fi.Name(), st)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", path, err)
	}
	if names != nil {
		n.User = names.User(n.UID)
		n.Group = names.Group(n.GID)
	}
	var errs []error
	if n.Type == tree.TypeSymlink {
		if n.LinkTarget, err = os.Readlink(path); err != nil {
			errs = append(errs, err)
		}
	}
	if n.Xattrs, err = listXattrs(path); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("capture %s: %w: %w", path, ErrIncomplete, errors.Join(errs...))
	}
	return n, nil
}

// fromStat fills the fields of a node that come from a stat result.
func fromStat(name string, st *syscall.Stat_t) (*tree.Node, error) {
	typ, err := nodeType(st.Mode)
	if err != nil {
		return nil, err
	}
	n := &tree.Node{
		Name:   name,
		Type:   typ,
		Mode:   st.Mode & 0o7777,
		UID:    st.Uid,
		GID:    st.Gid,
		MTime:  st.Mtim.Nano(),
		ATime:  st.Atim.Nano(),
		CTime:  st.Ctim.Nano(),
		Device: uint64(st.Dev),
		Inode:  uint64(st.Ino),
		Links:  uint64(st.Nlink),
	}
	switch typ {
	case tree.TypeFile:
		n.Size = uint64(st.Size)
	case tree.TypeBlock, tree.TypeChar:
		n.Rdev = uint64(st.Rdev)
	}
	return n, nil
}

// nodeType maps the file type bits of st_mode to a node type.
func nodeType(mode uint32) (tree.NodeType, error) {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return tree.TypeFile, nil
	case syscall.S_IFDIR:
		return tree.TypeDir, nil
	case syscall.S_IFLNK:
		return tree.TypeSymlink, nil
	case syscall.S_IFBLK:
		return tree.TypeBlock, nil
	case syscall.S_IFCHR:
		return tree.TypeChar, nil
	case syscall.S_IFIFO:
		return tree.TypeFIFO, nil
	case syscall.S_IFSOCK:
		return tree.TypeSocket, nil
	}
	return "", fmt.Errorf("unknown file type %#o", mode&syscall.S_IFMT)
}
