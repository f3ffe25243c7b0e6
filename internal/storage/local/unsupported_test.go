package local

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/storagetest"
	"golang.org/x/sys/unix"
)

func TestPrivilegeReason(t *testing.T) {
	all := ^uint64(0)
	without := func(c int) uint64 { return all &^ (1 << uint(c)) }
	cases := []struct {
		euid int
		caps uint64
		want string // in the reason; "" for none
	}{
		{0, all, ""},
		{1000, all, ""}, // an unprivileged user given both capabilities
		{1000, 0, "not running as root"},
		{65534, 1 << capLinuxImmutable, "not running as root"},
		{0, without(capLinuxImmutable), "without CAP_LINUX_IMMUTABLE"},
		{0, without(capSysAdmin), "without CAP_SYS_ADMIN"},
		{0, 0, "without CAP_LINUX_IMMUTABLE"},
	}
	for _, c := range cases {
		got := privilegeReason(c.euid, c.caps)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("privilegeReason(%d, %#x) = %q, want %q", c.euid, c.caps, got, c.want)
		}
	}
}

func TestFsTypeName(t *testing.T) {
	for magic, want := range map[uint32]string{
		unix.TMPFS_MAGIC:      "tmpfs",
		unix.RAMFS_MAGIC:      "ramfs",
		unix.NFS_SUPER_MAGIC:  "nfs",
		unix.EXT4_SUPER_MAGIC: "ext4",
		0x12345678:            "the filesystem (type 0x12345678)",
	} {
		if got := fsTypeName(magic); got != want {
			t.Errorf("fsTypeName(%#x) = %q, want %q", magic, got, want)
		}
	}
}

// mountFS mounts a fresh filesystem of type fstype in a temporary
// directory, until the test ends.
func mountFS(t *testing.T, fstype string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to mount a %s", fstype)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", fstype, fstype, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s here: %v %s", fstype, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// wantRetentionRefused checks a vault where retention is unsupported for
// reason: RetentionSupported says so, retained Puts and retention changes
// fail with ErrUnsupported and leave nothing, plain objects still work.
func wantRetentionRefused(t *testing.T, b *Backend, reason string) {
	t.Helper()
	ctx := t.Context()
	ok, got, err := b.RetentionSupported(ctx)
	if err != nil || ok || !strings.Contains(got, reason) {
		t.Fatalf("RetentionSupported = %v, %q, %v; want false, %q", ok, got, err, reason)
	}
	data := []byte("retained")
	h := packOf(data)
	for _, mode := range []storage.RetentionMode{storage.RetentionGovernance, storage.RetentionCompliance} {
		opts := storage.PutOptions{Mode: mode, RetainUntil: time.Now().Add(time.Hour)}
		err := b.Put(ctx, h, int64(len(data)), bytes.NewReader(data), opts)
		if !errors.Is(err, storage.ErrUnsupported) || !strings.Contains(err.Error(), reason) {
			t.Fatalf("retained Put: got %v, want ErrUnsupported saying %q", err, reason)
		}
	}
	if _, err := b.Stat(ctx, h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a refused Put stored the object: %v", err)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("refused Puts left %v in tmp/", names)
	}
	mustPut(t, b, h, data)
	if err := b.Extend(ctx, h, time.Now().Add(time.Hour), storage.RetentionGovernance); !errors.Is(err, storage.ErrUnsupported) {
		t.Fatalf("Extend: got %v, want ErrUnsupported", err)
	}
	if err := b.SetLegalHold(ctx, h, true); !errors.Is(err, storage.ErrUnsupported) {
		t.Fatalf("SetLegalHold: got %v, want ErrUnsupported", err)
	}
	if r, err := b.Retention(ctx, h); err != nil || r != (storage.Retention{}) {
		t.Fatalf("Retention of a plain object: %+v, %v", r, err)
	}
	if err := b.Delete(ctx, h); err != nil {
		t.Fatalf("Delete of a plain object: %v", err)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("tmp/ holds %v", names)
	}
}

// TestRetentionUnsupportedOnRamfs: ramfs has neither inode flags nor
// extended attributes.
func TestRetentionUnsupportedOnRamfs(t *testing.T) {
	mnt := mountFS(t, "ramfs")
	b, err := Create(filepath.Join(mnt, "vault"), WithRetention())
	if err != nil {
		t.Fatal(err)
	}
	wantRetentionRefused(t, b, "ramfs does not support the immutable attribute")
}

// TestRetentionOnTmpfs: tmpfs supports the immutable attribute and trusted
// extended attributes since Linux 6.0, and not before. Either way the probe
// must tell the truth: if it says yes, retained objects resist deletion.
func TestRetentionOnTmpfs(t *testing.T) {
	mnt := mountFS(t, "tmpfs")
	dir := filepath.Join(mnt, "vault")
	liftAllOnCleanup(t, dir)
	b, err := Create(dir, WithRetention())
	if err != nil {
		t.Fatal(err)
	}
	ok, reason, err := b.RetentionSupported(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Logf("this kernel's tmpfs: %s", reason)
		wantRetentionRefused(t, b, "tmpfs does not support")
		return
	}
	requirePrivilege(t)
	t.Log("this kernel's tmpfs supports the immutable attribute")
	h, path := putRetained(t, b, []byte("on tmpfs"), storage.RetentionCompliance, time.Now().Add(time.Hour))
	if err := os.Remove(path); !errors.Is(err, unix.EPERM) {
		t.Fatalf("remove of a retained object on tmpfs: %v", err)
	}
	if err := b.Delete(t.Context(), h); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete: %v", err)
	}
}

// copyTestBinary copies this test binary to where user nobody can run it
// and returns its path.
func copyTestBinary(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "local.test")
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// reportFields parses the retention-report helper's key=value lines.
func reportFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// TestRetentionUnsupportedAsNonRoot runs the backend as user nobody, on a
// filesystem that does support retention: it reports why not, refuses
// retained Puts and leaves nothing behind.
func TestRetentionUnsupportedAsNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	const nobody = 65534
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := copyTestBinary(t, base)
	dir := filepath.Join(base, "vault")
	b, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobody, nobody) })
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=retention-report", vaultEnv+"="+dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	got := reportFields(helperOutput(t, cmd))
	if got["supported"] != "false" || !strings.Contains(got["reason"], "not running as root") {
		t.Fatalf("as nobody: supported=%s reason=%q", got["supported"], got["reason"])
	}
	if got["unsupported"] != "true" || !strings.Contains(got["put"], "not running as root") {
		t.Fatalf("as nobody, a retained Put: %q (ErrUnsupported: %s)", got["put"], got["unsupported"])
	}
	if _, err := b.Stat(t.Context(), packOf(crashData)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the refused Put stored the object: %v", err)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("as nobody, tmp/ was left holding %v", names)
	}
}

// TestRetentionUnsupportedWithoutCapLinuxImmutable runs the backend as root
// with CAP_LINUX_IMMUTABLE dropped from its bounding set, as a hardened
// service unit or container might.
func TestRetentionUnsupportedWithoutCapLinuxImmutable(t *testing.T) {
	requirePrivilege(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed")
	}
	b, _ := newRetainedVault(t)
	cmd := exec.Command(setpriv, "--bounding-set=-linux_immutable", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=retention-report", vaultEnv+"="+b.Location())
	cmd.Stderr = os.Stderr
	got := reportFields(helperOutput(t, cmd))
	if got["supported"] != "false" || !strings.Contains(got["reason"], "without CAP_LINUX_IMMUTABLE") {
		t.Fatalf("without CAP_LINUX_IMMUTABLE: supported=%s reason=%q", got["supported"], got["reason"])
	}
	if got["unsupported"] != "true" {
		t.Fatalf("without CAP_LINUX_IMMUTABLE, a retained Put: %q", got["put"])
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("tmp/ was left holding %v", names)
	}
}

// TestNoRetentionContract runs the contract for backends where retention is
// unavailable: a vault opened without WithRetention, and one on ramfs.
func TestNoRetentionContract(t *testing.T) {
	t.Run("WithoutWithRetention", func(t *testing.T) {
		storagetest.RunNoRetention(t, func(t *testing.T) storage.Backend { return newVault(t) })
	})
	t.Run("Ramfs", func(t *testing.T) {
		mnt := mountFS(t, "ramfs")
		storagetest.RunNoRetention(t, func(t *testing.T) storage.Backend {
			b, err := Create(filepath.Join(mnt, "vault"), WithRetention())
			if err != nil {
				t.Fatal(err)
			}
			return b
		})
	})
}
