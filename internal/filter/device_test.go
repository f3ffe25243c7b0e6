package filter

import (
	"os"
	"syscall"
	"testing"

	"github.com/bunkerhq/bunker/internal/tree"
)

func TestOneFileSystem(t *testing.T) {
	for _, c := range []struct {
		parent uint64
		node   tree.Node
		want   Boundary
	}{
		{5, tree.Node{Type: tree.TypeFile, Device: 5}, Inside},
		{5, tree.Node{Type: tree.TypeDir, Device: 5}, Inside},
		{5, tree.Node{Type: tree.TypeDir, Device: 6}, MountPoint},
		{5, tree.Node{Type: tree.TypeFile, Device: 6}, Outside},
		{5, tree.Node{Type: tree.TypeSymlink, Device: 6}, Outside},
	} {
		if got := OneFileSystem(c.parent, &c.node); got != c.want {
			t.Errorf("OneFileSystem(%d, %s on %d) = %v, want %v", c.parent, c.node.Type, c.node.Device, got, c.want)
		}
	}
}

// On a real system /proc is a mount point below /.
func TestOneFileSystemRealMount(t *testing.T) {
	var root, proc syscall.Stat_t
	if err := syscall.Lstat("/", &root); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Lstat("/proc", &proc); err != nil {
		t.Skip("no /proc")
	}
	if root.Dev == proc.Dev {
		t.Skip("/proc is not a separate mount here")
	}
	n := &tree.Node{Type: tree.TypeDir, Device: proc.Dev}
	if got := OneFileSystem(root.Dev, n); got != MountPoint {
		t.Errorf("/proc under / = %v, want MountPoint", got)
	}
	fi, err := os.Lstat("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if got := OneFileSystem(proc.Dev, &tree.Node{Type: tree.TypeFile, Device: st.Dev}); got != Inside {
		t.Errorf("/proc/self/status under /proc = %v, want Inside", got)
	}
}
