package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bunkerhq/bunker/internal/atomicfile"
)

// keyFileHeader is the first line of every key file.
const keyFileHeader = "bunker key file v1"

// maxKeyFileSize bounds what ReadKeyFile reads; a key file is about 64 bytes.
const maxKeyFileSize = 4096

// GenerateKeyFile writes a new key file holding a random secret at path and
// returns the secret. The file is written with mode 0600 under a temporary
// name, synced, and then linked into place, so path either does not exist
// or holds the complete key. It refuses to replace an existing file.
func GenerateKeyFile(path string) ([]byte, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("key file %s: %w; refusing to overwrite it", path, fs.ErrExist)
	}
	secret := make([]byte, KeyFileSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate key file secret: %w", err)
	}
	if err := atomicfile.WriteNew(path, formatKeyFile(secret), 0o600); err != nil {
		return nil, fmt.Errorf("write key file %s: %w", path, err)
	}
	return secret, nil
}

// ReadOrCreateKeyFile returns the secret of the key file at path, creating
// the file (and its directory, mode 0700) with a new secret when it does
// not exist.
func ReadOrCreateKeyFile(path string) ([]byte, error) {
	if _, err := os.Stat(path); err == nil {
		return ReadKeyFile(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key file directory: %w", err)
	}
	return GenerateKeyFile(path)
}

// ReadKeyFile returns the secret of the key file at path. It refuses a file
// that group or others may access, or that is not a regular file.
func ReadKeyFile(path string) ([]byte, error) {
	// O_NONBLOCK keeps a FIFO planted at path from blocking the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o, so group or others can access it; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	secret, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return secret, nil
}

// formatKeyFile returns the contents of a key file holding secret.
func formatKeyFile(secret []byte) []byte {
	return fmt.Appendf(nil, "%s\n%s\n", keyFileHeader, base64.StdEncoding.EncodeToString(secret))
}

// parseKeyFile extracts the secret from a key file's contents: the header
// line, then the base64 secret, each ending in a newline (the last one
// optional, CRLF tolerated). Errors never quote the contents.
func parseKeyFile(data []byte) ([]byte, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("more than %d bytes; not a bunker key file", maxKeyFileSize)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	for i := range lines {
		lines[i] = bytes.TrimSuffix(lines[i], []byte("\r"))
	}
	if string(lines[0]) != keyFileHeader {
		return nil, fmt.Errorf("not a bunker key file: the first line is not %q", keyFileHeader)
	}
	if len(lines) != 2 {
		return nil, fmt.Errorf("has %d lines, want 2: %q and the secret", len(lines), keyFileHeader)
	}
	secret, err := base64.StdEncoding.Strict().DecodeString(string(lines[1]))
	if err != nil {
		return nil, errors.New("the secret is not valid base64")
	}
	if len(secret) != KeyFileSecretSize {
		return nil, fmt.Errorf("the secret has %d bytes, want %d", len(secret), KeyFileSecretSize)
	}
	return secret, nil
}
