package local

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/storagetest"
	"golang.org/x/sys/unix"
)

// testClock is the wall clock plus an offset that tests move forward, so it
// never runs behind the real time that retain-until dates are taken from.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *testClock) advance(d time.Duration) {
	if d > 0 {
		c.offset.Add(int64(d))
	}
}

// requirePrivilege skips tests that need to set the immutable attribute
// when this process may not.
func requirePrivilege(t *testing.T) {
	t.Helper()
	reason, err := processPrivilegeReason()
	if err != nil {
		t.Fatal(err)
	}
	if reason != "" {
		t.Skip(reason)
	}
}

// liftAllOnCleanup clears the immutable attribute of every file under dir
// when the test ends, before its temporary directories are removed.
func liftAllOnCleanup(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
			if err != nil {
				return nil
			}
			setImmutable(f, false)
			f.Close()
			return nil
		})
	})
}

// newRetainedVault creates a vault WithRetention on a test clock in a fresh
// temporary directory, and checks that retention is supported there.
func newRetainedVault(t *testing.T) (*Backend, *testClock) {
	t.Helper()
	requirePrivilege(t)
	dir := filepath.Join(t.TempDir(), "vault")
	liftAllOnCleanup(t, dir)
	c := &testClock{}
	b, err := Create(dir, WithRetention(), WithClock(c.now))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	ok, reason, err := b.RetentionSupported(t.Context())
	if err != nil {
		t.Fatalf("RetentionSupported: %v", err)
	}
	if !ok {
		requireRetentionFS(t, dir)
		t.Skipf("retention is not supported in %s: %s", dir, reason)
	}
	return b, c
}

// requireRetentionFS fails the test if dir is on a filesystem known to
// support the immutable attribute and trusted extended attributes: there,
// a probe that says otherwise is wrong.
func requireRetentionFS(t *testing.T, dir string) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
		t.Fatalf("%s is on %s, which supports retention, but the probe says it does not", dir, fsTypeName(uint32(st.Type)))
	}
}

// putRetained stores data as a pack under mode until u and returns its
// handle and path.
func putRetained(t *testing.T, b *Backend, data []byte, mode storage.RetentionMode, u time.Time) (storage.Handle, string) {
	t.Helper()
	h := packOf(data)
	opts := storage.PutOptions{Mode: mode, RetainUntil: u}
	if err := b.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data), opts); err != nil {
		t.Fatalf("Put %s retained: %v", h, err)
	}
	path, err := b.objectPath(h)
	if err != nil {
		t.Fatal(err)
	}
	return h, path
}

// fileState reports the retention record and immutable attribute on disk.
func fileState(t *testing.T, path string) (r record, hasRecord, immutable bool) {
	t.Helper()
	r, ok, err := pathRecord(path)
	if err != nil {
		t.Fatalf("record of %s: %v", path, err)
	}
	return r, ok, pathImmutable(path)
}

func TestRetainerContract(t *testing.T) {
	storagetest.RunRetainer(t, func(t *testing.T) storagetest.RetainerFixture {
		b, c := newRetainedVault(t)
		return storagetest.RetainerFixture{Backend: b, Advance: c.advance}
	})
}

// TestBackendContractWithRetention runs the plain contract on a vault that
// accepts retention: objects put without it behave as before.
func TestBackendContractWithRetention(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, _ := newRetainedVault(t)
		return b
	})
}

// TestRetentionSupportedAsRoot makes sure the probe answers yes where it
// must: as root on the test machine's own filesystem.
func TestRetentionSupportedAsRoot(t *testing.T) {
	requirePrivilege(t)
	dir := filepath.Join(t.TempDir(), "vault")
	b, err := Create(dir, WithRetention())
	if err != nil {
		t.Fatal(err)
	}
	ok, reason, err := b.RetentionSupported(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		requireRetentionFS(t, dir)
		t.Skipf("not supported here: %s", reason)
	}
	if reason != "" {
		t.Fatalf("supported, with a reason %q", reason)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("the probe left %v in tmp/", names)
	}
}

// TestRetainedObjectResistsTampering tries, as root, what ransomware or a
// careless administrator would do to a retained object, by system call and
// with the usual tools. Everything fails and the bytes stay.
func TestRetainedObjectResistsTampering(t *testing.T) {
	b, _ := newRetainedVault(t)
	data := bytes.Repeat([]byte("precious pack "), 1000)
	u := time.Now().Add(time.Hour)
	h, path := putRetained(t, b, data, storage.RetentionCompliance, u)
	other := filepath.Join(b.tmpDir(), "replacement")
	if err := os.WriteFile(other, []byte("ransom note"), 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "stolen")
	calls := map[string]func() error{
		"remove":            func() error { return os.Remove(path) },
		"rename away":       func() error { return os.Rename(path, elsewhere) },
		"rename over":       func() error { return os.Rename(other, path) },
		"open for writing":  func() error { return openClose(path, os.O_WRONLY) },
		"open for append":   func() error { return openClose(path, os.O_RDWR|os.O_APPEND) },
		"open truncating":   func() error { return openClose(path, os.O_WRONLY|os.O_TRUNC) },
		"truncate":          func() error { return os.Truncate(path, 0) },
		"chmod":             func() error { return os.Chmod(path, 0o600) },
		"chown":             func() error { return os.Chown(path, 1, 1) },
		"chtimes":           func() error { return os.Chtimes(path, time.Now(), time.Now()) },
		"hard link":         func() error { return os.Link(path, elsewhere) },
		"rewrite record":    func() error { return unix.Setxattr(path, retentionXattr, make([]byte, recordLen), 0) },
		"remove record":     func() error { return unix.Removexattr(path, retentionXattr) },
		"other xattr":       func() error { return unix.Setxattr(path, "user.note", []byte("x"), 0) },
		"unlinkat":          func() error { return unix.Unlinkat(unix.AT_FDCWD, path, 0) },
		"renameat2 replace": func() error { return unix.Renameat2(unix.AT_FDCWD, other, unix.AT_FDCWD, path, 0) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, unix.EPERM) {
			t.Errorf("%s: got %v, want EPERM", name, err)
		}
	}
	for _, argv := range [][]string{
		{"rm", "-f", path},
		{"rm", "-rf", filepath.Join(b.Location(), "packs")},
		{"sh", "-c", `echo x >> "$0"`, path},
		{"sh", "-c", `echo x > "$0"`, path},
		{"mv", path, elsewhere},
		{"truncate", "-s", "0", path},
		{"shred", "-u", "-n", "1", path},
		{"dd", "if=/dev/zero", "of=" + path, "bs=1", "count=1", "conv=notrunc"},
		{"chmod", "600", path},
		{"rm", "-rf", b.Location()},
	} {
		if _, err := exec.LookPath(argv[0]); err != nil {
			t.Logf("%s is not installed here", argv[0])
			continue
		}
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err == nil {
			t.Errorf("%s succeeded on a retained object:\n%s", strings.Join(argv, " "), out)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the retained object changed: %d bytes, %v", len(got), err)
	}
	if _, err := os.Lstat(elsewhere); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the object was linked or moved out: %v", err)
	}
	r, hasRecord, immutable := fileState(t, path)
	if !hasRecord || !immutable || r.mode != storage.RetentionCompliance || !r.until.Equal(u) {
		t.Fatalf("after the attempts: record %+v (%v), immutable %v", r, hasRecord, immutable)
	}
	for name, del := range map[string]func() error{
		"Delete":       func() error { return b.Delete(t.Context(), h) },
		"DeleteBypass": func() error { return b.DeleteBypass(t.Context(), h) },
	} {
		if err := del(); !errors.Is(err, storage.ErrRetained) {
			t.Errorf("%s: got %v, want ErrRetained", name, err)
		}
	}
	wantContentLocal(t, b, h, data)
}

func openClose(path string, flag int) error {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

func wantContentLocal(t *testing.T, b *Backend, h storage.Handle, want []byte) {
	t.Helper()
	got, err := storage.ReadAll(t.Context(), b, h)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, %v; want the %d bytes stored", h, len(got), err, len(want))
	}
}

// TestRetentionLifecycleOnDisk follows one object's record and attribute
// through Extend, a legal hold, expiry and Delete.
func TestRetentionLifecycleOnDisk(t *testing.T) {
	b, clock := newRetainedVault(t)
	ctx := t.Context()
	u1 := time.Now().Add(time.Hour).Truncate(time.Second)
	h, path := putRetained(t, b, []byte("lifecycle"), storage.RetentionGovernance, u1)
	want := func(mode storage.RetentionMode, u time.Time, hold, immutable bool) {
		t.Helper()
		r, ok, imm := fileState(t, path)
		if !ok || r.mode != mode || !r.until.Equal(u) || r.hold != hold || imm != immutable {
			t.Fatalf("record %+v (present %v), immutable %v; want %s until %v, hold %v, immutable %v",
				r, ok, imm, mode, u, hold, immutable)
		}
		if names := tempNames(t, b); len(names) != 0 {
			t.Fatalf("tmp/ holds %v", names)
		}
	}
	want(storage.RetentionGovernance, u1, false, true)
	if err := b.Extend(ctx, h, u1.Add(-time.Minute), storage.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	want(storage.RetentionGovernance, u1, false, true)
	u2 := u1.Add(time.Hour)
	if err := b.Extend(ctx, h, u2, storage.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	want(storage.RetentionCompliance, u2, false, true)
	if err := b.SetLegalHold(ctx, h, true); err != nil {
		t.Fatal(err)
	}
	want(storage.RetentionCompliance, u2, true, true)
	clock.advance(3 * time.Hour)
	if err := b.Delete(ctx, h); !errors.Is(err, storage.ErrRetained) || !strings.Contains(err.Error(), "legal hold") {
		t.Fatalf("Delete under a legal hold after expiry: %v", err)
	}
	if err := b.SetLegalHold(ctx, h, false); err != nil {
		t.Fatal(err)
	}
	want(storage.RetentionCompliance, u2, false, true)
	if err := b.Delete(ctx, h); err != nil {
		t.Fatalf("Delete after expiry: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the expired object is still there: %v", err)
	}
}

// TestLegalHoldAloneComesOff checks that lifting the only protection of an
// object leaves it as if it had never been held: no record, no attribute.
func TestLegalHoldAloneComesOff(t *testing.T) {
	b, _ := newRetainedVault(t)
	data := []byte("held only")
	h := packOf(data)
	mustPut(t, b, h, data)
	path, _ := b.objectPath(h)
	if err := b.SetLegalHold(t.Context(), h, true); err != nil {
		t.Fatal(err)
	}
	if r, ok, imm := fileState(t, path); !ok || !r.hold || !imm {
		t.Fatalf("held: record %+v (%v), immutable %v", r, ok, imm)
	}
	if err := os.Remove(path); !errors.Is(err, unix.EPERM) {
		t.Fatalf("remove of a held object: %v", err)
	}
	if err := b.SetLegalHold(t.Context(), h, false); err != nil {
		t.Fatal(err)
	}
	if _, ok, imm := fileState(t, path); ok || imm {
		t.Fatalf("released: record present %v, immutable %v", ok, imm)
	}
}

// TestPlainObjectsInRetainedVault checks that objects put without retention
// carry neither record nor attribute.
func TestPlainObjectsInRetainedVault(t *testing.T) {
	b, _ := newRetainedVault(t)
	data := []byte("plain")
	h := packOf(data)
	mustPut(t, b, h, data)
	path, _ := b.objectPath(h)
	if _, ok, imm := fileState(t, path); ok || imm {
		t.Fatalf("plain object: record %v, immutable %v", ok, imm)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != objectMode {
		t.Fatalf("plain object: %v, %v", fi, err)
	}
	if err := b.Delete(t.Context(), h); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionEnforcedWithoutWithRetention opens a hardened vault as a
// plain one: the retention stays enforced, only changing it is refused.
func TestRetentionEnforcedWithoutWithRetention(t *testing.T) {
	hard, _ := newRetainedVault(t)
	ctx := t.Context()
	u := time.Now().Add(time.Hour)
	h, _ := putRetained(t, hard, []byte("still mine"), storage.RetentionGovernance, u)
	b, err := Open(hard.Location())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.Retention(ctx, h); err != nil || r.Mode != storage.RetentionGovernance || !r.Until.Equal(u) {
		t.Fatalf("Retention: %+v, %v", r, err)
	}
	if fi, err := b.Stat(ctx, h); err != nil || !fi.RetainUntil.Equal(u) {
		t.Fatalf("Stat: %+v, %v", fi, err)
	}
	if err := b.Delete(ctx, h); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete: %v, want ErrRetained", err)
	}
	ok, reason, err := b.RetentionSupported(ctx)
	if ok || err != nil || !strings.Contains(reason, "without retention") {
		t.Fatalf("RetentionSupported = %v, %q, %v", ok, reason, err)
	}
	for name, err := range map[string]error{
		"Extend":       b.Extend(ctx, h, u.Add(time.Hour), storage.RetentionCompliance),
		"SetLegalHold": b.SetLegalHold(ctx, h, true),
	} {
		if !errors.Is(err, storage.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
	if err := b.DeleteBypass(ctx, h); err != nil {
		t.Fatalf("DeleteBypass of governance: %v", err)
	}
}

// TestUnreadableRecordRefusesDelete plants a record the backend cannot
// decode (as a newer version might write): the object counts as retained.
func TestUnreadableRecordRefusesDelete(t *testing.T) {
	b, clock := newRetainedVault(t)
	data := []byte("from the future")
	h := packOf(data)
	mustPut(t, b, h, data)
	path, _ := b.objectPath(h)
	future := validRecord(t)
	future[0] = 2
	if err := unix.Setxattr(path, retentionXattr, future, 0); err != nil {
		t.Fatal(err)
	}
	clock.advance(100 * 365 * 24 * time.Hour)
	for name, del := range map[string]func() error{
		"Delete":       func() error { return b.Delete(t.Context(), h) },
		"DeleteBypass": func() error { return b.DeleteBypass(t.Context(), h) },
	} {
		if err := del(); !errors.Is(err, storage.ErrRetained) || !strings.Contains(err.Error(), "version 2") {
			t.Errorf("%s: got %v, want ErrRetained naming the version", name, err)
		}
	}
	if _, err := b.Retention(t.Context(), h); !errors.Is(err, errBadRecord) {
		t.Errorf("Retention: got %v, want a malformed-record error", err)
	}
	if err := b.Extend(t.Context(), h, time.Now().Add(time.Hour), storage.RetentionGovernance); err == nil {
		t.Errorf("Extend over an unreadable record: no error")
	}
	wantContentLocal(t, b, h, data)
}

// TestImmutableWithoutRecordRefusesDelete covers an object made immutable
// by hand (chattr +i): Delete does not lift an attribute no record explains.
func TestImmutableWithoutRecordRefusesDelete(t *testing.T) {
	b, _ := newRetainedVault(t)
	data := []byte("chattr +i by hand")
	h := packOf(data)
	mustPut(t, b, h, data)
	path, _ := b.objectPath(h)
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr: %v %s", err, out)
	}
	if err := b.Delete(t.Context(), h); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete: got %v, want ErrRetained", err)
	}
	if !pathImmutable(path) {
		t.Fatal("Delete lifted the attribute")
	}
}

// TestCleanTempAmongImmutableFiles leaves in tmp/ what crashes can leave
// with retention: a probe file still immutable, a seal marker whose object
// lost its attribute, a seal marker still held. CleanTemp sorts them out
// and does not fail on an immutable file it does not own.
func TestCleanTempAmongImmutableFiles(t *testing.T) {
	b, _ := newRetainedVault(t)
	tmp := b.tmpDir()
	old := time.Now().Add(-2 * time.Hour)
	plant := func(name string, immutable bool) string {
		t.Helper()
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		if immutable {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := setImmutable(f, true); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	plant(probePrefix+"crashed", true)
	plant("put-stale", false)
	stray := plant("stray-immutable", true)

	// An object whose attribute a crash kept from being set, and its marker.
	h, path := putRetained(t, b, []byte("unsealed"), storage.RetentionCompliance, time.Now().Add(time.Hour))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := setImmutable(f, false); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m, err := b.mark(h)
	if err != nil {
		t.Fatal(err)
	}
	m.abandon()
	// An operation still running on another object holds its marker.
	h2, path2 := putRetained(t, b, []byte("in progress"), storage.RetentionCompliance, time.Now().Add(time.Hour))
	f2, err := os.Open(path2)
	if err != nil {
		t.Fatal(err)
	}
	if err := setImmutable(f2, false); err != nil {
		t.Fatal(err)
	}
	f2.Close()
	running, err := b.mark(h2)
	if err != nil {
		t.Fatal(err)
	}

	n, err := b.CleanTemp(time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("CleanTemp: removed %d, %v; want 2 (the probe and the stale temporary)", n, err)
	}
	if !pathImmutable(path) {
		t.Error("the marker's object was not sealed again")
	}
	if pathImmutable(path2) {
		t.Error("the object of a running operation was touched")
	}
	names := tempNames(t, b)
	if len(names) != 2 || names[0] != filepath.Base(running.f.Name()) || names[1] != filepath.Base(stray) {
		t.Fatalf("tmp/ holds %v; want the running marker and the stray immutable file", names)
	}
	running.abandon()
	if _, err := b.CleanTemp(time.Hour); err != nil {
		t.Fatal(err)
	}
	if !pathImmutable(path2) {
		t.Error("the released marker's object was not sealed")
	}
	if names := tempNames(t, b); len(names) != 1 {
		t.Fatalf("tmp/ holds %v; want only the stray immutable file", names)
	}
}
