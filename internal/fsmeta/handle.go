package fsmeta

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/bunkerhq/bunker/internal/tree"
)

// handle is a file descriptor for the object that Apply changes. Regular
// files, directories and FIFOs are opened for reading (non-blocking, so a
// FIFO without a writer does not hang). Devices, sockets and symbolic links
// get an O_PATH descriptor: opening a device would run its driver, a socket
// cannot be opened, and a symlink must not be followed.
type handle struct {
	e      *entry
	fd     int
	pathFD bool // fd was opened with O_PATH
}

// openHandle opens the object named by e after checking that it is of type
// typ, and checks again on the open descriptor that it is the same object.
func openHandle(e *entry, typ tree.NodeType) (*handle, error) {
	var st unix.Stat_t
	err := e.do(func(dirfd int) error {
		return unix.Fstatat(dirfd, e.base, &st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return nil, fmt.Errorf("lstat: %w", err)
	}
	if err := checkType(st.Mode, typ); err != nil {
		return nil, err
	}
	h := &handle{e: e}
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	switch typ {
	case tree.TypeBlock, tree.TypeChar, tree.TypeSocket, tree.TypeSymlink:
		flags = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
		h.pathFD = true
	}
	err = e.do(func(dirfd int) error {
		fd, err := unix.Openat(dirfd, e.base, flags, 0)
		h.fd = fd
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	var now unix.Stat_t
	if err := unix.Fstat(h.fd, &now); err != nil {
		h.close()
		return nil, fmt.Errorf("fstat: %w", err)
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		h.close()
		return nil, errors.New("replaced while being opened")
	}
	return h, nil
}

// checkType reports an error unless the st_mode type bits match typ.
func checkType(mode uint32, typ tree.NodeType) error {
	have, err := nodeType(mode)
	if err != nil {
		return err
	}
	if have != typ {
		return fmt.Errorf("is a %s, node is a %s", have, typ)
	}
	return nil
}

func (h *handle) close() { unix.Close(h.fd) }

func (h *handle) chown(uid, gid int) error {
	return unix.Fchownat(h.fd, "", uid, gid, unix.AT_EMPTY_PATH)
}

func (h *handle) chmod(mode uint32) error {
	if !h.pathFD {
		return unix.Fchmod(h.fd, mode)
	}
	err := unix.Fchmodat(h.fd, "", mode, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// Kernels before 6.6 lack fchmodat2; the descriptor's /proc link
		// reaches the same inode.
		return chmodProc(h.fd, mode)
	}
	return err
}

// chmodProc changes the mode of the inode that fd refers to through its
// /proc/self/fd link, which works for O_PATH descriptors. fd must not refer
// to a symbolic link.
func chmodProc(fd int, mode uint32) error {
	return unix.Chmod(procFD(fd), mode)
}

func (h *handle) setxattr(x tree.Xattr) error {
	if !h.pathFD {
		return unix.Fsetxattr(h.fd, x.Name, x.Value, 0)
	}
	// An O_PATH descriptor does not accept fsetxattr. The parent directory's
	// /proc link, resolved by the kernel to the directory the root opened,
	// plus lsetxattr on the single element base reach the object itself.
	return h.e.do(func(dirfd int) error {
		return unix.Lsetxattr(procFD(dirfd)+"/"+h.e.base, x.Name, x.Value, 0)
	})
}

func procFD(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}
