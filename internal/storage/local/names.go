package local

import (
	"fmt"
	"path/filepath"

	"github.com/bunkerhq/bunker/internal/storage"
)

// configName is the only name an object of kind config may have.
const configName = "config"

// hexNameLen is the length of every other object name: a SHA-256 in hex.
const hexNameLen = 64

// kindDir returns the directory, relative to the vault root, that holds
// objects of kind k, or "" for a kind that has no directory.
func kindDir(k storage.Kind) string {
	switch k {
	case storage.KindKey:
		return "keys"
	case storage.KindPack:
		return "packs"
	case storage.KindIndex:
		return "index"
	case storage.KindPoint:
		return "points"
	}
	return ""
}

// checkHandle reports whether h names an object this backend can store.
func checkHandle(h storage.Handle) error {
	switch h.Kind {
	case storage.KindConfig:
		if h.Name != configName {
			return fmt.Errorf("kind config allows only the name %q: %w", configName, storage.ErrInvalidName)
		}
		return nil
	case storage.KindKey, storage.KindPack, storage.KindIndex, storage.KindPoint:
		if !isHexName(h.Name) {
			return fmt.Errorf("want %d lowercase hex digits: %w", hexNameLen, storage.ErrInvalidName)
		}
		return nil
	}
	return fmt.Errorf("unknown kind %q: %w", h.Kind, storage.ErrInvalidName)
}

// isHexName reports whether s is exactly hexNameLen lowercase hex digits.
func isHexName(s string) bool {
	if len(s) != hexNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f')
}

// isFanoutName reports whether s names a pack subdirectory.
func isFanoutName(s string) bool {
	return len(s) == 2 && isLowerHex(s[0]) && isLowerHex(s[1])
}

// objectPath returns the path of the object h after validating its name.
func (b *Backend) objectPath(h storage.Handle) (string, error) {
	if err := checkHandle(h); err != nil {
		return "", err
	}
	switch h.Kind {
	case storage.KindConfig:
		return filepath.Join(b.dir, configName), nil
	case storage.KindPack:
		return filepath.Join(b.dir, kindDir(h.Kind), h.Name[:2], h.Name), nil
	}
	return filepath.Join(b.dir, kindDir(h.Kind), h.Name), nil
}
