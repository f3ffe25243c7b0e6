// Package tree defines the recovery-point manifest: a tree of directory
// listings whose nodes carry full POSIX metadata and the chunk lists of files.
package tree

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/blob"
)

// NodeType is the kind of filesystem object a node describes.
type NodeType string

// Node types.
const (
	TypeFile    NodeType = "file"
	TypeDir     NodeType = "dir"
	TypeSymlink NodeType = "symlink"
	TypeBlock   NodeType = "blockdev"
	TypeChar    NodeType = "chardev"
	TypeFIFO    NodeType = "fifo"
	TypeSocket  NodeType = "socket"
)

// Xattr is one extended attribute.
type Xattr struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Node is one entry of a directory listing.
type Node struct {
	Name  string   `json:"name"`
	Type  NodeType `json:"type"`
	Mode  uint32   `json:"mode"` // permission bits plus setuid, setgid and sticky, as in st_mode & 07777
	UID   uint32   `json:"uid"`
	GID   uint32   `json:"gid"`
	User  string   `json:"user,omitempty"`
	Group string   `json:"group,omitempty"`
	Size  uint64   `json:"size,omitempty"`
	// Times in nanoseconds since the Unix epoch.
	MTime int64 `json:"mtime"`
	ATime int64 `json:"atime"`
	CTime int64 `json:"ctime"`
	// Identity on the source filesystem, for hard links and incremental backup.
	Device uint64 `json:"dev,omitempty"`
	Inode  uint64 `json:"ino,omitempty"`
	Links  uint64 `json:"nlink,omitempty"`
	// Rdev is the device number of block and character devices.
	Rdev       uint64    `json:"rdev,omitempty"`
	LinkTarget string    `json:"target,omitempty"`
	Xattrs     []Xattr   `json:"xattrs,omitempty"`
	Content    []blob.ID `json:"content,omitempty"` // data blobs of a file, in order
	Subtree    *blob.ID  `json:"subtree,omitempty"` // tree blob of a directory
	// Error records why a file could not be read completely during backup.
	Error string `json:"error,omitempty"`
}

// ErrBadName is returned for node names that are not a single path component.
var ErrBadName = errors.New("invalid node name")

// ValidName reports whether name is safe to use as one path component on
// restore: not empty, not "." or "..", and free of '/' and NUL.
func ValidName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("%w: %q", ErrBadName, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: %q contains a slash or NUL", ErrBadName, name)
	}
	return nil
}
