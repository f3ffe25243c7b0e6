package fsmeta

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bunkerhq/bunker/internal/tree"
)

// ApplyOptions controls how Apply restores ownership.
type ApplyOptions struct {
	// ByName gives the object the local user and group that carry the
	// node's recorded names, where the local system knows those names. The
	// recorded numeric ids are used otherwise, and always when ByName is
	// false.
	ByName bool
	// Names resolves names for ByName. If nil, Apply uses a fresh cache on
	// each call; pass one cache to every call of a restore instead.
	Names *Names
	// SkipOwner leaves ownership as it is, for a restore by an unprivileged
	// user, who cannot give files away.
	SkipOwner bool
}

// Apply gives the object at rel inside root the metadata recorded in n:
// owner, extended attributes, permission bits and then access and
// modification times with nanoseconds. The order matters: changing the
// owner clears the setuid and setgid bits and file capabilities, so those
// are set afterwards, and times go last because every other change touches
// them.
//
// The object must already exist and be of type n.Type; a symbolic link at
// rel is never followed. rel may be "." to apply a directory node to the
// root itself. Apply should run after a file's content is written and after
// a directory's entries are restored. Existing extended attributes that n
// does not list are left in place.
//
// Apply sets everything it can. Each failure is reported in the returned
// error, which joins one error per attribute naming rel and the attribute.
// Linux refuses user.* attributes on anything but regular files and
// directories, so Apply skips those on other types.
func Apply(root *os.Root, rel string, n *tree.Node, opts ApplyOptions) error {
	if n == nil {
		return fmt.Errorf("apply metadata to %s: nil node", rel)
	}
	e, err := openEntry(root, rel, true)
	if err != nil {
		return fmt.Errorf("apply metadata to %s: %w", rel, err)
	}
	defer e.close()
	h, err := openHandle(e, n.Type)
	if err != nil {
		return fmt.Errorf("apply metadata to %s: %w", rel, err)
	}
	defer h.close()

	var errs []error
	fail := func(attr string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: set %s: %w", rel, attr, err))
		}
	}
	if !opts.SkipOwner {
		uid, gid := opts.owner(n)
		fail("owner", h.chown(uid, gid))
	}
	for _, x := range n.Xattrs {
		if userXattr(x.Name) && n.Type != tree.TypeFile && n.Type != tree.TypeDir {
			continue
		}
		fail("extended attribute "+x.Name, h.setxattr(x))
	}
	if n.Type != tree.TypeSymlink {
		fail("mode", h.chmod(n.Mode&0o7777))
	}
	fail("times", setTimes(e, n))
	return errors.Join(errs...)
}

// owner returns the numeric owner and group to give an object restored
// from n.
func (o ApplyOptions) owner(n *tree.Node) (uid, gid int) {
	uid, gid = int(n.UID), int(n.GID)
	if !o.ByName {
		return uid, gid
	}
	names := o.Names
	if names == nil {
		names = NewNames()
	}
	if id, ok := names.UID(n.User); ok {
		uid = int(id)
	}
	if id, ok := names.GID(n.Group); ok {
		gid = int(id)
	}
	return uid, gid
}

// setTimes sets the access and modification times of the entry itself,
// never of a symbolic link's target.
func setTimes(e *entry, n *tree.Node) error {
	ts := []unix.Timespec{unix.NsecToTimespec(n.ATime), unix.NsecToTimespec(n.MTime)}
	return e.do(func(dirfd int) error {
		return unix.UtimesNanoAt(dirfd, e.base, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}
