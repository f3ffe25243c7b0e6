package fsmeta

import (
	"bytes"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bunkerhq/bunker/internal/tree"
)

// unknownID is a uid and gid that the test requires to have no name.
const unknownID = 12345

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func requireUnknownID(t *testing.T) {
	t.Helper()
	if _, err := user.LookupId("12345"); err == nil {
		t.Skip("uid 12345 has a name on this system")
	}
	if _, err := user.LookupGroupId("12345"); err == nil {
		t.Skip("gid 12345 has a name on this system")
	}
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// touch sets atime and mtime of path itself, in nanoseconds.
func touch(t *testing.T, path string, atime, mtime int64) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(mtime)}
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW))
}

// setXattr sets an attribute on path itself, skipping the test when the
// filesystem does not support the namespace.
func setXattr(t *testing.T, path, name string, value []byte) {
	t.Helper()
	err := unix.Lsetxattr(path, name, value, 0)
	if errors.Is(err, unix.ENOTSUP) {
		t.Skipf("filesystem under %s does not support %s", filepath.Dir(path), name)
	}
	must(t, err)
}

// capture is Capture with a fresh name cache that fails the test on error.
func capture(t *testing.T, path string) *tree.Node {
	t.Helper()
	n, err := Capture(path, NewNames())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sameMeta fails the test unless got carries the restorable metadata of want.
func sameMeta(t *testing.T, want, got *tree.Node) {
	t.Helper()
	if want.Type != got.Type || want.Mode != got.Mode || want.UID != got.UID || want.GID != got.GID ||
		want.User != got.User || want.Group != got.Group || want.Size != got.Size ||
		want.Rdev != got.Rdev || want.LinkTarget != got.LinkTarget {
		t.Errorf("metadata differs:\nwant %+v\ngot  %+v", *want, *got)
	}
	if want.MTime != got.MTime || want.ATime != got.ATime {
		t.Errorf("times differ: want atime %d mtime %d, got atime %d mtime %d",
			want.ATime, want.MTime, got.ATime, got.MTime)
	}
	if len(want.Xattrs) != len(got.Xattrs) {
		t.Fatalf("xattrs differ: want %q, got %q", want.Xattrs, got.Xattrs)
	}
	for i := range want.Xattrs {
		if want.Xattrs[i].Name != got.Xattrs[i].Name || !bytes.Equal(want.Xattrs[i].Value, got.Xattrs[i].Value) {
			t.Errorf("xattr %d: want %q, got %q", i, want.Xattrs[i], got.Xattrs[i])
		}
	}
}
