package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Limits on the argon2id parameters of a password hash, for new hashes and
// for stored ones alike. They bound the memory and time a single login can
// cost whatever a stored hash says.
const (
	MaxPasswordMemoryKiB = 1 << 20 // 1 GiB
	MaxPasswordTime      = 20
	MaxPasswordThreads   = 16
)

// Sizes of the salt and the derived hash, in bytes. Stored hashes with any
// other sizes are refused.
const (
	passwordSaltSize = 16
	passwordHashSize = 32
)

// Limits ValidatePassword applies to new passwords.
const (
	MinPasswordRunes = 12
	MaxPasswordBytes = 1024
)

// argon2Version is the argon2 version written into and required of every
// hash (0x13, RFC 9106).
const argon2Version = argon2.Version

// ErrWrongPassword is returned by CheckPassword when the password does not
// match. Its text does not say whether the user name or the password was
// wrong, so the server can return it for both.
var ErrWrongPassword = errors.New("wrong user name or password")

// ErrBadPasswordHash is wrapped by CheckPassword's error when the stored
// hash is malformed or asks for parameters outside the limits: a damaged or
// tampered record, not a wrong password.
var ErrBadPasswordHash = errors.New("malformed password hash")

// PasswordParams are the argon2id cost parameters of a password hash.
type PasswordParams struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
}

// DefaultPasswordParams returns the cost for new password hashes: 64 MiB,
// 3 passes, 4 lanes, the second recommended setting of RFC 9106.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 64 << 10, Time: 3, Threads: 4}
}

// Validate reports whether p is within the accepted limits.
func (p PasswordParams) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxPasswordTime:
		return fmt.Errorf("argon2id time %d is outside 1..%d", p.Time, MaxPasswordTime)
	case p.Threads < 1 || p.Threads > MaxPasswordThreads:
		return fmt.Errorf("argon2id lanes %d is outside 1..%d", p.Threads, MaxPasswordThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxPasswordMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB is outside %d..%d KiB", p.Memory, 8*uint32(p.Threads), MaxPasswordMemoryKiB)
	}
	return nil
}

// HashPassword stretches password with argon2id under a fresh random salt
// and returns it in PHC string form:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// with the 16-byte salt and the 32-byte hash in unpadded standard base64.
func HashPassword(password string, p PasswordParams) (string, error) {
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, passwordSaltSize)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: generate salt: %w", err)
	}
	h := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, passwordHashSize)
	return formatPasswordHash(p, salt, h), nil
}

func formatPasswordHash(p PasswordParams, salt, hash []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(hash))
}

// CheckPassword reports whether password matches the PHC string encoded.
// It returns nil on a match and ErrWrongPassword on a mismatch, comparing
// in constant time. A malformed hash, or one whose parameters exceed the
// limits, gives an error wrapping ErrBadPasswordHash that names the
// problem; nothing is allocated or computed from it before it is checked.
//
// To keep the time of a login from telling whether a user exists, a server
// should check the password of an unknown user against a hash of some
// random password made with the same parameters.
func CheckPassword(encoded, password string) error {
	p, salt, want, err := parsePasswordHash(encoded)
	if err != nil {
		return fmt.Errorf("check password: %w: %w", ErrBadPasswordHash, err)
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrWrongPassword
	}
	return nil
}

// parsePasswordHash decodes and checks a PHC argon2id string strictly: the
// exact field order, decimal numbers without signs or leading zeros,
// parameters within limits, and canonical base64 of exactly the expected
// sizes.
func parsePasswordHash(s string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	// The longest valid string has 10-digit memory, 2-digit time and lanes.
	if len(s) > 128 {
		return p, nil, nil, fmt.Errorf("%d bytes is longer than any argon2id hash", len(s))
	}
	fields := strings.Split(s, "$")
	if len(fields) != 6 || fields[0] != "" {
		return p, nil, nil, errors.New(`not of the form $argon2id$v=19$m=..,t=..,p=..$salt$hash`)
	}
	if fields[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("algorithm %q is not argon2id", fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2Version) {
		return p, nil, nil, fmt.Errorf("version field %q, want v=%d", fields[2], argon2Version)
	}
	params := strings.Split(fields[3], ",")
	if len(params) != 3 {
		return p, nil, nil, fmt.Errorf("parameters %q are not m=..,t=..,p=..", fields[3])
	}
	m, err := paramValue(params[0], "m")
	if err != nil {
		return p, nil, nil, err
	}
	t, err := paramValue(params[1], "t")
	if err != nil {
		return p, nil, nil, err
	}
	lanes, err := paramValue(params[2], "p")
	if err != nil {
		return p, nil, nil, err
	}
	if lanes > MaxPasswordThreads {
		return p, nil, nil, fmt.Errorf("argon2id lanes %d is outside 1..%d", lanes, MaxPasswordThreads)
	}
	p = PasswordParams{Memory: m, Time: t, Threads: uint8(lanes)}
	if err := p.Validate(); err != nil {
		return p, nil, nil, err
	}
	salt, err := decodeFixed(fields[4], passwordSaltSize, "salt")
	if err != nil {
		return p, nil, nil, err
	}
	hash, err := decodeFixed(fields[5], passwordHashSize, "hash")
	if err != nil {
		return p, nil, nil, err
	}
	return p, salt, hash, nil
}

// paramValue parses "name=<decimal>" into a uint32.
func paramValue(field, name string) (uint32, error) {
	v, ok := strings.CutPrefix(field, name+"=")
	if !ok {
		return 0, fmt.Errorf("parameter %q, want %s=<number>", field, name)
	}
	if v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') || strings.Trim(v, "0123456789") != "" {
		return 0, fmt.Errorf("parameter %s=%q is not a plain decimal number", name, v)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("parameter %s=%s: %w", name, v, err)
	}
	return uint32(n), nil
}

// decodeFixed decodes unpadded standard base64 that must hold exactly size
// bytes, checking the length before decoding.
func decodeFixed(s string, size int, what string) ([]byte, error) {
	if len(s) != base64.RawStdEncoding.EncodedLen(size) {
		return nil, fmt.Errorf("%s has %d base64 characters, want %d (%d bytes)", what, len(s), base64.RawStdEncoding.EncodedLen(size), size)
	}
	// The decoder skips line breaks; a canonical encoding has none.
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != size || strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%s is not canonical unpadded base64 of %d bytes", what, size)
	}
	return b, nil
}

// ValidatePassword reports whether password is acceptable as a new
// password: valid UTF-8, at least MinPasswordRunes characters, at most
// MaxPasswordBytes bytes, and not one character repeated. Its errors tell
// the user what to change.
func ValidatePassword(password string) error {
	if !utf8.ValidString(password) {
		return errors.New("password is not valid UTF-8 text: type it again in a UTF-8 terminal or client")
	}
	if len(password) > MaxPasswordBytes {
		return fmt.Errorf("password is %d bytes long: use at most %d bytes", len(password), MaxPasswordBytes)
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordRunes {
		return fmt.Errorf("password has %d characters: use at least %d", n, MinPasswordRunes)
	}
	first, _ := utf8.DecodeRuneInString(password)
	if strings.Trim(password, string(first)) == "" {
		return errors.New("password repeats a single character: use a mix of characters, for example a few unrelated words")
	}
	return nil
}
