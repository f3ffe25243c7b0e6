package auth

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: RFC 6238 with HMAC-SHA-1, 6 digits and 30-second steps.
const (
	TOTPPeriod  = 30
	TOTPDigits  = 6
	totpSkew    = 1  // steps accepted either side of the current one
	totpSecret  = 20 // bytes in a new secret (160 bits, RFC 4226's recommendation)
	totpMinSize = 16 // fewest secret bytes accepted (128 bits, RFC 4226's minimum)
	totpMaxSize = 64
	maxLabel    = 256
)

// ErrWrongTOTP is returned by CheckTOTP when the code does not match any
// time step within the allowed skew.
var ErrWrongTOTP = errors.New("wrong one-time code")

// ErrTOTPReplay is returned by CheckTOTP when the code matches, but only a
// time step that was already used: a code can be used once.
var ErrTOTPReplay = errors.New("one-time code was already used: wait for the next code")

// NewTOTP makes a new random TOTP secret (160 bits, base32 without padding)
// for account at issuer, and the otpauth:// URL that authenticator apps
// read, usually from a QR code. The secret is what the server must store
// (sealed) to check codes later.
func NewTOTP(issuer, account string) (secret, otpauthURL string, err error) {
	if err := checkLabel("issuer", issuer); err != nil {
		return "", "", fmt.Errorf("new TOTP: %w", err)
	}
	if err := checkLabel("account", account); err != nil {
		return "", "", fmt.Errorf("new TOTP: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      TOTPPeriod,
		SecretSize:  totpSecret,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", fmt.Errorf("new TOTP: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// checkLabel refuses issuer or account names that would make the otpauth
// label ambiguous or unreadable.
func checkLabel(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s name", what)
	case len(s) > maxLabel:
		return fmt.Errorf("%s name is %d bytes long, at most %d allowed", what, len(s), maxLabel)
	case strings.Contains(s, ":"):
		return fmt.Errorf("%s name %q contains a colon, which separates issuer and account", what, s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0 || !utf8.ValidString(s):
		return fmt.Errorf("%s name %q contains control characters or invalid UTF-8", what, s)
	}
	return nil
}

// CheckTOTP verifies code for secret at now, allowing one step of skew
// either way, and returns the time step (Unix time / 30) that matched. The
// caller stores that step and passes it as lastStep the next time, so a
// code cannot be replayed: a match on a step ≤ lastStep gives
// ErrTOTPReplay. A code that matches no step gives ErrWrongTOTP. A secret
// that is not base32 of 16 to 64 bytes, a code that is not 6 digits, or a
// time before 1970 gives an error naming the problem.
func CheckTOTP(secret, code string, now time.Time, lastStep int64) (step int64, err error) {
	key, err := decodeTOTPSecret(secret)
	if err != nil {
		return 0, fmt.Errorf("check one-time code: %w", err)
	}
	code = strings.TrimSpace(code)
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" {
		return 0, fmt.Errorf("one-time code must be %d digits", TOTPDigits)
	}
	if now.Unix() < 0 {
		return 0, fmt.Errorf("check one-time code: time %s is before 1970", now.UTC().Format(time.RFC3339))
	}
	current := now.Unix() / TOTPPeriod
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	// Every candidate step is computed, so the time taken does not depend
	// on which one matched.
	matched, replayed := int64(-1), false
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		if s < 0 {
			continue
		}
		ok, err := hotp.ValidateCustom(code, uint64(s), key, opts)
		if err != nil {
			return 0, fmt.Errorf("check one-time code: %w", err)
		}
		switch {
		case !ok:
		case s <= lastStep:
			replayed = true
		case matched < 0:
			matched = s
		}
	}
	switch {
	case matched >= 0:
		return matched, nil
	case replayed:
		return 0, ErrTOTPReplay
	}
	return 0, ErrWrongTOTP
}

// decodeTOTPSecret checks that secret is base32 (any case, padding
// optional) of an acceptable size and returns it in the canonical form,
// upper case without padding.
func decodeTOTPSecret(secret string) (string, error) {
	s := strings.ToUpper(strings.TrimRight(secret, "="))
	if len(s) > base32.StdEncoding.WithPadding(base32.NoPadding).EncodedLen(totpMaxSize) {
		return "", fmt.Errorf("TOTP secret is %d characters long, more than any %d-byte secret", len(secret), totpMaxSize)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("TOTP secret is not base32: %w", err)
	}
	if len(raw) < totpMinSize {
		return "", fmt.Errorf("TOTP secret has %d bytes, need at least %d", len(raw), totpMinSize)
	}
	return s, nil
}
