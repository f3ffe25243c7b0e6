package fsmeta

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bunkerhq/bunker/internal/tree"
)

func TestCaptureFile(t *testing.T) {
	requireRoot(t)
	requireUnknownID(t)
	path := filepath.Join(t.TempDir(), "prog")
	must(t, os.WriteFile(path, []byte("hello world"), 0o600))
	must(t, os.Chown(path, unknownID, unknownID))
	must(t, syscall.Chmod(path, 0o4751))
	touch(t, path, 1_600_000_000_123_456_789, 1_500_000_000_987_654_321)

	n := capture(t, path)
	var st syscall.Stat_t
	must(t, syscall.Lstat(path, &st))
	want := tree.Node{
		Name: "prog", Type: tree.TypeFile, Mode: 0o4751, UID: unknownID, GID: unknownID,
		Size: 11, ATime: 1_600_000_000_123_456_789, MTime: 1_500_000_000_987_654_321,
		CTime: st.Ctim.Nano(), Device: st.Dev, Inode: st.Ino, Links: 1,
	}
	if n.Name != want.Name || n.Type != want.Type || n.Mode != want.Mode || n.UID != want.UID ||
		n.GID != want.GID || n.User != "" || n.Group != "" || n.Size != want.Size ||
		n.ATime != want.ATime || n.MTime != want.MTime || n.CTime != want.CTime ||
		n.Device != want.Device || n.Inode != want.Inode || n.Links != want.Links ||
		n.Rdev != 0 || n.LinkTarget != "" || len(n.Xattrs) != 0 {
		t.Errorf("Capture:\n got %+v\nwant %+v", *n, want)
	}
}

func TestCaptureNamesOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(path, nil, 0o644))
	if os.Geteuid() == 0 {
		must(t, os.Chown(path, 0, 0))
	}
	n := capture(t, path)
	names := NewNames()
	if n.User == "" || n.User != names.User(n.UID) || n.Group != names.Group(n.GID) {
		t.Errorf("owner names %q:%q for %d:%d", n.User, n.Group, n.UID, n.GID)
	}
	bare, err := Capture(path, nil)
	must(t, err)
	if bare.User != "" || bare.Group != "" {
		t.Errorf("nil Names resolved %q:%q", bare.User, bare.Group)
	}
}

func TestCaptureHardLink(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	must(t, os.WriteFile(a, []byte("x"), 0o644))
	must(t, os.Link(a, b))
	na, nb := capture(t, a), capture(t, b)
	if na.Inode != nb.Inode || na.Device != nb.Device {
		t.Errorf("hard links differ: %d/%d vs %d/%d", na.Device, na.Inode, nb.Device, nb.Inode)
	}
	if na.Links != 2 || nb.Links != 2 {
		t.Errorf("links = %d, %d; want 2", na.Links, nb.Links)
	}
	if na.Name != "a" || nb.Name != "b" {
		t.Errorf("names %q %q", na.Name, nb.Name)
	}
}

func TestCaptureSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	must(t, os.WriteFile(target, []byte("12345"), 0o600))
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(target, link))
	touch(t, link, 1_000_000_001, 2_000_000_002)
	n := capture(t, link)
	if n.Type != tree.TypeSymlink || n.LinkTarget != target || n.Size != 0 {
		t.Errorf("got type %s target %q size %d", n.Type, n.LinkTarget, n.Size)
	}
	if n.ATime != 1_000_000_001 || n.MTime != 2_000_000_002 {
		t.Errorf("link times %d %d are not the link's own", n.ATime, n.MTime)
	}
}

func TestCaptureDevices(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	must(t, syscall.Mknod(null, syscall.S_IFCHR|0o666, int(mkdev(1, 3))))
	loop := filepath.Join(dir, "loop")
	must(t, syscall.Mknod(loop, syscall.S_IFBLK|0o660, int(mkdev(7, 0))))
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o640))
	for _, c := range []struct {
		path string
		typ  tree.NodeType
		rdev uint64
		mode uint32
	}{
		{null, tree.TypeChar, mkdev(1, 3), 0o666},
		{loop, tree.TypeBlock, mkdev(7, 0), 0o660},
		{fifo, tree.TypeFIFO, 0, 0o640},
	} {
		must(t, syscall.Chmod(c.path, c.mode))
		n := capture(t, c.path)
		if n.Type != c.typ || n.Rdev != c.rdev || n.Mode != c.mode || n.Size != 0 {
			t.Errorf("%s: type %s rdev %#x mode %o size %d", c.path, n.Type, n.Rdev, n.Mode, n.Size)
		}
	}
}

func TestCaptureFileInfoMatchesCapture(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("abc"), 0o640))
	must(t, os.Symlink("f", filepath.Join(dir, "l")))
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, de := range entries {
		fi, err := de.Info()
		must(t, err)
		path := filepath.Join(dir, de.Name())
		n, err := CaptureFileInfo(path, fi, nil)
		must(t, err)
		want, err := Capture(path, nil)
		must(t, err)
		if n.Type == tree.TypeSymlink {
			// Reading the link in the first capture updated its atime.
			want.ATime = n.ATime
		}
		sameMeta(t, want, n)
		if n.Name != de.Name() || n.Inode != want.Inode {
			t.Errorf("%s: name %q inode %d, want inode %d", de.Name(), n.Name, n.Inode, want.Inode)
		}
	}
}

func TestCaptureErrors(t *testing.T) {
	_, err := Capture(filepath.Join(t.TempDir(), "missing"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
	fi := fakeInfo{}
	if _, err := CaptureFileInfo("x", fi, nil); err == nil {
		t.Error("file info without stat data accepted")
	}
}

type fakeInfo struct{ fs.FileInfo }

func (fakeInfo) Sys() any { return nil }

func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}
