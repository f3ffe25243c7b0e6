package auth

import (
	"encoding/base32"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"
)

// rfcSecret is the SHA-1 seed of RFC 6238 appendix B, "12345678901234567890",
// in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestTOTPVectors checks RFC 6238's published SHA-1 codes, truncated to 6
// digits (the last 6 of the 8 the RFC lists).
func TestTOTPVectors(t *testing.T) {
	for _, v := range []struct {
		unix int64
		code string // the RFC's 8 digits
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		code := v.code[2:]
		step, err := CheckTOTP(rfcSecret, code, time.Unix(v.unix, 0), -1)
		if err != nil {
			t.Errorf("T=%d code %s: %v", v.unix, code, err)
			continue
		}
		if step != v.unix/30 {
			t.Errorf("T=%d matched step %d, want %d", v.unix, step, v.unix/30)
		}
		// The same secret in lower case and with padding is the same secret.
		if _, err := CheckTOTP(strings.ToLower(rfcSecret)+"====", code, time.Unix(v.unix, 0), -1); err != nil {
			t.Errorf("T=%d with a lower-case padded secret: %v", v.unix, err)
		}
		// One wrong digit is a wrong code.
		wrong := code[:5] + string('0'+(code[5]-'0'+1)%10)
		if _, err := CheckTOTP(rfcSecret, wrong, time.Unix(v.unix, 0), -1); err != ErrWrongTOTP {
			t.Errorf("T=%d wrong code %s = %v, want ErrWrongTOTP", v.unix, wrong, err)
		}
	}
}

func codeAt(t *testing.T, secret string, step int64) string {
	t.Helper()
	c, err := hotp.GenerateCode(secret, uint64(step))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPSkew(t *testing.T) {
	secret, _, err := NewTOTP("bunker", "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_015, 0)
	cur := now.Unix() / 30
	for _, d := range []int64{-1, 0, 1} {
		step, err := CheckTOTP(secret, codeAt(t, secret, cur+d), now, 0)
		if err != nil || step != cur+d {
			t.Errorf("code of step %+d = step %d, %v; want step %d", d, step, err, cur+d)
		}
	}
	for _, d := range []int64{-3, -2, 2, 3} {
		if _, err := CheckTOTP(secret, codeAt(t, secret, cur+d), now, 0); err != ErrWrongTOTP {
			t.Errorf("code of step %+d = %v, want ErrWrongTOTP", d, err)
		}
	}
}

// TestTOTPReplay plays an attacker who watched a code being used and sends
// it again, at once and during the rest of the window in which it is still
// within the skew.
func TestTOTPReplay(t *testing.T) {
	secret, _, err := NewTOTP("bunker", "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	code := codeAt(t, secret, now.Unix()/30)
	last, err := CheckTOTP(secret, code, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, later := range []time.Duration{0, time.Second, 29 * time.Second, 30 * time.Second, 59 * time.Second} {
		if _, err := CheckTOTP(secret, code, now.Add(later), last); err != ErrTOTPReplay {
			t.Errorf("code replayed %v later = %v, want ErrTOTPReplay", later, err)
		}
	}
	// The code of the step before the one used is older, so refused too.
	if _, err := CheckTOTP(secret, codeAt(t, secret, last-1), now, last); err != ErrTOTPReplay {
		t.Errorf("older code after a newer one = %v, want ErrTOTPReplay", err)
	}
	// The next step's code is fresh.
	next, err := CheckTOTP(secret, codeAt(t, secret, last+1), now.Add(30*time.Second), last)
	if err != nil || next != last+1 {
		t.Errorf("next code = step %d, %v; want step %d", next, err, last+1)
	}
}

func TestCheckTOTPRefusesBadInput(t *testing.T) {
	now := time.Unix(59, 0)
	for _, c := range []struct{ secret, code, problem string }{
		{rfcSecret, "28708", "6 digits"},
		{rfcSecret, "2870820", "6 digits"},
		{rfcSecret, "28708a", "6 digits"},
		{rfcSecret, "-28708", "6 digits"},
		{rfcSecret, "", "6 digits"},
		{rfcSecret, "２８７０８２", "6 digits"},
		{"not base32!", "287082", "not base32"},
		{"GEZDGNBVGY3TQOJQ", "287082", "at least 16"},
		{"", "287082", "at least 16"},
		{strings.Repeat("A", 200), "287082", "more than"},
	} {
		_, err := CheckTOTP(c.secret, c.code, now, -1)
		if err == nil || errors.Is(err, ErrWrongTOTP) || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("CheckTOTP(%q, %q) = %v, want an error about %q", c.secret, c.code, err, c.problem)
		}
	}
	if _, err := CheckTOTP(rfcSecret, " 287082\n", now, -1); err != nil {
		t.Errorf("code with surrounding space: %v", err)
	}
	if _, err := CheckTOTP(rfcSecret, "287082", time.Unix(-1, 0), -1); err == nil {
		t.Error("CheckTOTP accepted a time before 1970")
	}
}

func TestNewTOTP(t *testing.T) {
	secret, raw, err := NewTOTP("bunker prod", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(key) != 20 {
		t.Fatalf("secret %q decodes to %d bytes, %v; want 20", secret, len(key), err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/bunker prod:alice@example.com" ||
		q.Get("secret") != secret || q.Get("issuer") != "bunker prod" || q.Get("digits") != "6" ||
		q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("otpauth URL %s", raw)
	}
	other, _, _ := NewTOTP("bunker prod", "alice@example.com")
	if other == secret {
		t.Fatal("two new TOTP secrets are equal")
	}
	now := time.Now()
	if _, err := CheckTOTP(secret, codeAt(t, secret, now.Unix()/30), now, 0); err != nil {
		t.Fatalf("code from the new secret: %v", err)
	}
	for _, c := range [][2]string{{"", "alice"}, {"bunker", ""}, {"bun:ker", "alice"}, {"bunker", "al:ice"}, {"bunker", "al\nice"}, {"bunker", "\xff"}, {strings.Repeat("b", 300), "alice"}} {
		if _, _, err := NewTOTP(c[0], c[1]); err == nil {
			t.Errorf("NewTOTP(%q, %q) accepted", c[0], c[1])
		}
	}
}
