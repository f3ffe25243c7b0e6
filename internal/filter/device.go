package filter

import "github.com/bunkerhq/bunker/internal/tree"

// Boundary is what --one-file-system makes of a directory entry.
type Boundary int

const (
	// Inside is an entry on the same filesystem as its directory: back it
	// up as usual.
	Inside Boundary = iota
	// MountPoint is a directory on another filesystem: back up its own node,
	// so that a restore recreates the mount point, but not its contents.
	MountPoint
	// Outside is a non-directory on another filesystem, such as a file
	// bind-mounted over another: leave it out.
	Outside
)

// OneFileSystem classifies the entry n of a directory whose Device is
// parentDev. A walker honouring --one-file-system captures each backup root
// and passes the root's Device as parentDev for the root's entries, so every
// root named on the command line may lie on its own filesystem. For the
// entries of any directory it descends into, parentDev is that directory's
// Device. The walker does not descend into a MountPoint, and skips an
// Outside entry entirely.
//
// The test compares st_dev, so a btrfs subvolume counts as a filesystem of
// its own, while a bind mount of a directory from the same filesystem does
// not.
func OneFileSystem(parentDev uint64, n *tree.Node) Boundary {
	switch {
	case n.Device == parentDev:
		return Inside
	case n.Type == tree.TypeDir:
		return MountPoint
	}
	return Outside
}
