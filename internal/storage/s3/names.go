package s3

import (
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/storage"
)

// configName is the only name an object of kind config may have.
const configName = "config"

// hexNameLen is the length of every other object name: a SHA-256 in hex.
const hexNameLen = 64

// checkHandle reports whether h names an object a vault may hold. The
// rules are the local backend's: "config" for kind config, 64 lowercase
// hex digits for the other kinds.
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
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// kindPrefix returns the key prefix of kind k's objects, ending in "/".
func (b *Backend) kindPrefix(k storage.Kind) string {
	if b.prefix == "" {
		return string(k) + "/"
	}
	return b.prefix + "/" + string(k) + "/"
}

// objectKey returns the key of h after validating it.
func (b *Backend) objectKey(h storage.Handle) (string, error) {
	if err := checkHandle(h); err != nil {
		return "", err
	}
	return b.kindPrefix(h.Kind) + h.Name, nil
}

// handleOf returns the handle stored under key, a key that List found under
// kind k's prefix, and whether it is a valid object name.
func (b *Backend) handleOf(k storage.Kind, key string) (storage.Handle, bool) {
	name, ok := strings.CutPrefix(key, b.kindPrefix(k))
	if !ok {
		return storage.Handle{}, false
	}
	h := storage.Handle{Kind: k, Name: name}
	return h, checkHandle(h) == nil
}
