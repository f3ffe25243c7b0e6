package auth

import (
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	shape := regexp.MustCompile(`^bkr_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 200 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		s := tok.String()
		if !shape.MatchString(s) {
			t.Fatalf("token %q has the wrong shape", s)
		}
		if seen[tok.ID] || seen[tok.Secret] {
			t.Fatal("NewToken repeated an id or a secret")
		}
		seen[tok.ID], seen[tok.Secret] = true, true
		back, err := ParseToken(s)
		if err != nil || back != tok {
			t.Fatalf("ParseToken(%q) = %+v, %v", s, back, err)
		}
	}
}

// TestParseTokenRefuses feeds malformed tokens: each must fail with
// ErrBadToken, say what is wrong, and not repeat the secret part.
func TestParseTokenRefuses(t *testing.T) {
	const id, secret = "abcdefghijklmn23", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	if _, err := ParseToken("bkr_" + id + "_" + secret); err != nil {
		t.Fatalf("reference token: %v", err)
	}
	for _, c := range []struct{ token, problem string }{
		{"", "start with"},
		{"bkr" + id + "_" + secret, "start with"},
		{"BKR_" + id + "_" + secret, "start with"},
		{"xyz_" + id + "_" + secret, "start with"},
		{"bkr_" + id + "_" + secret[:42], "long"},
		{"bkr_" + id + "_" + secret + "A", "long"},
		{"bkr_" + id[:15] + "_" + secret, "long"},
		{"bkr_" + id + "_" + secret + "\n", "long"},
		{"bkr_ABCDEFGHIJKLMN23_" + secret, "id"},
		{"bkr_abcdefghijklmn18_" + secret, "id"},
		{"bkr_abcdefghijklmn2=_" + secret, "id"},
		{"bkr_" + id + "-" + secret, "underscore"},
		{"bkr_" + id + "_" + secret[:42] + "h", "canonical"},
		{"bkr_" + id + "_" + secret[:42] + "+", "canonical"},
		{"bkr_" + id + "_" + secret[:41] + "==", "canonical"},
		{"bkr_" + id + "_" + secret[:40] + "/AA", "canonical"},
		{"bkr_" + id + "_" + secret[:41] + "é", "canonical"},
	} {
		_, err := ParseToken(c.token)
		if !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("ParseToken(%q) = %v, want ErrBadToken about %q", c.token, err, c.problem)
			continue
		}
		if strings.Contains(err.Error(), secret[:16]) || strings.Contains(err.Error(), id) {
			t.Errorf("ParseToken's error %q repeats the token", err)
		}
	}
}

func TestHashSecret(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got := hex.EncodeToString(HashSecret("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s", got)
	}
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	h := HashSecret(tok.Secret)
	if !SecretMatches(h, tok.Secret) {
		t.Fatal("a secret does not match its own hash")
	}
	other, _ := NewToken()
	for _, c := range []struct {
		name   string
		hash   []byte
		secret string
	}{
		{"other secret", h, other.Secret},
		{"secret cut short", h, tok.Secret[:42]},
		{"empty secret", h, ""},
		{"hash cut short", h[:31], tok.Secret},
		{"nil hash", nil, tok.Secret},
		{"whole token instead of the secret", h, tok.String()},
	} {
		if SecretMatches(c.hash, c.secret) {
			t.Errorf("%s matches", c.name)
		}
	}
}
