package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// fsImmutableFL is FS_IMMUTABLE_FL, the inode flag that chattr +i sets: the
// file cannot be written, truncated, renamed, linked, unlinked, or have its
// mode, owner or extended attributes changed, by anyone, root included,
// until a process with CAP_LINUX_IMMUTABLE clears it.
const fsImmutableFL = 0x00000010

// getFlags returns the inode flags of the open file f (FS_IOC_GETFLAGS).
func getFlags(f *os.File) (uint32, error) {
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return 0, &os.PathError{Op: "get inode flags", Path: f.Name(), Err: err}
	}
	return flags, nil
}

// setFlags replaces the inode flags of f (FS_IOC_SETFLAGS).
func setFlags(f *os.File, flags uint32) error {
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(int32(flags))); err != nil {
		return &os.PathError{Op: "set inode flags", Path: f.Name(), Err: err}
	}
	return nil
}

// isImmutable reports whether f carries the immutable attribute.
func isImmutable(f *os.File) (bool, error) {
	flags, err := getFlags(f)
	if err != nil {
		return false, err
	}
	return flags&fsImmutableFL != 0, nil
}

// setImmutable sets or clears the immutable attribute of f, keeping its
// other flags; it does nothing when the attribute is already as asked.
func setImmutable(f *os.File, on bool) error {
	flags, err := getFlags(f)
	if err != nil {
		return err
	}
	want := flags &^ fsImmutableFL
	if on {
		want |= fsImmutableFL
	}
	if want == flags {
		return nil
	}
	return setFlags(f, want)
}

// pathImmutable reports whether the file at path (not followed if it is a
// symbolic link) carries the immutable attribute. It needs no permission on
// the file itself, so it also answers for processes that cannot open it.
func pathImmutable(path string) bool {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, 0, &st); err != nil {
		return false
	}
	return st.Attributes_mask&unix.STATX_ATTR_IMMUTABLE != 0 && st.Attributes&unix.STATX_ATTR_IMMUTABLE != 0
}

// readRecord returns the retention record of the open file f; ok is false
// when it has none. A record that does not decode is an error wrapping
// errBadRecord. A process without CAP_SYS_ADMIN sees no record at all (the
// kernel hides the trusted namespace from it).
func readRecord(f *os.File) (r record, ok bool, err error) {
	var buf [2 * recordLen]byte
	n, err := unix.Fgetxattr(int(f.Fd()), retentionXattr, buf[:])
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP):
		return record{}, false, nil
	case errors.Is(err, unix.ERANGE):
		return record{}, false, fmt.Errorf("%s: %w: longer than %d bytes", f.Name(), errBadRecord, len(buf))
	case err != nil:
		return record{}, false, &os.PathError{Op: "read retention record", Path: f.Name(), Err: err}
	}
	r, err = decodeRecord(buf[:n])
	if err != nil {
		return record{}, false, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return r, true, nil
}

// pathRecord is readRecord for a path, without following a symbolic link;
// it is for listings, which would rather not open every file.
func pathRecord(path string) (r record, ok bool, err error) {
	var buf [2 * recordLen]byte
	n, err := unix.Lgetxattr(path, retentionXattr, buf[:])
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP):
		return record{}, false, nil
	case err != nil:
		return record{}, false, &os.PathError{Op: "read retention record", Path: path, Err: err}
	}
	r, err = decodeRecord(buf[:n])
	if err != nil {
		return record{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return r, true, nil
}

// writeRecord stores r as the retention record of f, or removes the record
// when r is empty. f must not be immutable.
func writeRecord(f *os.File, r record) error {
	if r.empty() {
		err := unix.Fremovexattr(int(f.Fd()), retentionXattr)
		if err != nil && !errors.Is(err, unix.ENODATA) {
			return &os.PathError{Op: "remove retention record", Path: f.Name(), Err: err}
		}
		return nil
	}
	val, err := encodeRecord(r)
	if err != nil {
		return err
	}
	if err := unix.Fsetxattr(int(f.Fd()), retentionXattr, val, 0); err != nil {
		return &os.PathError{Op: "write retention record", Path: f.Name(), Err: err}
	}
	return nil
}

// Capabilities the retention of a local vault needs: CAP_LINUX_IMMUTABLE to
// set and clear the immutable attribute, CAP_SYS_ADMIN to write the record
// in the trusted namespace.
const (
	capLinuxImmutable = unix.CAP_LINUX_IMMUTABLE
	capSysAdmin       = unix.CAP_SYS_ADMIN
)

// effectiveCaps returns the calling thread's effective capability set.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// privilegeReason says why a process with effective user id euid and
// effective capabilities caps cannot keep objects retained, or returns ""
// if it can.
func privilegeReason(euid int, caps uint64) string {
	has := func(c int) bool { return caps&(1<<uint(c)) != 0 }
	immutable, admin := has(capLinuxImmutable), has(capSysAdmin)
	switch {
	case immutable && admin:
		return ""
	case euid != 0:
		return fmt.Sprintf("not running as root (user id %d): the immutable attribute needs CAP_LINUX_IMMUTABLE and the retention record CAP_SYS_ADMIN", euid)
	case !immutable:
		return "running as root without CAP_LINUX_IMMUTABLE, which setting the immutable attribute needs"
	}
	return "running as root without CAP_SYS_ADMIN, which the retention record (a trusted extended attribute) needs"
}

// processPrivilegeReason is privilegeReason for this process.
func processPrivilegeReason() (string, error) {
	caps, err := effectiveCaps()
	if err != nil {
		return "", err
	}
	return privilegeReason(os.Geteuid(), caps), nil
}

// fsName names the filesystem that f lives on, for messages.
func fsName(f *os.File) string {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return "the filesystem"
	}
	return fsTypeName(uint32(st.Type))
}

// fsTypeName names a filesystem by its statfs(2) magic number.
func fsTypeName(magic uint32) string {
	switch magic {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.RAMFS_MAGIC:
		return "ramfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	case unix.CIFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC:
		return "smb"
	case unix.FUSE_SUPER_MAGIC:
		return "a fuse filesystem"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case unix.V9FS_MAGIC:
		return "9p"
	case unix.MSDOS_SUPER_MAGIC:
		return "vfat"
	case unix.EXFAT_SUPER_MAGIC:
		return "exfat"
	}
	return fmt.Sprintf("the filesystem (type %#x)", magic)
}

// unsupportedErrno reports whether err is what a filesystem without an
// ioctl or extended attribute namespace answers.
func unsupportedErrno(err error) bool {
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
}

// Unseal clears the immutable attribute of every file below root, as
// `chattr -R -i` does. It is the deliberate way out for root: to
// decommission a hardened vault, or to clean up after tests. Retention
// records stay; only the attribute goes.
func Unseal(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() || !pathImmutable(p) {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("unseal %s: %w", p, err)
		}
		defer f.Close()
		if err := setImmutable(f, false); err != nil {
			return fmt.Errorf("unseal %s: %w", p, err)
		}
		return nil
	})
}
