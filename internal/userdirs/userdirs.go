// Package userdirs locates the per-user directories bunker keeps its
// defaults in, following the XDG base directory conventions.
package userdirs

import (
	"fmt"
	"os"
	"path/filepath"
)

// Data returns a path under the user's data directory: $XDG_DATA_HOME, or
// ~/.local/share.
func Data(elem ...string) (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(append([]string{dir}, elem...)...), nil
}

// Config returns a path under the user's config directory: $XDG_CONFIG_HOME,
// or ~/.config.
func Config(elem ...string) (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w", err)
	}
	return filepath.Join(append([]string{dir}, elem...)...), nil
}

// Cache returns a path under the user's cache directory: $XDG_CACHE_HOME,
// or ~/.cache. What is kept there can be recomputed.
func Cache(elem ...string) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(append([]string{dir}, elem...)...), nil
}
