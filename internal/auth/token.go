package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Shape of an API token: "bkr_" + 16-character id + "_" + 43-character
// secret.
const (
	TokenPrefix  = "bkr_"
	tokenIDBytes = 10
	tokenIDLen   = 16 // base32 of 10 bytes, no padding
	tokenSecret  = 32
	tokenSecLen  = 43 // base64url of 32 bytes, no padding
	tokenLen     = len(TokenPrefix) + tokenIDLen + 1 + tokenSecLen
)

// ErrBadToken is wrapped by every error of ParseToken.
var ErrBadToken = errors.New("malformed API token")

// Token is an API token. ID is 16 characters of lower-case base32 (10
// random bytes) and names the token in lists and logs; Secret is 32 random
// bytes in unpadded base64url and is shown once, when the token is made.
// The server stores only HashSecret(Secret).
type Token struct {
	ID     string
	Secret string
}

// NewToken makes a new random token.
func NewToken() (Token, error) {
	buf := make([]byte, tokenIDBytes+tokenSecret)
	if _, err := rand.Read(buf); err != nil {
		return Token{}, fmt.Errorf("new API token: %w", err)
	}
	id := strings.ToLower(base32.StdEncoding.EncodeToString(buf[:tokenIDBytes]))
	return Token{ID: id, Secret: base64.RawURLEncoding.EncodeToString(buf[tokenIDBytes:])}, nil
}

// String returns the token as the user holds it: "bkr_" + ID + "_" +
// Secret. It contains the secret.
func (t Token) String() string {
	return TokenPrefix + t.ID + "_" + t.Secret
}

// ParseToken parses a token in the form String returns, strictly: the
// prefix, the lengths, the alphabets and the canonical encoding of the
// secret. Errors wrap ErrBadToken, name the problem, and never repeat the
// token.
func ParseToken(s string) (Token, error) {
	if !strings.HasPrefix(s, TokenPrefix) {
		return Token{}, fmt.Errorf("%w: it does not start with %q", ErrBadToken, TokenPrefix)
	}
	if len(s) != tokenLen {
		return Token{}, fmt.Errorf("%w: it is %d bytes long, want %d", ErrBadToken, len(s), tokenLen)
	}
	rest := s[len(TokenPrefix):]
	id, sep, secret := rest[:tokenIDLen], rest[tokenIDLen], rest[tokenIDLen+1:]
	for i := range len(id) {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return Token{}, fmt.Errorf("%w: its id has a character outside a-z and 2-7", ErrBadToken)
		}
	}
	if sep != '_' {
		return Token{}, fmt.Errorf("%w: no underscore between its id and its secret", ErrBadToken)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(raw) != tokenSecret {
		// The decoder's error would quote the offending character.
		return Token{}, fmt.Errorf("%w: its secret is not %d characters of canonical base64url", ErrBadToken, tokenSecLen)
	}
	return Token{ID: id, Secret: secret}, nil
}

// HashSecret returns the SHA-256 hash of a token secret, which is what the
// server stores. A fast hash is enough here, unlike for passwords: the
// secret is 256 random bits, so nobody who reads the stored hash can search
// for the secret, and checking a token on every request stays cheap, which
// also keeps token checks from being a way to load the server.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// SecretMatches reports, in constant time, whether secret hashes to hash.
func SecretMatches(hash []byte, secret string) bool {
	return subtle.ConstantTimeCompare(hash, HashSecret(secret)) == 1
}
