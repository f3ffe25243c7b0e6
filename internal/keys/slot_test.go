package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/crypto"
)

const (
	testVault  = "5f1c0a2b9d8e7f6a5b4c3d2e1f0a9b8c"
	otherVault = "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a"
)

func testPassphrase() []byte { return []byte("correct horse battery staple") }

func newMaster(t testing.TB) crypto.MasterKey {
	t.Helper()
	m, err := crypto.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func keyFileSecret(b byte) []byte {
	return bytes.Repeat([]byte{b}, KeyFileSecretSize)
}

func passphraseSlot(t testing.TB, m crypto.MasterKey) *Slot {
	t.Helper()
	s, err := NewPassphraseSlot(m, testVault, testPassphrase(), TestKDFParams(), "laptop")
	if err != nil {
		t.Fatalf("NewPassphraseSlot: %v", err)
	}
	return s
}

func keyFileSlot(t testing.TB, m crypto.MasterKey) *Slot {
	t.Helper()
	s, err := NewKeyFileSlot(m, testVault, keyFileSecret(7), "backup server")
	if err != nil {
		t.Fatalf("NewKeyFileSlot: %v", err)
	}
	return s
}

// slotCase is one kind of slot with the secret that opens it.
type slotCase struct {
	name   string
	slot   *Slot
	secret []byte
}

func slotCases(t testing.TB, m crypto.MasterKey) []slotCase {
	return []slotCase{
		{"passphrase", passphraseSlot(t, m), testPassphrase()},
		{"keyfile", keyFileSlot(t, m), keyFileSecret(7)},
	}
}

func encode(t testing.TB, s *Slot) []byte {
	t.Helper()
	data, err := s.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

func TestRoundTrip(t *testing.T) {
	m := newMaster(t)
	for _, tc := range slotCases(t, m) {
		t.Run(tc.name, func(t *testing.T) {
			data := encode(t, tc.slot)
			s, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v\n%s", err, data)
			}
			if !reflect.DeepEqual(s, tc.slot) {
				t.Errorf("decoded slot differs:\n got %+v\nwant %+v", s, tc.slot)
			}
			got, err := s.Unwrap(testVault, tc.secret)
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			if got != m {
				t.Fatal("Unwrap returned a different master key")
			}
			if again := encode(t, s); !bytes.Equal(again, data) {
				t.Errorf("re-encoding changed the slot:\n%s\n%s", data, again)
			}
			if time.Since(s.Created) > time.Minute || s.Label == "" || !isLowerHex(s.ID, 32) {
				t.Errorf("slot metadata not filled in: %+v", s)
			}
		})
	}
}

func TestSlotsAreIndependent(t *testing.T) {
	m := newMaster(t)
	a, b := keyFileSlot(t, m), keyFileSlot(t, m)
	if a.ID == b.ID || bytes.Equal(a.KDF.Salt, b.KDF.Salt) || bytes.Equal(a.Nonce, b.Nonce) || bytes.Equal(a.Wrapped, b.Wrapped) {
		t.Error("two slots for the same key and secret share an id, salt, nonce or ciphertext")
	}
}

func TestEncodedSlotDoesNotHoldTheMasterKey(t *testing.T) {
	m := newMaster(t)
	for _, tc := range slotCases(t, m) {
		data := encode(t, tc.slot)
		for _, form := range [][]byte{m[:], []byte(base64.StdEncoding.EncodeToString(m[:]))} {
			if bytes.Contains(data, form) {
				t.Errorf("%s slot contains the master key in plaintext", tc.name)
			}
		}
	}
}

func TestWrongSecret(t *testing.T) {
	m := newMaster(t)
	pass, file := passphraseSlot(t, m), keyFileSlot(t, m)
	for _, tc := range []struct {
		name   string
		slot   *Slot
		secret []byte
	}{
		{"wrong passphrase", pass, []byte("correct horse battery stapler")},
		{"empty passphrase", pass, nil},
		{"key file secret for a passphrase slot", pass, keyFileSecret(7)},
		{"wrong key file", file, keyFileSecret(8)},
		{"short key file secret", file, keyFileSecret(7)[:31]},
		{"long key file secret", file, append(keyFileSecret(7), 7)},
		{"passphrase for a key file slot", file, testPassphrase()},
		{"no key file secret", file, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.slot.Unwrap(testVault, tc.secret)
			if !errors.Is(err, ErrWrongSecret) {
				t.Fatalf("Unwrap = %v, want ErrWrongSecret", err)
			}
			if !strings.Contains(err.Error(), "wrong passphrase or key file") {
				t.Errorf("error %q does not say what is wrong", err)
			}
			if got != (crypto.MasterKey{}) {
				t.Error("Unwrap returned key material along with the error")
			}
		})
	}
}

func TestSlotFromAnotherVaultFails(t *testing.T) {
	m := newMaster(t)
	for _, tc := range slotCases(t, m) {
		// An attacker copies a slot they can open into a vault they cannot.
		copied, err := Decode(encode(t, tc.slot))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := copied.Unwrap(otherVault, tc.secret); !errors.Is(err, ErrWrongSecret) {
			t.Errorf("%s slot opened for another vault: %v", tc.name, err)
		}
	}
}

// mutate decodes a slot into generic JSON, applies f, and encodes it again.
func mutate(t *testing.T, data []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flipBase64(v any) any {
	b, _ := base64.StdEncoding.DecodeString(v.(string))
	b[len(b)/2] ^= 1
	return base64.StdEncoding.EncodeToString(b)
}

func TestTamperedSlotFails(t *testing.T) {
	m := newMaster(t)
	edits := map[string]func(map[string]any){
		"label":    func(s map[string]any) { s["label"] = "attacker" },
		"hostname": func(s map[string]any) { s["hostname"] = "elsewhere" },
		"username": func(s map[string]any) { s["username"] = "mallory" },
		"created":  func(s map[string]any) { s["created"] = "2020-01-02T03:04:05Z" },
		"id":       func(s map[string]any) { s["id"] = strings.Repeat("ab", 16) },
		"nonce":    func(s map[string]any) { s["nonce"] = flipBase64(s["nonce"]) },
		"ciphertext": func(s map[string]any) {
			s["ciphertext"] = flipBase64(s["ciphertext"])
		},
		"salt": func(s map[string]any) {
			kdf := s["kdf"].(map[string]any)
			kdf["salt"] = flipBase64(kdf["salt"])
		},
	}
	argonEdits := map[string]func(map[string]any){
		"time":    func(s map[string]any) { s["kdf"].(map[string]any)["time"] = 2 },
		"memory":  func(s map[string]any) { s["kdf"].(map[string]any)["memory_kib"] = 128 },
		"threads": func(s map[string]any) { s["kdf"].(map[string]any)["threads"] = 2 },
	}
	for _, tc := range slotCases(t, m) {
		all := map[string]func(map[string]any){}
		for k, v := range edits {
			all[k] = v
		}
		if tc.slot.Kind == KindPassphrase {
			for k, v := range argonEdits {
				all[k] = v
			}
		}
		for field, edit := range all {
			t.Run(tc.name+"/"+field, func(t *testing.T) {
				s, err := Decode(mutate(t, encode(t, tc.slot), edit))
				if err != nil {
					t.Fatalf("the edited slot should still decode: %v", err)
				}
				if _, err := s.Unwrap(testVault, tc.secret); !errors.Is(err, ErrWrongSecret) {
					t.Fatalf("Unwrap of a slot with %s changed = %v, want ErrWrongSecret", field, err)
				}
			})
		}
	}
}

// TestEveryBitFlipIsCaught flips each bit of an encoded slot in turn: the
// result must be rejected by Decode or by Unwrap, unless it decodes to the
// very same slot (JSON keys match case-insensitively, and base64 has
// don't-care bits).
func TestEveryBitFlipIsCaught(t *testing.T) {
	m := newMaster(t)
	for _, tc := range slotCases(t, m) {
		data := encode(t, tc.slot)
		var byDecode, byUnwrap int
		for i := range data {
			for bit := range 8 {
				flipped := bytes.Clone(data)
				flipped[i] ^= 1 << bit
				s, err := Decode(flipped)
				if err != nil {
					byDecode++
					continue
				}
				_, err = s.Unwrap(testVault, tc.secret)
				switch {
				case err == nil && !reflect.DeepEqual(s, tc.slot):
					t.Fatalf("%s: flipping bit %d of byte %d gave a different slot that still opens", tc.name, bit, i)
				case errors.Is(err, ErrWrongSecret):
					byUnwrap++
				case err != nil:
					t.Fatalf("%s: flipping bit %d of byte %d: Unwrap = %v", tc.name, bit, i, err)
				}
			}
		}
		if byDecode == 0 || byUnwrap == 0 {
			t.Errorf("%s: %d flips rejected by Decode and %d by Unwrap; both should catch some", tc.name, byDecode, byUnwrap)
		}
	}
}

func TestDecodeRejectsBadSlots(t *testing.T) {
	m := newMaster(t)
	pass, file := encode(t, passphraseSlot(t, m)), encode(t, keyFileSlot(t, m))
	set := func(key string, v any) func(map[string]any) {
		return func(s map[string]any) { s[key] = v }
	}
	kdf := func(key string, v any) func(map[string]any) {
		return func(s map[string]any) { s["kdf"].(map[string]any)[key] = v }
	}
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, tc := range []struct {
		name string
		base []byte
		edit func(map[string]any)
		want string
	}{
		{"memory above 4 GiB", pass, kdf("memory_kib", 4<<20+1), "memory 4194305 KiB is outside"},
		{"memory of 4 GiB overflowing uint32", pass, kdf("memory_kib", 1<<32), "cannot unmarshal"},
		{"negative memory", pass, kdf("memory_kib", -1), "cannot unmarshal"},
		{"memory below 8 KiB per thread", pass, kdf("threads", 16), "memory 64 KiB is outside 128"},
		{"time above 100", pass, kdf("time", 101), "time 101 is outside 1..100"},
		{"time zero", pass, kdf("time", 0), "time 0 is outside"},
		{"threads zero", pass, kdf("threads", 0), "threads 0 is outside"},
		{"threads above 64", pass, kdf("threads", 255), "threads 255 is outside"},
		{"short salt", pass, kdf("salt", b64(16)), "salt has 16 bytes, want 32"},
		{"missing salt", file, kdf("salt", nil), "salt has 0 bytes"},
		{"short nonce", pass, set("nonce", b64(12)), "nonce has 12 bytes, want 24"},
		{"short ciphertext", file, set("ciphertext", b64(47)), "ciphertext has 47 bytes, want 48"},
		{"long ciphertext", file, set("ciphertext", b64(4096)), "ciphertext has 4096 bytes"},
		{"unknown kind", pass, set("kind", "fingerprint"), `kind "fingerprint" is not`},
		{"unknown cipher", pass, set("cipher", "rot13"), `cipher "rot13" is not supported`},
		{"passphrase slot with hkdf", pass, kdf("algorithm", "hkdf-sha256"), `passphrase slot with kdf "hkdf-sha256"`},
		{"key file slot with argon2id", file, kdf("algorithm", "argon2id"), `key file slot with kdf "argon2id"`},
		{"key file slot with argon2 cost", file, kdf("time", 5), "key file slot with argon2id parameters"},
		{"kind swapped", file, set("kind", "passphrase"), `passphrase slot with kdf "hkdf-sha256"`},
		{"future version", pass, set("version", 2), "version 2 is not supported"},
		{"missing version", pass, func(s map[string]any) { delete(s, "version") }, "version 0 is not supported"},
		{"unknown field", pass, set("escrow", "yes"), `unknown field "escrow"`},
		{"unknown kdf field", pass, kdf("pepper", 1), `unknown field "pepper"`},
		{"id not hex", pass, set("id", strings.Repeat("zz", 16)), "is not 32 lowercase hex digits"},
		{"id upper case", pass, set("id", strings.Repeat("AB", 16)), "is not 32 lowercase hex digits"},
		{"id too long", pass, set("id", strings.Repeat("ab", 1000)), "is not 32 lowercase hex digits"},
		{"created with offset", pass, set("created", "2024-05-06T07:08:09+02:00"), "is not a UTC time"},
		{"created with fraction", pass, set("created", "2024-05-06T07:08:09.5Z"), "is not a UTC time"},
		{"created not a time", pass, set("created", "yesterday"), "created"},
		{"terminal escape in label", pass, set("label", "\x1b]0;pwned\x07"), "label \"\\x1b]0;pwned\\a\" holds control characters"},
		{"bidi override in hostname", pass, set("hostname", "host\u202etxt.exe"), "hostname"},
		{"label too long", pass, set("label", strings.Repeat("x", 257)), "label has 257 bytes"},
		{"null kdf", pass, set("kdf", nil), "kdf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(mutate(t, tc.base, tc.edit))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRejectsMalformedInput(t *testing.T) {
	good := encode(t, keyFileSlot(t, newMaster(t)))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "EOF"},
		{"null", []byte("null"), "version 0"},
		{"array", []byte("[]"), "cannot unmarshal array"},
		{"trailing object", append(bytes.Clone(good), "{}"...), "data after"},
		{"two slots", append(bytes.Clone(good), good...), "data after"},
		{"truncated", good[:len(good)/2], "unexpected EOF"},
		{"oversized", append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxSlotSize)...), "more than"},
		{"not base64", bytes.Replace(good, []byte(`"nonce": "`), []byte(`"nonce": "!!`), 1), "illegal base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Decode(append(bytes.Clone(good), " \n\t"...)); err != nil {
		t.Errorf("Decode rejected trailing whitespace: %v", err)
	}
}

func TestInvalidSlotIsReportedNotUnwrapped(t *testing.T) {
	s := keyFileSlot(t, newMaster(t))
	s.Nonce = s.Nonce[:5]
	if _, err := s.Unwrap(testVault, keyFileSecret(7)); err == nil || errors.Is(err, ErrWrongSecret) || !strings.Contains(err.Error(), "nonce has 5 bytes") {
		t.Errorf("Unwrap of a slot with a short nonce = %v, want a validation error", err)
	}
	if _, err := s.Encode(); err == nil {
		t.Error("Encode accepted a slot with a short nonce")
	}
	var empty Slot
	if _, err := empty.Unwrap(testVault, testPassphrase()); err == nil || errors.Is(err, ErrWrongSecret) {
		t.Errorf("Unwrap of a zero Slot = %v, want a validation error", err)
	}
}

func TestNewSlotRejectsBadArguments(t *testing.T) {
	m := newMaster(t)
	for _, tc := range []struct {
		name string
		make func() (*Slot, error)
		want string
	}{
		{"empty passphrase", func() (*Slot, error) {
			return NewPassphraseSlot(m, testVault, nil, TestKDFParams(), "")
		}, "passphrase is empty"},
		{"absurd cost", func() (*Slot, error) {
			return NewPassphraseSlot(m, testVault, testPassphrase(), KDFParams{Time: 1, MemoryKiB: 8 << 20, Threads: 1}, "")
		}, "memory 8388608 KiB"},
		{"zero cost", func() (*Slot, error) {
			return NewPassphraseSlot(m, testVault, testPassphrase(), KDFParams{}, "")
		}, "time 0"},
		{"control characters in label", func() (*Slot, error) {
			return NewPassphraseSlot(m, testVault, testPassphrase(), TestKDFParams(), "a\nb")
		}, "label"},
		{"empty vault id", func() (*Slot, error) {
			return NewKeyFileSlot(m, "", keyFileSecret(1), "")
		}, "vault id"},
		{"short key file secret", func() (*Slot, error) {
			return NewKeyFileSlot(m, testVault, keyFileSecret(1)[:16], "")
		}, "16 bytes, want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.make()
			if err == nil || !strings.Contains(err.Error(), tc.want) || s != nil {
				t.Fatalf("got %v, %v; want nil and an error containing %q", s, err, tc.want)
			}
		})
	}
}

func TestKDFParamsStrength(t *testing.T) {
	d := DefaultKDFParams()
	if err := d.Validate(); err != nil {
		t.Fatalf("DefaultKDFParams: %v", err)
	}
	if d.MemoryKiB < 64<<10 || d.Time < 1 {
		t.Errorf("DefaultKDFParams %+v is weaker than 64 MiB", d)
	}
	if err := TestKDFParams().Validate(); err != nil {
		t.Fatalf("TestKDFParams: %v", err)
	}
	// The KDF really depends on every parameter and on the salt.
	salt := make([]byte, saltSize)
	base := passphraseKEK(testPassphrase(), salt, TestKDFParams())
	for _, p := range []KDFParams{{2, 64, 1}, {1, 128, 1}, {1, 64, 2}} {
		if bytes.Equal(passphraseKEK(testPassphrase(), salt, p), base) {
			t.Errorf("params %+v derive the same key as %+v", p, TestKDFParams())
		}
	}
	salt[0] = 1
	if bytes.Equal(passphraseKEK(testPassphrase(), salt, TestKDFParams()), base) {
		t.Error("a different salt derived the same key")
	}
}

// TestKDFMemoryCollected checks that the memory argon2id used is collected
// before the KEK is returned, so that it does not raise the heap target of
// what the command does next, and given back to the system, so that it does
// not stay resident beneath it.
func TestKDFMemoryCollected(t *testing.T) {
	const memKiB = 32 << 10
	p := KDFParams{Time: 1, MemoryKiB: memKiB, Threads: 1}
	passphraseKEK(testPassphrase(), make([]byte, saltSize), p)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.NextGC >= memKiB<<10 {
		t.Errorf("after the KDF the next GC is due at %d MiB of heap, want less than the KDF's %d MiB", ms.NextGC>>20, memKiB>>10)
	}
	if ms.HeapAlloc >= memKiB<<10 {
		t.Errorf("after the KDF %d MiB of heap are allocated, want less than the KDF's %d MiB", ms.HeapAlloc>>20, memKiB>>10)
	}
	if kept := ms.HeapIdle - ms.HeapReleased; kept >= memKiB<<10/2 {
		t.Errorf("after the KDF %d MiB of free heap are still held from the system, want the KDF's %d MiB given back", kept>>20, memKiB>>10)
	}
}

func BenchmarkDefaultKDF(b *testing.B) {
	salt := make([]byte, saltSize)
	for range b.N {
		passphraseKEK(testPassphrase(), salt, DefaultKDFParams())
	}
}
