package approval

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bunkerhq/bunker/internal/atomicfile"
	"github.com/bunkerhq/bunker/internal/userdirs"
)

const keyFileHeader = "bunker approver key v1\n"

// GenerateKey makes a new approver key pair.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate approver key: %w", err)
	}
	return priv, nil
}

// EncodeKeyFile returns the contents of a private key file.
func EncodeKeyFile(priv ed25519.PrivateKey) []byte {
	return []byte(keyFileHeader + base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
}

// DecodeKeyFile reads the contents of a private key file.
func DecodeKeyFile(data []byte) (ed25519.PrivateKey, error) {
	rest, ok := bytes.CutPrefix(data, []byte(keyFileHeader))
	if !ok {
		return nil, errors.New("not a bunker approver key file: the first line is not \"bunker approver key v1\"")
	}
	line, ok := bytes.CutSuffix(rest, []byte("\n"))
	if !ok || bytes.ContainsAny(line, "\r\n") {
		return nil, errors.New("approver key file: want the key on one line after the header, ending in a newline")
	}
	seed := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Strict().Decode(seed, line)
	if err != nil || n != ed25519.SeedSize {
		return nil, fmt.Errorf("approver key file: want the base64 of a %d-byte ed25519 seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed[:n]), nil
}

// DefaultKeyFile is $XDG_CONFIG_HOME/bunker/approver.key.
func DefaultKeyFile() (string, error) {
	p, err := userdirs.Config("bunker", "approver.key")
	if err != nil {
		return "", fmt.Errorf("the approver key file: %w (name one with --key-file)", err)
	}
	return p, nil
}

// WriteKeyFile creates a private key file with mode 0600 (its directory
// 0700 if missing), refusing to replace one that exists.
func WriteKeyFile(path string, priv ed25519.PrivateKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("approver key file: %w", err)
	}
	return atomicfile.WriteNew(path, EncodeKeyFile(priv), 0o600)
}

// ReadKeyFile reads a private key file, refusing one that others than its
// owner may read or write.
func ReadKeyFile(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("approver key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("approver key file %s has mode %04o: others may read it; make it 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("approver key file: %w", err)
	}
	priv, err := DecodeKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

// EncodePublicKey returns the text form of a public key: standard base64.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// ParsePublicKey reads the text form of a public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	// The decoder skips line breaks; a key is one unbroken line, so that
	// each key has exactly one text form.
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize || strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("public key: want the base64 of a %d-byte ed25519 public key", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
