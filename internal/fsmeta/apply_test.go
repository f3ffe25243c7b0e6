package fsmeta

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bunkerhq/bunker/internal/tree"
)

// restore recreates the object described by n at rel in root and applies
// its metadata, the way a restorer does.
func restore(t *testing.T, root *os.Root, rel string, n *tree.Node) {
	t.Helper()
	switch n.Type {
	case tree.TypeFile:
		must(t, root.WriteFile(rel, make([]byte, n.Size), 0o600))
	case tree.TypeDir:
		must(t, root.Mkdir(rel, 0o700))
	case tree.TypeSymlink:
		must(t, CreateSymlink(root, rel, n))
	default:
		must(t, CreateSpecial(root, rel, n))
	}
	must(t, Apply(root, rel, n, ApplyOptions{}))
}

func TestRoundTrip(t *testing.T) {
	requireRoot(t)
	requireUnknownID(t)
	cases := []struct {
		name  string
		make  func(path string) error
		mode  uint32
		owner int
	}{
		{"setuid-file", func(p string) error { return os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600) }, 0o4755, unknownID},
		{"setgid-file", func(p string) error { return os.WriteFile(p, nil, 0o600) }, 0o2710, 0},
		{"sticky-dir", func(p string) error { return os.Mkdir(p, 0o700) }, 0o1777, unknownID},
		{"setgid-dir", func(p string) error { return os.Mkdir(p, 0o700) }, 0o2750, 0},
		{"symlink", func(p string) error { return os.Symlink("../somewhere/else", p) }, 0o777, unknownID},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }, 0o640, unknownID},
		{"chardev", func(p string) error { return syscall.Mknod(p, syscall.S_IFCHR, int(mkdev(1, 3))) }, 0o666, 0},
		{"blockdev", func(p string) error { return syscall.Mknod(p, syscall.S_IFBLK, int(mkdev(259, 70000))) }, 0o660, unknownID},
		{"socket", makeSocket, 0o755, unknownID},
	}
	src, dst := t.TempDir(), t.TempDir()
	root := openRoot(t, dst)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(src, c.name)
			must(t, c.make(path))
			must(t, os.Lchown(path, c.owner, c.owner))
			if c.name != "symlink" {
				must(t, syscall.Chmod(path, c.mode))
			}
			touch(t, path, 1_700_000_000_000_000_001+int64(i), 1_200_000_000_999_999_999-int64(i))
			want := capture(t, path)
			if want.Mode != c.mode || want.UID != uint32(c.owner) {
				t.Fatalf("source mode %o uid %d", want.Mode, want.UID)
			}
			restore(t, root, c.name, want)
			sameMeta(t, want, capture(t, filepath.Join(dst, c.name)))
		})
	}
}

func makeSocket(path string) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	return l.Close()
}

func TestRoundTripSymlinkTimesOnLinkItself(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	root := openRoot(t, dst)
	must(t, os.WriteFile(filepath.Join(dst, "target"), nil, 0o644))
	touch(t, filepath.Join(dst, "target"), 5_000_000_000, 6_000_000_000)
	n := &tree.Node{Type: tree.TypeSymlink, LinkTarget: "target", Mode: 0o777,
		ATime: 1_111_111_111_111_111_111, MTime: 1_222_222_222_222_222_222}
	restore(t, root, "link", n)
	got := capture(t, filepath.Join(dst, "link"))
	if got.ATime != n.ATime || got.MTime != n.MTime || got.LinkTarget != "target" {
		t.Errorf("link: atime %d mtime %d target %q", got.ATime, got.MTime, got.LinkTarget)
	}
	tgt := capture(t, filepath.Join(dst, "target"))
	if tgt.ATime != 5_000_000_000 || tgt.MTime != 6_000_000_000 || tgt.Mode != 0o644 {
		t.Errorf("link target changed: atime %d mtime %d mode %o", tgt.ATime, tgt.MTime, tgt.Mode)
	}
}

func TestRoundTripXattrs(t *testing.T) {
	requireRoot(t)
	value := []byte("bin\x00ary\xff")
	for _, ns := range []string{"user", "trusted"} {
		t.Run(ns, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			root := openRoot(t, dst)
			file, dir, link := filepath.Join(src, "file"), filepath.Join(src, "dir"), filepath.Join(src, "link")
			must(t, os.WriteFile(file, []byte("data"), 0o644))
			must(t, os.Mkdir(dir, 0o755))
			must(t, os.Symlink("file", link))
			setXattr(t, file, ns+".zeta", value)
			setXattr(t, file, ns+".alpha", nil)
			setXattr(t, dir, ns+".dir", []byte("d"))
			if ns != "user" {
				setXattr(t, link, ns+".link", []byte("l"))
			}
			for _, p := range []string{file, dir, link} {
				want := capture(t, p)
				if p == file && (len(want.Xattrs) != 2 || want.Xattrs[0].Name != ns+".alpha" ||
					string(want.Xattrs[1].Value) != string(value)) {
					t.Fatalf("captured xattrs %q, want sorted alpha, zeta", want.Xattrs)
				}
				if p != link || ns != "user" {
					if len(want.Xattrs) == 0 {
						t.Fatalf("%s: no xattrs captured", p)
					}
				}
				restore(t, root, filepath.Base(p), want)
				sameMeta(t, want, capture(t, filepath.Join(dst, filepath.Base(p))))
			}
		})
	}
}

func TestRoundTripXattrsOnDevice(t *testing.T) {
	requireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	path := filepath.Join(src, "null")
	must(t, syscall.Mknod(path, syscall.S_IFCHR|0o600, int(mkdev(1, 3))))
	setXattr(t, path, "trusted.label", []byte("device"))
	want := capture(t, path)
	restore(t, openRoot(t, dst), "null", want)
	sameMeta(t, want, capture(t, filepath.Join(dst, "null")))
}

// capV2 is a version 2 security.capability value granting
// CAP_NET_BIND_SERVICE as permitted and effective.
func capV2() []byte {
	v := make([]byte, 20)
	binary.LittleEndian.PutUint32(v[0:], 0x02000001)
	binary.LittleEndian.PutUint32(v[4:], 1<<10)
	return v
}

func TestApplyCapabilitySurvivesChown(t *testing.T) {
	requireRoot(t)
	requireUnknownID(t)
	src, dst := t.TempDir(), t.TempDir()
	path := filepath.Join(src, "ping")
	must(t, os.WriteFile(path, []byte("x"), 0o755))
	setXattr(t, path, "security.capability", capV2())
	want := capture(t, path)
	// Restore it to another owner: chown drops capabilities, so they must be
	// set after it.
	want.UID, want.GID, want.User, want.Group = unknownID, unknownID, "", ""
	restore(t, openRoot(t, dst), "ping", want)
	got := capture(t, filepath.Join(dst, "ping"))
	sameMeta(t, want, got)
}

func TestApplyByName(t *testing.T) {
	requireRoot(t)
	requireUnknownID(t)
	dst := t.TempDir()
	root := openRoot(t, dst)
	for _, c := range []struct {
		user, group string
		byName      bool
		want        uint32
	}{
		{"root", "root", true, 0},
		{"root", "root", false, unknownID},
		{"bunker-no-such-user", "bunker-no-such-group", true, unknownID},
		{"", "", true, unknownID},
	} {
		must(t, root.WriteFile("f", nil, 0o644))
		n := &tree.Node{Type: tree.TypeFile, Mode: 0o644, UID: unknownID, GID: unknownID, User: c.user, Group: c.group}
		must(t, Apply(root, "f", n, ApplyOptions{ByName: c.byName, Names: NewNames()}))
		got := capture(t, filepath.Join(dst, "f"))
		if got.UID != c.want || got.GID != c.want {
			t.Errorf("%+v: owner %d:%d, want %d", c, got.UID, got.GID, c.want)
		}
		must(t, root.Remove("f"))
	}
}

func TestApplySkipOwner(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	root := openRoot(t, dst)
	must(t, root.WriteFile("f", nil, 0o600))
	n := &tree.Node{Type: tree.TypeFile, Mode: 0o640, UID: unknownID, GID: unknownID}
	must(t, Apply(root, "f", n, ApplyOptions{SkipOwner: true}))
	got := capture(t, filepath.Join(dst, "f"))
	if got.UID != 0 || got.Mode != 0o640 {
		t.Errorf("uid %d mode %o", got.UID, got.Mode)
	}
}

func TestApplyRootItself(t *testing.T) {
	requireRoot(t)
	dst := filepath.Join(t.TempDir(), "target")
	must(t, os.Mkdir(dst, 0o700))
	n := &tree.Node{Type: tree.TypeDir, Mode: 0o1755, UID: unknownID, GID: unknownID,
		ATime: 3_000_000_000_000_000_003, MTime: 4_000_000_000_000_000_004}
	must(t, Apply(openRoot(t, dst), ".", n, ApplyOptions{}))
	got := capture(t, dst)
	if got.Mode != n.Mode || got.UID != n.UID || got.MTime != n.MTime || got.ATime != n.ATime {
		t.Errorf("root dir: %+v", *got)
	}
}

func TestApplyCollectsFailures(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	root := openRoot(t, dst)
	must(t, root.WriteFile("f", nil, 0o600))
	n := &tree.Node{Type: tree.TypeFile, Mode: 0o751, MTime: 42_000_000_007, ATime: 43_000_000_008,
		Xattrs: []tree.Xattr{{Name: "bogus.namespace", Value: []byte("x")}, {Name: "user.ok", Value: []byte("y")}}}
	err := Apply(root, "f", n, ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "f: set extended attribute bogus.namespace") {
		t.Fatalf("error %v does not name the path and attribute", err)
	}
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("error %v does not wrap the cause", err)
	}
	got := capture(t, filepath.Join(dst, "f"))
	if got.Mode != 0o751 || got.MTime != n.MTime || got.ATime != n.ATime {
		t.Errorf("later attributes not applied: %+v", *got)
	}
	if len(got.Xattrs) != 1 || got.Xattrs[0].Name != "user.ok" {
		t.Errorf("xattrs %q", got.Xattrs)
	}
}

func TestApplyTypeMismatch(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	root := openRoot(t, dst)
	must(t, root.Mkdir("d", 0o700))
	touch(t, filepath.Join(dst, "d"), 7, 8)
	n := &tree.Node{Type: tree.TypeFile, Mode: 0o4777, UID: unknownID}
	err := Apply(root, "d", n, ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "is a dir, node is a file") {
		t.Fatalf("Apply on mismatched type: %v", err)
	}
	got := capture(t, filepath.Join(dst, "d"))
	if got.Mode != 0o700 || got.UID != 0 || got.MTime != 8 {
		t.Errorf("mismatched object changed: %+v", *got)
	}
}

func TestChmodProc(t *testing.T) {
	requireRoot(t)
	path := filepath.Join(t.TempDir(), "null")
	must(t, syscall.Mknod(path, syscall.S_IFCHR|0o600, int(mkdev(1, 3))))
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(fd)
	must(t, chmodProc(fd, 0o2644))
	if got := capture(t, path).Mode; got != 0o2644 {
		t.Errorf("mode %o, want 2644", got)
	}
}

func TestCreateSpecialErrors(t *testing.T) {
	root := openRoot(t, t.TempDir())
	for _, n := range []*tree.Node{
		nil,
		{Type: tree.TypeFile},
		{Type: tree.TypeSymlink, LinkTarget: "x"},
		{Type: tree.TypeChar, Rdev: 1 << 63},
	} {
		if err := CreateSpecial(root, "x", n); err == nil {
			t.Errorf("CreateSpecial accepted %+v", n)
		}
	}
	for _, n := range []*tree.Node{nil, {Type: tree.TypeFile, LinkTarget: "x"}, {Type: tree.TypeSymlink}, {Type: tree.TypeSymlink, LinkTarget: "a\x00b"}} {
		if err := CreateSymlink(root, "y", n); err == nil {
			t.Errorf("CreateSymlink accepted %+v", n)
		}
	}
	if err := Apply(root, "x", nil, ApplyOptions{}); err == nil {
		t.Error("Apply accepted nil node")
	}
	if _, err := root.Lstat("x"); err == nil {
		t.Error("a rejected node was created")
	}
}
