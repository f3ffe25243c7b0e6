package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGenerateAndReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.key")
	secret, err := GenerateKeyFile(path)
	if err != nil {
		t.Fatalf("GenerateKeyFile: %v", err)
	}
	if len(secret) != KeyFileSecretSize || bytes.Equal(secret, make([]byte, KeyFileSecretSize)) {
		t.Fatalf("secret %x is not %d random bytes", secret, KeyFileSecretSize)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want a regular file with 0600", fi.Mode())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "bunker key file v1\n" + base64.StdEncoding.EncodeToString(secret) + "\n"
	if string(data) != want {
		t.Errorf("key file holds %q, want %q", data, want)
	}
	got, err := ReadKeyFile(path)
	if err != nil {
		t.Fatalf("ReadKeyFile: %v", err)
	}
	if !bytes.Equal(got, secret) {
		t.Error("ReadKeyFile returned a different secret")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (no temporary files)", len(entries))
	}

	other, err := GenerateKeyFile(filepath.Join(dir, "second.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, secret) {
		t.Error("two key files hold the same secret")
	}
}

func TestKeyFileOpensItsSlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.key")
	secret, err := GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := newMaster(t)
	s, err := NewKeyFileSlot(m, testVault, secret, "from file")
	if err != nil {
		t.Fatal(err)
	}
	read, err := ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Unwrap(testVault, read); err != nil || got != m {
		t.Fatalf("Unwrap with the key file read back = %v", err)
	}
}

func TestGenerateKeyFileRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{existing, dangling, dir} {
		if _, err := GenerateKeyFile(path); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "refusing to overwrite") {
			t.Errorf("GenerateKeyFile(%s) = %v, want a refusal", path, err)
		}
	}
	if data, _ := os.ReadFile(existing); string(data) != "precious" {
		t.Errorf("existing file now holds %q", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("GenerateKeyFile wrote through a dangling symlink")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("directory holds %d entries after refusals, want 2", len(entries))
	}
}

func TestGenerateKeyFileInMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "vault.key")
	if _, err := GenerateKeyFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("GenerateKeyFile into a missing directory = %v, want an error naming the path", err)
	}
}

func writeKeyFile(t *testing.T, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vault.key")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadKeyFileRefusesLoosePermissions(t *testing.T) {
	data := formatKeyFile(keyFileSecret(3))
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o666} {
		path := writeKeyFile(t, data, mode)
		_, err := ReadKeyFile(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("ReadKeyFile of a %04o file = %v, want an error telling to chmod 600", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if _, err := ReadKeyFile(writeKeyFile(t, data, mode)); err != nil {
			t.Errorf("ReadKeyFile of a %04o file: %v", mode, err)
		}
	}
}

func TestReadKeyFileRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, fifo, "/dev/null"} {
		done := make(chan error, 1)
		go func() {
			_, err := ReadKeyFile(path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("ReadKeyFile(%s) = %v, want a not-a-regular-file error", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadKeyFile(%s) blocked", path)
		}
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadKeyFile of a missing file = %v, want fs.ErrNotExist", err)
	}
}

func TestReadKeyFileRejectsMalformedFiles(t *testing.T) {
	secret := keyFileSecret(9)
	encoded := base64.StdEncoding.EncodeToString(secret)
	for _, tc := range []struct {
		name string
		data string
		want string
	}{
		{"empty", "", "not a bunker key file"},
		{"other header", "ssh key v1\n" + encoded + "\n", "not a bunker key file"},
		{"secret only", encoded + "\n", "not a bunker key file"},
		{"header only", "bunker key file v1\n", "has 1 lines"},
		{"extra line", "bunker key file v1\n" + encoded + "\nmore\n", "has 3 lines"},
		{"bad base64", "bunker key file v1\n" + encoded[:20] + "*" + encoded[21:] + "\n", "not valid base64"},
		{"short secret", "bunker key file v1\n" + base64.StdEncoding.EncodeToString(secret[:31]) + "\n", "has 31 bytes, want 32"},
		{"huge", "bunker key file v1\n" + strings.Repeat("A", 8192), "more than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadKeyFile(writeKeyFile(t, []byte(tc.data), 0o600))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadKeyFile = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), encoded[:20]) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
	for _, ok := range []string{
		"bunker key file v1\n" + encoded,
		"bunker key file v1\r\n" + encoded + "\r\n",
	} {
		got, err := parseKeyFile([]byte(ok))
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("parseKeyFile(%q) = %v", ok, err)
		}
	}
}

func TestReadOrCreateKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "deep", "dir", "server.key")
	first, err := ReadOrCreateKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ReadOrCreateKeyFile(p)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("second call gave another secret: %v", err)
	}
	fi, err := os.Stat(filepath.Dir(p))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key file directory mode: %v %v", fi.Mode(), err)
	}
}
