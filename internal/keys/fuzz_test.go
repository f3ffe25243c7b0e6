package keys

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/bunkerhq/bunker/internal/crypto"
)

// FuzzDecodeSlot feeds arbitrary bytes to Decode. Whatever decodes must
// re-encode to an equal slot and must refuse a wrong secret with
// ErrWrongSecret; nothing may panic.
func FuzzDecodeSlot(f *testing.F) {
	m := crypto.MasterKey{1, 2, 3}
	for _, s := range []*Slot{passphraseSlot(f, m), keyFileSlot(f, m)} {
		data := encode(f, s)
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(bytes.ToUpper(data))
	}
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			if s != nil {
				t.Fatal("Decode returned a slot along with an error")
			}
			return
		}
		again, err := Decode(encode(t, s))
		if err != nil {
			t.Fatalf("re-encoded slot does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("re-encoding changed the slot:\n%+v\n%+v", s, again)
		}
		// Keep each run cheap: skip argon2 costs beyond a few MiB·passes.
		if p := s.KDF.Params; uint64(p.MemoryKiB)*uint64(p.Time) > 4096 {
			return
		}
		for _, secret := range [][]byte{[]byte("not the passphrase"), keyFileSecret(0xee), nil} {
			if _, err := s.Unwrap(testVault, secret); !errors.Is(err, ErrWrongSecret) {
				t.Fatalf("Unwrap with a wrong secret = %v, want ErrWrongSecret", err)
			}
		}
	})
}

// FuzzParseKeyFile checks that parseKeyFile never panics, returns a secret
// of the right size when it succeeds, and reads back what formatKeyFile
// writes.
func FuzzParseKeyFile(f *testing.F) {
	f.Add(formatKeyFile(keyFileSecret(1)))
	f.Add([]byte("bunker key file v1\r\nAAAA\r\n"))
	f.Add([]byte("bunker key file v1\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		secret, err := parseKeyFile(data)
		if err != nil {
			return
		}
		if len(secret) != KeyFileSecretSize {
			t.Fatalf("parsed a %d-byte secret", len(secret))
		}
		back, err := parseKeyFile(formatKeyFile(secret))
		if err != nil || !bytes.Equal(back, secret) {
			t.Fatalf("formatted secret does not parse back: %v", err)
		}
	})
}
