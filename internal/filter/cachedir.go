package filter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CacheDirTag is the name of the file that marks a cache directory, as
// specified at https://bford.info/cachedir/.
const CacheDirTag = "CACHEDIR.TAG"

// cacheDirSignature is how a valid CACHEDIR.TAG file begins.
const cacheDirSignature = "Signature: 8a477f597d28d172789f06886806bc55"

// IsCacheDir reports whether dir is a cache directory: one that holds a
// regular file named CACHEDIR.TAG starting with the standard signature. A
// CACHEDIR.TAG that is a symbolic link, a FIFO, a device or anything else
// but a regular file does not count, and is never opened in a way that
// could block or run a device driver. A missing tag gives false and no
// error.
func IsCacheDir(dir string) (bool, error) {
	path := filepath.Join(dir, CacheDirTag)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check cache directory tag: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return false, fmt.Errorf("check cache directory tag: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return false, fmt.Errorf("check cache directory tag: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	head := make([]byte, len(cacheDirSignature))
	if _, err := io.ReadFull(f, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, fmt.Errorf("check cache directory tag: %w", err)
	}
	return bytes.Equal(head, []byte(cacheDirSignature)), nil
}
