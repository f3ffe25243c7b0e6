package auth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// FuzzCheckPassword feeds arbitrary stored hashes to CheckPassword. A hash
// that parses must print back to exactly the same string (the parser
// accepts one spelling of each hash) and, when cheap enough to compute,
// must refuse a password it was not made from with ErrWrongPassword; a hash
// that does not parse must give ErrBadPasswordHash, never ErrWrongPassword
// or success. Nothing may panic.
func FuzzCheckPassword(f *testing.F) {
	good := "$argon2id$v=19$m=64,t=1,p=1$AAECAwQFBgcICQoLDA0ODw$ktxdZwGWI4aL3geSdeUi9LfoIT00FO2Fy8KsikERcog"
	seeds := [][]byte{
		[]byte(good),
		[]byte(strings.Replace(good, "m=64", "m=4294967295", 1)),
		[]byte(strings.Replace(good, "t=1", "t=021", 1)),
		[]byte(strings.Replace(good, "p=1", "p=255", 1)),
		[]byte(strings.Replace(good, "argon2id", "argon2i", 1)),
		[]byte(good[:len(good)-1] + "h"),
		[]byte(good + "$"),
		[]byte("$argon2id$v=19$m=1048576,t=20,p=16$AAECAwQFBgcICQoLDA0ODw$ktxdZwGWI4aL3geSdeUi9LfoIT00FO2Fy8KsikERcog"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzCheckPassword", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		encoded := string(data)
		p, salt, sum, err := parsePasswordHash(encoded)
		if err != nil {
			// Only the parse is exercised for malformed input: CheckPassword
			// would fail the same way before computing anything.
			if err := CheckPassword(encoded, "x"); !errors.Is(err, ErrBadPasswordHash) {
				t.Fatalf("CheckPassword of an unparsable hash = %v", err)
			}
			return
		}
		if again := formatPasswordHash(p, salt, sum); again != encoded {
			t.Fatalf("parsed hash prints as %q, input was %q", again, encoded)
		}
		if uint64(p.Memory)*uint64(p.Time) > 1024 {
			return // keep each run cheap
		}
		if err := CheckPassword(encoded, "not the password of any seed"); err != ErrWrongPassword {
			t.Fatalf("CheckPassword with a wrong password = %v", err)
		}
	})
}

// FuzzParseToken: whatever parses prints back to the same string, and
// errors wrap ErrBadToken without repeating the input's secret part.
func FuzzParseToken(f *testing.F) {
	const valid = "bkr_abcdefghijklmn23_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	seeds := [][]byte{
		[]byte(valid),
		[]byte(strings.ToUpper(valid)),
		[]byte(valid[:63]),
		[]byte(valid + "="),
		[]byte(valid[:63] + "h"),
		[]byte(strings.Replace(valid, "_A", "-A", 1)),
		[]byte("bkr_"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzParseToken", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := string(data)
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("ParseToken error %v does not wrap ErrBadToken", err)
			}
			if len(s) > 29 && strings.Contains(err.Error(), s[21:29]) {
				t.Fatalf("ParseToken error %q repeats part of the secret", err)
			}
			return
		}
		if tok.String() != s {
			t.Fatalf("parsed token prints as %q, input was %q", tok.String(), s)
		}
		if !SecretMatches(HashSecret(tok.Secret), tok.Secret) {
			t.Fatal("secret does not match its hash")
		}
	})
}

// FuzzCheckTOTP takes a secret and a code separated by a newline. A code
// that is accepted must have matched a step within the skew and must be
// refused as a replay when that step is passed back; a failure returns no
// step; nothing may panic.
func FuzzCheckTOTP(f *testing.F) {
	seeds := [][]byte{
		[]byte(rfcSecret + "\n287082"),
		[]byte(strings.ToLower(rfcSecret) + "\n287082"),
		[]byte(rfcSecret + "\n000000"),
		[]byte(rfcSecret + "\n28708"),
		[]byte("GEZDGNBVGY3TQOJQ\n287082"),
		[]byte("!!!!\n287082"),
		[]byte("\n"),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzCheckTOTP", seeds...)
	}
	now := time.Unix(59, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		secret, code, _ := bytes.Cut(data, []byte("\n"))
		step, err := CheckTOTP(string(secret), string(code), now, -1)
		if err != nil {
			if step != 0 {
				t.Fatalf("CheckTOTP returned step %d with error %v", step, err)
			}
			return
		}
		if step < 0 || step < now.Unix()/30-1 || step > now.Unix()/30+1 {
			t.Fatalf("CheckTOTP matched step %d, outside the skew", step)
		}
		if _, err := CheckTOTP(string(secret), string(code), now, step); err != ErrTOTPReplay {
			t.Fatalf("replayed code = %v, want ErrTOTPReplay", err)
		}
	})
}
