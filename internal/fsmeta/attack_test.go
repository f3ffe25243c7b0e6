package fsmeta

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bunkerhq/bunker/internal/tree"
)

// hostile builds a restore target whose entries point outside it and
// returns the target, its root, and the outside directory with one file.
func hostile(t *testing.T) (dst string, root *os.Root, outside string) {
	t.Helper()
	base := t.TempDir()
	outside = filepath.Join(base, "outside")
	dst = filepath.Join(base, "target")
	must(t, os.Mkdir(outside, 0o755))
	must(t, os.Mkdir(dst, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "x"), []byte("secret"), 0o600))
	touch(t, filepath.Join(outside, "x"), 11, 12)
	touch(t, outside, 13, 14)
	must(t, os.Symlink(outside, filepath.Join(dst, "evil")))
	must(t, os.Symlink("../outside", filepath.Join(dst, "evilrel")))
	must(t, os.Symlink(filepath.Join(outside, "x"), filepath.Join(dst, "evilfile")))
	return dst, openRoot(t, dst), outside
}

// unchanged fails the test if the outside directory gained entries or if it
// or its file changed.
func unchanged(t *testing.T, outside string) {
	t.Helper()
	entries, err := os.ReadDir(outside)
	must(t, err)
	if len(entries) != 1 || entries[0].Name() != "x" {
		t.Errorf("outside directory now holds %v", entries)
	}
	for _, c := range []struct {
		path  string
		mode  uint32
		mtime int64
	}{{outside, 0o755, 14}, {filepath.Join(outside, "x"), 0o600, 12}} {
		n, err := Capture(c.path, nil)
		must(t, err)
		if n.Mode != c.mode || n.UID != 0 || n.GID != 0 || n.MTime != c.mtime || len(n.Xattrs) != 0 {
			t.Errorf("%s changed: %+v", c.path, *n)
		}
	}
	data, err := os.ReadFile(filepath.Join(outside, "x"))
	if err != nil || string(data) != "secret" {
		t.Errorf("outside file content %q, %v", data, err)
	}
}

// evilNode carries metadata that would be visible if it landed outside.
func evilNode(typ tree.NodeType) *tree.Node {
	return &tree.Node{
		Type: typ, Mode: 0o4777, UID: unknownID, GID: unknownID,
		ATime: 1, MTime: 2, Rdev: mkdev(1, 3), LinkTarget: "/etc/shadow",
		Xattrs: []tree.Xattr{{Name: "trusted.pwned", Value: []byte("1")}, {Name: "user.pwned", Value: []byte("1")}},
	}
}

func TestAttackSymlinkInParentPath(t *testing.T) {
	requireRoot(t)
	_, root, outside := hostile(t)
	for _, parent := range []string{"evil", "evilrel"} {
		for _, name := range []string{"x", "new"} {
			rel := parent + "/" + name
			for _, typ := range []tree.NodeType{tree.TypeFIFO, tree.TypeChar, tree.TypeBlock, tree.TypeSocket} {
				if err := CreateSpecial(root, rel, evilNode(typ)); err == nil {
					t.Errorf("CreateSpecial %s %s succeeded", typ, rel)
				}
			}
			if err := CreateSymlink(root, rel, evilNode(tree.TypeSymlink)); err == nil {
				t.Errorf("CreateSymlink %s succeeded", rel)
			}
			for _, typ := range []tree.NodeType{tree.TypeFile, tree.TypeSymlink, tree.TypeDir} {
				if err := Apply(root, rel, evilNode(typ), ApplyOptions{}); err == nil {
					t.Errorf("Apply %s %s succeeded", typ, rel)
				}
			}
		}
	}
	unchanged(t, outside)
}

func TestAttackSymlinkAsFinalElement(t *testing.T) {
	requireRoot(t)
	dst, root, outside := hostile(t)
	for _, rel := range []string{"evil", "evilrel", "evilfile"} {
		for _, typ := range []tree.NodeType{tree.TypeFile, tree.TypeDir, tree.TypeFIFO} {
			if err := Apply(root, rel, evilNode(typ), ApplyOptions{}); err == nil {
				t.Errorf("Apply %s to symlink %s succeeded", typ, rel)
			}
		}
		if err := CreateSpecial(root, rel, evilNode(tree.TypeFIFO)); err == nil {
			t.Errorf("CreateSpecial over symlink %s succeeded", rel)
		}
		if err := CreateSymlink(root, rel, evilNode(tree.TypeSymlink)); err == nil {
			t.Errorf("CreateSymlink over symlink %s succeeded", rel)
		}
		// A symlink node applies to the link itself, never to its target.
		n := evilNode(tree.TypeSymlink)
		if err := Apply(root, rel, n, ApplyOptions{}); err != nil {
			t.Errorf("Apply symlink node to %s: %v", rel, err)
		}
		got := capture(t, filepath.Join(dst, rel))
		if got.UID != unknownID || got.MTime != 2 {
			t.Errorf("link %s itself not updated: %+v", rel, *got)
		}
	}
	unchanged(t, outside)
}

func TestAttackDotDot(t *testing.T) {
	root := openRoot(t, filepath.Join(t.TempDir()))
	bad := []string{"", "..", "../x", "a/../../x", "a/..", "/abs", "/", "./a", "a//b", "a/", "a/./b", "a\x00b"}
	for _, rel := range bad {
		checks := map[string]error{
			"CreateSpecial": CreateSpecial(root, rel, &tree.Node{Type: tree.TypeFIFO}),
			"CreateSymlink": CreateSymlink(root, rel, &tree.Node{Type: tree.TypeSymlink, LinkTarget: "t"}),
			"Apply":         Apply(root, rel, &tree.Node{Type: tree.TypeDir}, ApplyOptions{}),
		}
		for fn, err := range checks {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("%s(%q) = %v, want ErrBadPath", fn, rel, err)
			}
		}
	}
	for _, fn := range []func() error{
		func() error { return CreateSpecial(root, ".", &tree.Node{Type: tree.TypeFIFO}) },
		func() error { return CreateSymlink(root, ".", &tree.Node{Type: tree.TypeSymlink, LinkTarget: "t"}) },
	} {
		if err := fn(); !errors.Is(err, ErrBadPath) {
			t.Errorf("create at root itself: %v, want ErrBadPath", err)
		}
	}
	if err := Apply(nil, "x", &tree.Node{Type: tree.TypeDir}, ApplyOptions{}); err == nil {
		t.Error("nil root accepted")
	}
}

func TestAttackSymlinkLoopInParent(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	must(t, os.Symlink("loop", filepath.Join(dst, "loop")))
	root := openRoot(t, dst)
	if err := CreateSpecial(root, "loop/x", evilNode(tree.TypeFIFO)); err == nil {
		t.Error("CreateSpecial through a symlink loop succeeded")
	}
	if err := syscall.Access(filepath.Join(dst, "x"), 0); err == nil {
		t.Error("object created")
	}
}
