package auth

import (
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// cheap is a cost low enough for tests; never use it for real passwords.
const cheapMemory = 64

func cheapParams() PasswordParams { return PasswordParams{Memory: cheapMemory, Time: 1, Threads: 1} }

func hash(t testing.TB, password string, p PasswordParams) string {
	t.Helper()
	h, err := HashPassword(password, p)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return h
}

func TestPasswordRoundTrip(t *testing.T) {
	h := hash(t, "correct horse battery staple", cheapParams())
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not in PHC form", h)
	}
	if err := CheckPassword(h, "correct horse battery staple"); err != nil {
		t.Fatalf("CheckPassword with the right password: %v", err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "correct horse battery staple ", "Correct horse battery staple"} {
		if err := CheckPassword(h, wrong); err != ErrWrongPassword {
			t.Errorf("CheckPassword(%q) = %v, want ErrWrongPassword", wrong, err)
		}
	}
	if h2 := hash(t, "correct horse battery staple", cheapParams()); h2 == h {
		t.Error("two hashes of the same password are equal: the salt is not random")
	}
}

// TestPasswordVectors checks hashes computed by an independent argon2id
// implementation (OpenSSL's) for salt 00 01 .. 0f.
func TestPasswordVectors(t *testing.T) {
	for _, v := range []struct{ hash, password string }{
		{"$argon2id$v=19$m=64,t=1,p=1$AAECAwQFBgcICQoLDA0ODw$ktxdZwGWI4aL3geSdeUi9LfoIT00FO2Fy8KsikERcog", "correct horse battery staple"},
		{"$argon2id$v=19$m=256,t=2,p=2$AAECAwQFBgcICQoLDA0ODw$9qWzHz5cBUr+BfiXjVMS7UeKn/UUiaq8ZuVneCPX3q8", "pässwörd ünïcode"},
	} {
		if err := CheckPassword(v.hash, v.password); err != nil {
			t.Errorf("CheckPassword(%s): %v", v.hash, err)
		}
		if err := CheckPassword(v.hash, v.password+"x"); err != ErrWrongPassword {
			t.Errorf("CheckPassword(%s) with a wrong password = %v", v.hash, err)
		}
	}
}

func TestDefaultPasswordParams(t *testing.T) {
	p := DefaultPasswordParams()
	if p != (PasswordParams{Memory: 65536, Time: 3, Threads: 4}) {
		t.Fatalf("DefaultPasswordParams = %+v", p)
	}
	if testing.Short() {
		t.Skip("64 MiB argon2id")
	}
	h := hash(t, "correct horse battery staple", p)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Fatalf("default hash %q", h)
	}
	if err := CheckPassword(h, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
}

func TestHashPasswordRefusesParams(t *testing.T) {
	for _, p := range []PasswordParams{
		{Memory: 64, Time: 0, Threads: 1},
		{Memory: 64, Time: 21, Threads: 1},
		{Memory: 64, Time: 1, Threads: 0},
		{Memory: 256, Time: 1, Threads: 17},
		{Memory: 7, Time: 1, Threads: 1},
		{Memory: 16, Time: 1, Threads: 4},
		{Memory: 1<<20 + 1, Time: 1, Threads: 1},
	} {
		if _, err := HashPassword("x", p); err == nil {
			t.Errorf("HashPassword accepted %+v", p)
		}
	}
}

// TestCheckPasswordRefusesHostileHashes plays an attacker who can write the
// stored hash: whatever it says, CheckPassword must refuse it as malformed,
// never as a wrong password, without computing or allocating from it.
func TestCheckPasswordRefusesHostileHashes(t *testing.T) {
	const salt, sum = "AAECAwQFBgcICQoLDA0ODw", "ktxdZwGWI4aL3geSdeUi9LfoIT00FO2Fy8KsikERcog"
	good := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum
	if err := CheckPassword(good, "correct horse battery staple"); err != nil {
		t.Fatalf("reference hash: %v", err)
	}
	for _, c := range []struct{ hash, problem string }{
		{"", "not of the form"},
		{"plaintext password", "not of the form"},
		{"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + sum, "not argon2id"},
		{"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + sum, "version"},
		{"$argon2id$m=64,t=1,p=1$" + salt + "$" + sum, "not of the form"},
		{"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + sum, "want m="},
		{"$argon2id$v=19$m=64,t=1$" + salt + "$" + sum, "parameters"},
		{"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + sum, "parameters"},
		{"$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + sum, "plain decimal"},
		{"$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + sum, "plain decimal"},
		{"$argon2id$v=19$m= 64,t=1,p=1$" + salt + "$" + sum, "plain decimal"},
		{"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + sum, "memory"},
		{"$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + sum, "m=4294967296"},
		{"$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + sum, "memory"},
		{"$argon2id$v=19$m=64,t=4294967295,p=1$" + salt + "$" + sum, "time"},
		{"$argon2id$v=19$m=64,t=21,p=1$" + salt + "$" + sum, "time"},
		{"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + sum, "time"},
		{"$argon2id$v=19$m=1024,t=1,p=255$" + salt + "$" + sum, "lanes"},
		{"$argon2id$v=19$m=1024,t=1,p=256$" + salt + "$" + sum, "lanes"},
		{"$argon2id$v=19$m=1024,t=1,p=17$" + salt + "$" + sum, "lanes"},
		{"$argon2id$v=19$m=1024,t=1,p=0$" + salt + "$" + sum, "lanes"},
		{"$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + sum, "memory"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt[:21] + "$" + sum, "salt"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "AAAA$" + sum, "salt"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + sum, "salt"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt[:10] + "\n\n" + salt[12:] + "$" + sum, "canonical"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum[:20] + "\r" + sum[21:], "canonical"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum[:42], "hash"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum + "A", "hash"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum[:42] + "h", "canonical"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum[:40] + "-_=", "canonical"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 1<<20), "longer"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum + "$", "not of the form"},
		{"x$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum, "not of the form"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := CheckPassword(c.hash, "correct horse battery staple")
		runtime.ReadMemStats(&after)
		short := c.hash
		if len(short) > 60 {
			short = short[:60] + "…"
		}
		switch {
		case err == nil || errors.Is(err, ErrWrongPassword):
			t.Errorf("CheckPassword(%s) = %v, want a malformed-hash error", short, err)
		case !errors.Is(err, ErrBadPasswordHash) || !strings.Contains(err.Error(), c.problem):
			t.Errorf("CheckPassword(%s) = %v, want ErrBadPasswordHash naming %q", short, err, c.problem)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<10 {
			t.Errorf("CheckPassword(%s) allocated %d bytes", short, grew)
		}
	}
}

func TestParsePasswordHashAtLimits(t *testing.T) {
	s := "$argon2id$v=19$m=1048576,t=20,p=16$AAECAwQFBgcICQoLDA0ODw$ktxdZwGWI4aL3geSdeUi9LfoIT00FO2Fy8KsikERcog"
	p, _, _, err := parsePasswordHash(s)
	if err != nil || p != (PasswordParams{Memory: 1 << 20, Time: 20, Threads: 16}) {
		t.Fatalf("parse at the limits = %+v, %v", p, err)
	}
}

// TestCheckPasswordTamperedHash: changing the stored hash bytes, or moving
// another user's hash over, makes the password wrong, not accepted.
func TestCheckPasswordTamperedHash(t *testing.T) {
	alice := hash(t, "alice's long password", cheapParams())
	bob := hash(t, "bob's own long password", cheapParams())
	if err := CheckPassword(bob, "alice's long password"); err != ErrWrongPassword {
		t.Fatalf("alice's password against bob's hash = %v", err)
	}
	i := strings.LastIndexByte(alice, '$') + 5
	c := "A"
	if alice[i] == 'A' {
		c = "B"
	}
	tampered := alice[:i] + c + alice[i+1:]
	if err := CheckPassword(tampered, "alice's long password"); err != ErrWrongPassword {
		t.Fatalf("tampered hash = %v, want ErrWrongPassword", err)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, c := range []struct {
		password string
		problem  string // "" for acceptable
	}{
		{"correct horse", ""},
		{"twelve chars", ""},
		{"ünïcödé pässwörd", ""},
		{"日本語のパスワードです", "at least 12"}, // 11 runes, 33 bytes
		{"日本語のパスワードですね", ""},
		{"short", "at least 12"},
		{"elevenchars", "at least 12"},
		{"", "at least 12"},
		{strings.Repeat("a", 20), "single character"},
		{strings.Repeat("é", 12), "single character"},
		{strings.Repeat("ab", 512), ""},
		{strings.Repeat("ab", 512) + "c", "at most 1024"},
		{"valid prefix \xff\xfe here", "UTF-8"},
	} {
		err := ValidatePassword(c.password)
		if c.problem == "" {
			if err != nil {
				t.Errorf("ValidatePassword(%q) = %v, want nil", c.password, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("ValidatePassword(%q) = %v, want an error about %q", c.password, err, c.problem)
		}
	}
}
