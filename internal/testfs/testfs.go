// Package testfs builds directory trees with every kind of entry and
// metadata bunker preserves, and compares two trees in full, for tests.
package testfs

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Build fills dir with regular files of several sizes (some compressible,
// some random), an empty directory, nested directories, a symlink, a hard
// link, a FIFO, a character and a block device, a sparse file, setuid and
// sticky modes, foreign owners, nanosecond times and extended attributes.
// Entries that need root are made only when running as root.
func Build(t testing.TB, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "empty"), 0o700))
	write := func(name string, data []byte, mode os.FileMode) {
		must(os.WriteFile(filepath.Join(dir, name), data, mode))
		must(os.Chmod(filepath.Join(dir, name), mode))
	}
	write("small.txt", []byte("hello bunker\n"), 0o644)
	write("empty.txt", nil, 0o600)
	write("sub/text.log", bytes.Repeat([]byte("log line with some repetition 12345\n"), 40000), 0o640)
	random := make([]byte, 3<<20+12345)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	write("sub/deeper/random.bin", random, 0o600)
	write("setuid", []byte("#!/bin/sh\n"), 0o4755)
	must(os.Chmod(filepath.Join(dir, "sub"), 0o1777))
	must(os.Symlink("sub/text.log", filepath.Join(dir, "link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(dir, "dangling")))
	must(os.Link(filepath.Join(dir, "small.txt"), filepath.Join(dir, "sub", "hardlink")))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	sparse, err := os.Create(filepath.Join(dir, "sparse.img"))
	must(err)
	_, err = sparse.WriteAt([]byte("head"), 0)
	must(err)
	_, err = sparse.WriteAt([]byte("tail"), 64<<20)
	must(err)
	must(sparse.Close())
	_ = unix.Setxattr(filepath.Join(dir, "small.txt"), "user.bunker.test", []byte("value\x00with nul"), 0)
	if os.Geteuid() == 0 {
		must(unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Mknod(filepath.Join(dir, "loop"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200))))
		must(os.Lchown(filepath.Join(dir, "sub", "text.log"), 12345, 54321))
		must(os.Lchown(filepath.Join(dir, "link"), 4242, 4343))
		_ = unix.Setxattr(filepath.Join(dir, "sub"), "trusted.bunker", []byte("dir attr"), 0)
	}
	// Times last, deepest first, with nanoseconds.
	base := time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC)
	var paths []string
	must(filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		paths = append(paths, p)
		return err
	}))
	slices.Reverse(paths)
	for i, p := range paths {
		ts := []unix.Timespec{
			unix.NsecToTimespec(base.Add(time.Duration(i) * time.Hour).UnixNano()),
			unix.NsecToTimespec(base.Add(time.Duration(i)*time.Minute + 7).UnixNano()),
		}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// Entry is what Compare looks at for one path.
type Entry struct {
	Mode         os.FileMode
	UID, GID     uint32
	Size         int64
	MTime, ATime int64
	Rdev         uint64
	Nlink        uint64
	Target       string
	Sum          [32]byte
	Xattrs       map[string]string
	Blocks       int64
}

// Scan records every entry below dir by relative path.
func Scan(t testing.TB, dir string) map[string]Entry {
	t.Helper()
	out := map[string]Entry{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := Entry{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid, MTime: st.Mtim.Nano(),
			Rdev: st.Rdev, Nlink: uint64(st.Nlink), Blocks: st.Blocks, Xattrs: xattrs(p)}
		if fi.Mode().IsRegular() {
			// Reading a directory or a symbolic link updates its access time,
			// and O_NOATIME does not apply to either.
			e.ATime = st.Atim.Nano()
		}
		switch {
		case fi.Mode().IsRegular():
			e.Size = fi.Size()
			sum, err := hashNoAtime(p)
			if err != nil {
				return err
			}
			e.Sum = sum
		case fi.Mode()&os.ModeSymlink != 0:
			e.Target, _ = os.Readlink(p)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xattrs(p string) map[string]string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return nil
	}
	out := map[string]string{}
	for _, name := range bytes.Split(bytes.TrimRight(buf[:n], "\x00"), []byte{0}) {
		val := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, string(name), val)
		if err == nil {
			out[string(name)] = string(val[:m])
		}
	}
	return out
}

// Compare fails the test unless got holds exactly the entries of want with
// the same content and metadata. Directory access times are not compared,
// since reading a directory changes them.
func Compare(t testing.TB, want, got string) {
	t.Helper()
	w, g := Scan(t, want), Scan(t, got)
	for rel, we := range w {
		ge, ok := g[rel]
		if !ok {
			t.Errorf("%s: missing after restore", rel)
			continue
		}
		wb, gb := we.Blocks, ge.Blocks
		we.Blocks, ge.Blocks = 0, 0
		if !entriesEqual(we, ge) {
			t.Errorf("%s differs:\nwant %+v\ngot  %+v", rel, we, ge)
		}
		if we.Mode.IsRegular() && gb > wb+8 {
			t.Errorf("%s: uses %d blocks after restore, %d before (not sparse?)", rel, gb, wb)
		}
	}
	for rel := range g {
		if _, ok := w[rel]; !ok {
			t.Errorf("%s: unexpected after restore", rel)
		}
	}
}

func entriesEqual(a, b Entry) bool {
	if len(a.Xattrs) != len(b.Xattrs) {
		return false
	}
	for k, v := range a.Xattrs {
		if b.Xattrs[k] != v {
			return false
		}
	}
	a.Xattrs, b.Xattrs = nil, nil
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Size == b.Size &&
		a.MTime == b.MTime && a.ATime == b.ATime && a.Rdev == b.Rdev && a.Nlink == b.Nlink &&
		a.Target == b.Target && a.Sum == b.Sum
}

// hashNoAtime hashes a file without changing its access time.
func hashNoAtime(p string) ([32]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOATIME, 0)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}
