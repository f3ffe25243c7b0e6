package fsmeta

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bunkerhq/bunker/internal/tree"
)

// createPerm is the permission of a freshly created special file: no one but
// its owner may use it until Apply sets the recorded mode.
const createPerm = 0o600

// CreateSpecial creates the FIFO, character device, block device or socket
// described by n at rel inside root. The object starts with permission 0600;
// Apply sets its recorded mode, owner and times.
//
// A socket is restored as an inert socket inode made with mknod(2), the same
// kind of directory entry the backup saw. No process listens on it; its
// presence only keeps the directory listing faithful.
func CreateSpecial(root *os.Root, rel string, n *tree.Node) error {
	if n == nil {
		return errors.New("create special: nil node")
	}
	mode, dev, err := mknodArgs(n)
	if err != nil {
		return fmt.Errorf("create %s: %w", rel, err)
	}
	e, err := openEntry(root, rel, false)
	if err != nil {
		return fmt.Errorf("create %s: %w", rel, err)
	}
	defer e.close()
	err = e.do(func(dirfd int) error { return unix.Mknodat(dirfd, e.base, mode, dev) })
	if err != nil {
		return fmt.Errorf("create %s %s: %w", n.Type, rel, err)
	}
	return nil
}

// mknodArgs returns the mode and device arguments of mknod(2) for n.
func mknodArgs(n *tree.Node) (mode uint32, dev int, err error) {
	switch n.Type {
	case tree.TypeFIFO:
		return unix.S_IFIFO | createPerm, 0, nil
	case tree.TypeSocket:
		return unix.S_IFSOCK | createPerm, 0, nil
	case tree.TypeChar:
		mode = unix.S_IFCHR | createPerm
	case tree.TypeBlock:
		mode = unix.S_IFBLK | createPerm
	default:
		return 0, 0, fmt.Errorf("node type %q is not a special file", n.Type)
	}
	if n.Rdev > math.MaxInt {
		return 0, 0, fmt.Errorf("device number %#x out of range", n.Rdev)
	}
	return mode, int(n.Rdev), nil
}

// CreateSymlink creates the symbolic link described by n at rel inside root.
// The link's target is stored as recorded and may point anywhere: it is data,
// and no restore function ever follows it.
func CreateSymlink(root *os.Root, rel string, n *tree.Node) error {
	if n == nil {
		return errors.New("create symlink: nil node")
	}
	if n.Type != tree.TypeSymlink {
		return fmt.Errorf("create symlink %s: node type is %q", rel, n.Type)
	}
	if n.LinkTarget == "" || strings.IndexByte(n.LinkTarget, 0) >= 0 {
		return fmt.Errorf("create symlink %s: invalid target %q", rel, n.LinkTarget)
	}
	e, err := openEntry(root, rel, false)
	if err != nil {
		return fmt.Errorf("create symlink %s: %w", rel, err)
	}
	defer e.close()
	err = e.do(func(dirfd int) error { return unix.Symlinkat(n.LinkTarget, dirfd, e.base) })
	if err != nil {
		return fmt.Errorf("create symlink %s: %w", rel, err)
	}
	return nil
}
