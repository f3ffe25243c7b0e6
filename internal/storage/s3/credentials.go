package s3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Environment variables that hold credentials when the config has none.
const (
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
)

// maxCredentialsFileSize bounds what LoadCredentials reads.
const maxCredentialsFileSize = 64 << 10

// maxCredentialLen bounds one value (session tokens run to a few KiB).
const maxCredentialLen = 16 << 10

// Keys of a credentials file.
const (
	fileAccessKeyID     = "access_key_id"
	fileSecretAccessKey = "secret_access_key"
	fileSessionToken    = "session_token"
)

// Credentials sign requests.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string // for temporary credentials; often empty
}

// String hides the secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("access key %s", c.AccessKeyID)
}

// check requires an access key id and a secret, and printable values.
func (c Credentials) check() error {
	if c.AccessKeyID == "" {
		return errors.New("no access key id")
	}
	if c.SecretAccessKey == "" {
		return errors.New("no secret access key")
	}
	for _, v := range []struct{ name, value string }{
		{fileAccessKeyID, c.AccessKeyID},
		{fileSecretAccessKey, c.SecretAccessKey},
		{fileSessionToken, c.SessionToken},
	} {
		if err := checkCredentialValue(v.value); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
	}
	return nil
}

// checkCredentialValue accepts printable ASCII without spaces. Errors
// never quote the value.
func checkCredentialValue(v string) error {
	if len(v) > maxCredentialLen {
		return fmt.Errorf("longer than %d bytes", maxCredentialLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return fmt.Errorf("byte %d is not printable ASCII", i+1)
		}
	}
	return nil
}

// LoadCredentials reads a credentials file: lines of key = value with the
// keys access_key_id, secret_access_key and optionally session_token;
// blank lines and lines starting with # are ignored. Like a key file, it
// must be a regular file that neither group nor others can access (mode
// 0600 or tighter).
func LoadCredentials(path string) (Credentials, error) {
	// O_NONBLOCK keeps a FIFO planted at path from blocking the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Credentials{}, fmt.Errorf("credentials file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("credentials file %s has mode %04o, so group or others can access it; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFileSize+1))
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials file %s: %w", path, err)
	}
	c, err := parseCredentials(data)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

// parseCredentials reads the contents of a credentials file. Errors name
// lines and keys, never values.
func parseCredentials(data []byte) (Credentials, error) {
	if len(data) > maxCredentialsFileSize {
		return Credentials{}, fmt.Errorf("more than %d bytes; not a credentials file", maxCredentialsFileSize)
	}
	var c Credentials
	seen := map[string]bool{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line = bytes.TrimSuffix(line, []byte("\r"))
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 || trimmed[0] == '#' {
			continue
		}
		k, v, ok := bytes.Cut(trimmed, []byte("="))
		if !ok {
			return Credentials{}, fmt.Errorf("line %d: want key = value", n)
		}
		key, value := string(bytes.TrimSpace(k)), string(bytes.TrimSpace(v))
		var dst *string
		switch key {
		case fileAccessKeyID:
			dst = &c.AccessKeyID
		case fileSecretAccessKey:
			dst = &c.SecretAccessKey
		case fileSessionToken:
			dst = &c.SessionToken
		default:
			// The key is not quoted: a secret pasted on its own line
			// would be, up to its first '='.
			return Credentials{}, fmt.Errorf("line %d: unknown key: want %s, %s or %s", n, fileAccessKeyID, fileSecretAccessKey, fileSessionToken)
		}
		if seen[key] {
			return Credentials{}, fmt.Errorf("line %d: %s given twice", n, key)
		}
		seen[key] = true
		if value == "" {
			return Credentials{}, fmt.Errorf("line %d: %s is empty", n, key)
		}
		if err := checkCredentialValue(value); err != nil {
			return Credentials{}, fmt.Errorf("line %d: %s: %w", n, key, err)
		}
		*dst = value
	}
	if !seen[fileAccessKeyID] || !seen[fileSecretAccessKey] {
		return Credentials{}, fmt.Errorf("want both %s and %s", fileAccessKeyID, fileSecretAccessKey)
	}
	return c, nil
}

// formatCredentials returns the contents of a credentials file holding c.
func formatCredentials(c Credentials) []byte {
	b := fmt.Appendf(nil, "%s = %s\n%s = %s\n", fileAccessKeyID, c.AccessKeyID, fileSecretAccessKey, c.SecretAccessKey)
	if c.SessionToken != "" {
		b = fmt.Appendf(b, "%s = %s\n", fileSessionToken, c.SessionToken)
	}
	return b
}

// credentials resolves where c's credentials come from: the config
// itself, then the credentials file, then the environment (getenv).
func (s settings) credentials(getenv func(string) string) (Credentials, error) {
	switch {
	case s.AccessKeyID != "":
		return Credentials{s.AccessKeyID, s.SecretAccessKey, s.SessionToken}, nil
	case s.CredentialsFile != "":
		return LoadCredentials(s.CredentialsFile)
	}
	c := Credentials{getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey), getenv(EnvSessionToken)}
	if c.AccessKeyID == "" && c.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("no credentials: give an access key in the config, a credentials file, or set %s and %s", EnvAccessKeyID, EnvSecretAccessKey)
	}
	if err := c.check(); err != nil {
		return Credentials{}, fmt.Errorf("credentials from %s and %s: %w", EnvAccessKeyID, EnvSecretAccessKey, err)
	}
	return c, nil
}
