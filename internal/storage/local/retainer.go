package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"golang.org/x/sys/unix"
)

// RetentionSupported reports whether this backend can keep objects
// retained: it was opened WithRetention, the process may set the immutable
// attribute and write trusted extended attributes (root, or
// CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN), and the vault's filesystem
// supports both, which it finds out by trying them on a file in tmp/. If
// not, the string says why. An error means the question could not be
// answered, such as tmp/ being unwritable.
func (b *Backend) RetentionSupported(ctx context.Context) (bool, string, error) {
	if err := ctx.Err(); err != nil {
		return false, "", fmt.Errorf("retention supported: %w", err)
	}
	if !b.retain {
		return false, "the vault was opened without retention (local.WithRetention)", nil
	}
	reason, err := processPrivilegeReason()
	if err != nil {
		return false, "", fmt.Errorf("retention supported: %w", err)
	}
	if reason == "" {
		reason, err = b.probe()
		if err != nil {
			return false, "", fmt.Errorf("retention supported: %w", err)
		}
	}
	b.probeMu.Lock()
	b.probed = reason == ""
	b.probeMu.Unlock()
	return reason == "", reason, nil
}

// requireRetention fails with an error wrapping storage.ErrUnsupported,
// saying why, unless retention is supported. A positive answer is kept.
func (b *Backend) requireRetention(ctx context.Context) error {
	if !b.retain {
		return fmt.Errorf("retention: the vault was opened without it: %w", storage.ErrUnsupported)
	}
	b.probeMu.Lock()
	ok := b.probed
	b.probeMu.Unlock()
	if ok {
		return nil
	}
	ok, reason, err := b.RetentionSupported(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("retention: %s: %w", reason, storage.ErrUnsupported)
	}
	return nil
}

// probe tries, on a new file in tmp/, what retention does to an object:
// write a retention record, set the immutable attribute and clear it. It
// returns why that failed, or "". A probe file that a crash leaves
// immutable is cleared and removed by CleanTemp.
func (b *Backend) probe() (reason string, err error) {
	f, err := os.CreateTemp(b.tmpDir(), probePrefix+"*")
	if err != nil {
		return "", fmt.Errorf("create probe file: %w", err)
	}
	sealed := false
	defer func() {
		if sealed {
			if cerr := setImmutable(f, false); cerr != nil && err == nil {
				err = fmt.Errorf("clear the probe file's immutable attribute: %w", cerr)
			}
		}
		f.Close()
		if rerr := os.Remove(f.Name()); rerr != nil && err == nil {
			err = fmt.Errorf("remove probe file: %w", rerr)
		}
	}()
	fsys := fsName(f)
	if _, err := getFlags(f); err != nil {
		if unsupportedErrno(err) {
			return fsys + " does not support the immutable attribute", nil
		}
		return "", err
	}
	if err := writeRecord(f, record{hold: true}); err != nil {
		switch {
		case unsupportedErrno(err):
			return fsys + " does not support extended attributes in the trusted namespace", nil
		case errors.Is(err, unix.EPERM):
			return "not permitted to write trusted extended attributes on " + fsys, nil
		}
		return "", err
	}
	if err := setImmutable(f, true); err != nil {
		switch {
		case unsupportedErrno(err):
			return fsys + " does not support the immutable attribute", nil
		case errors.Is(err, unix.EPERM):
			return "not permitted to set the immutable attribute on " + fsys, nil
		}
		return "", err
	}
	sealed = true
	on, err := isImmutable(f)
	if err != nil {
		return "", err
	}
	if !on {
		return fsys + " ignores the immutable attribute", nil
	}
	return "", nil
}

// Retention reports h's retention record: mode, retain-until and legal
// hold, zero for an object without one. A record this process cannot read
// (the trusted namespace needs CAP_SYS_ADMIN) reads as none.
func (b *Backend) Retention(ctx context.Context, h storage.Handle) (storage.Retention, error) {
	path, err := b.objectPath(h)
	if err != nil {
		return storage.Retention{}, fmt.Errorf("retention of %s: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Retention{}, fmt.Errorf("retention of %s: %w", h, err)
	}
	f, _, err := openObject(path)
	if err != nil {
		return storage.Retention{}, fmt.Errorf("retention of %s: %w", h, err)
	}
	defer f.Close()
	r, _, err := readRecord(f)
	if err != nil {
		return storage.Retention{}, fmt.Errorf("retention of %s: %w", h, err)
	}
	return r.public(), nil
}

// Extend lengthens h's retention to until, in mode. Retention is never
// shortened and compliance never becomes governance: an until not after
// the current one (or not in the future) changes nothing, and an object
// under compliance stays under compliance whatever mode says. Governance
// may become compliance. An object without retention gets it, for which
// mode must be given. The immutable attribute is lifted only for the
// rewrite, under a seal marker, and set again.
func (b *Backend) Extend(ctx context.Context, h storage.Handle, until time.Time, mode storage.RetentionMode) error {
	if _, err := b.objectPath(h); err != nil {
		return fmt.Errorf("extend %s: %w", h, err)
	}
	if _, err := modeCode(mode); err != nil {
		return fmt.Errorf("extend %s: %w", h, err)
	}
	if until.Unix() > maxRetainUnix {
		return fmt.Errorf("extend %s: retain-until %s is after 9999", h, until.Format(time.RFC3339))
	}
	if err := b.requireRetention(ctx); err != nil {
		return fmt.Errorf("extend %s: %w", h, err)
	}
	err := b.change(ctx, h, func(cur record, now time.Time) (record, error) {
		if !until.After(cur.until) || !until.After(now) {
			return cur, nil
		}
		next := cur
		next.until = until
		switch {
		case cur.mode == storage.RetentionCompliance:
		case mode != storage.RetentionNone:
			next.mode = mode
		case cur.mode == storage.RetentionNone:
			return cur, errors.New("the object has no retention, so a mode is needed")
		}
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("extend %s: %w", h, err)
	}
	return nil
}

// SetLegalHold places or lifts a legal hold on h. A held object cannot be
// deleted, bypass or not, whatever its retention; an object without
// retention can be held too.
func (b *Backend) SetLegalHold(ctx context.Context, h storage.Handle, on bool) error {
	if _, err := b.objectPath(h); err != nil {
		return fmt.Errorf("legal hold on %s: %w", h, err)
	}
	if err := b.requireRetention(ctx); err != nil {
		return fmt.Errorf("legal hold on %s: %w", h, err)
	}
	err := b.change(ctx, h, func(cur record, _ time.Time) (record, error) {
		next := cur
		next.hold = on
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("legal hold on %s: %w", h, err)
	}
	return nil
}

// change rewrites h's retention record to what next returns for the
// current one, holding the object's lock throughout.
func (b *Backend) change(ctx context.Context, h storage.Handle, next func(cur record, now time.Time) (record, error)) error {
	f, err := b.lockObject(ctx, h)
	if err != nil {
		return err
	}
	defer f.Close()
	cur, _, err := readRecord(f)
	if err != nil {
		return fmt.Errorf("cannot change it: %w", err)
	}
	want, err := next(cur, b.now())
	if err != nil {
		return err
	}
	if want.mode == cur.mode && want.hold == cur.hold && want.until.Equal(cur.until) {
		return nil
	}
	return b.rewrite(f, h, want)
}

// rewrite replaces the record of the locked object f with r. The immutable
// attribute must go for the record to change, so a seal marker is made
// durable first; a crash before the attribute is back leaves f with either
// record (extended attributes are replaced atomically) and the marker, and
// the next Open WithRetention seals it again.
func (b *Backend) rewrite(f *os.File, h storage.Handle, r record) (err error) {
	m, err := b.mark(h)
	if err != nil {
		return err
	}
	lifted := false
	defer func() {
		if lifted && err != nil {
			if serr := sealFile(f); serr != nil {
				m.abandon()
				return
			}
		}
		m.done()
	}()
	if err := b.step(stepMarked); err != nil {
		return err
	}
	if err := setImmutable(f, false); err != nil {
		return err
	}
	lifted = true
	if err := b.step(stepLifted); err != nil {
		return err
	}
	if err := writeRecord(f, r); err != nil {
		return err
	}
	if err := b.step(stepRewritten); err != nil {
		return err
	}
	if !r.empty() {
		if err := setImmutable(f, true); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return b.step(stepSealed)
}

// Delete removes h and makes the removal durable. It returns
// storage.ErrNotFound if h does not exist, and an error wrapping
// storage.ErrRetained if h is under a legal hold or a retention that has
// not passed by the backend's clock, or carries the immutable attribute
// without a record this process can read. Once its retention has passed,
// Delete lifts the attribute and removes the object.
func (b *Backend) Delete(ctx context.Context, h storage.Handle) error {
	return b.remove(ctx, "delete", h, false)
}

// DeleteBypass is Delete for the holder of the governance bypass: an
// object under governance retention goes before it passes. Compliance
// retention and legal holds still refuse with storage.ErrRetained.
func (b *Backend) DeleteBypass(ctx context.Context, h storage.Handle) error {
	return b.remove(ctx, "delete (governance bypass)", h, true)
}

// remove is Delete and DeleteBypass, named op in errors.
func (b *Backend) remove(ctx context.Context, op string, h storage.Handle, bypass bool) error {
	path, err := b.objectPath(h)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, h, err)
	}
	b.packs.forget(path)
	f, _, err := openObject(path)
	if err != nil {
		// Not a regular file this process can open: a symbolic link, a
		// directory, a FIFO, a missing object, another user's file. The
		// name goes if the kernel lets it.
		return unlinkObject(op, h, path)
	}
	defer f.Close()
	if err := lockOpenObject(ctx, f); err != nil {
		return fmt.Errorf("%s %s: %w", op, h, err)
	}
	r, ok, err := readRecord(f)
	if errors.Is(err, errBadRecord) {
		return fmt.Errorf("%s %s: %w: %v", op, h, storage.ErrRetained, err)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, h, err)
	}
	if why := r.blocks(b.now(), bypass); ok && why != "" {
		return fmt.Errorf("%s %s: %s: %w", op, h, why, storage.ErrRetained)
	}
	if on, err := isImmutable(f); err == nil && on {
		if !ok {
			return fmt.Errorf("%s %s: carries the immutable attribute without a retention record this process can read: %w", op, h, storage.ErrRetained)
		}
		if err := setImmutable(f, false); err != nil {
			return fmt.Errorf("%s %s: lift the immutable attribute: %w", op, h, err)
		}
	}
	return unlinkObject(op, h, path)
}

// unlinkObject removes the name path of h and makes the removal durable.
func unlinkObject(op string, h storage.Handle, path string) error {
	if err := unix.Unlink(path); err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return fmt.Errorf("%s %s: %w", op, h, storage.ErrNotFound)
		case errors.Is(err, unix.EPERM) && pathImmutable(path):
			return fmt.Errorf("%s %s: carries the immutable attribute: %w", op, h, storage.ErrRetained)
		}
		return fmt.Errorf("%s %s: %w", op, h, &os.PathError{Op: "unlink", Path: path, Err: err})
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("%s %s: %w", op, h, err)
	}
	return nil
}
