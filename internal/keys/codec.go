package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
)

// MaxSlotSize is the largest encoded slot Decode accepts.
const MaxSlotSize = 64 << 10

// maxTextLen bounds the informative text fields of a slot.
const maxTextLen = 256

// slotJSON is the stored form of a Slot.
type slotJSON struct {
	Version    int     `json:"version"`
	ID         string  `json:"id"`
	Kind       Kind    `json:"kind"`
	Created    string  `json:"created"`
	Hostname   string  `json:"hostname"`
	Username   string  `json:"username"`
	Label      string  `json:"label"`
	KDF        kdfJSON `json:"kdf"`
	Cipher     string  `json:"cipher"`
	Nonce      []byte  `json:"nonce"`
	Ciphertext []byte  `json:"ciphertext"`
}

type kdfJSON struct {
	Algorithm string `json:"algorithm"`
	Time      uint32 `json:"time,omitempty"`
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	Threads   uint32 `json:"threads,omitempty"`
	Salt      []byte `json:"salt"`
}

// Encode returns the stored form of s, after checking that s is valid.
func (s *Slot) Encode() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(slotJSON{
		Version:  slotVersion,
		ID:       s.ID,
		Kind:     s.Kind,
		Created:  s.Created.Format(time.RFC3339),
		Hostname: s.Hostname,
		Username: s.Username,
		Label:    s.Label,
		KDF: kdfJSON{
			Algorithm: s.KDF.Algorithm,
			Time:      s.KDF.Params.Time,
			MemoryKiB: s.KDF.Params.MemoryKiB,
			Threads:   s.KDF.Params.Threads,
			Salt:      s.KDF.Salt,
		},
		Cipher:     s.Cipher,
		Nonce:      s.Nonce,
		Ciphertext: s.Wrapped,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode key slot %s: %w", s.ID, err)
	}
	return append(out, '\n'), nil
}

// Decode parses and validates a stored slot. It rejects unknown fields,
// unknown versions, kinds, algorithms and ciphers, parameters beyond the
// limits, and fields of the wrong length, each with an error naming the
// problem.
func Decode(data []byte) (*Slot, error) {
	if len(data) > MaxSlotSize {
		return nil, fmt.Errorf("decode key slot: %d bytes is more than the %d a slot may have", len(data), MaxSlotSize)
	}
	var j slotJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("decode key slot: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode key slot: data after the slot's JSON object")
	}
	if j.Version != slotVersion {
		return nil, fmt.Errorf("decode key slot: version %d is not supported (this bunker reads version %d)", j.Version, slotVersion)
	}
	created, err := time.Parse(time.RFC3339, j.Created)
	if err != nil {
		return nil, fmt.Errorf("decode key slot: created %q is not an RFC 3339 time", short(j.Created, 40))
	}
	s := &Slot{
		ID:       j.ID,
		Kind:     j.Kind,
		Created:  created,
		Hostname: j.Hostname,
		Username: j.Username,
		Label:    j.Label,
		KDF: KDF{
			Algorithm: j.KDF.Algorithm,
			Params:    KDFParams{Time: j.KDF.Time, MemoryKiB: j.KDF.MemoryKiB, Threads: j.KDF.Threads},
			Salt:      j.KDF.Salt,
		},
		Cipher:  j.Cipher,
		Nonce:   j.Nonce,
		Wrapped: j.Ciphertext,
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("decode key slot: %w", err)
	}
	return s, nil
}

// Validate checks every field of s.
func (s *Slot) Validate() error {
	err := s.validate()
	switch {
	case err == nil:
		return nil
	case isLowerHex(s.ID, 32):
		return fmt.Errorf("invalid key slot %s: %w", s.ID[:8], err)
	}
	return fmt.Errorf("invalid key slot: %w", err)
}

func (s *Slot) validate() error {
	if !isLowerHex(s.ID, 32) {
		return fmt.Errorf("id %q is not 32 lowercase hex digits", short(s.ID, 40))
	}
	if c := s.Created; c.Location() != time.UTC || c.Nanosecond() != 0 || c.Year() < 0 || c.Year() > 9999 {
		return fmt.Errorf("created %s is not a UTC time in whole seconds", c)
	}
	for _, f := range []struct{ name, value string }{
		{"hostname", s.Hostname}, {"username", s.Username}, {"label", s.Label},
	} {
		if err := checkText(f.name, f.value); err != nil {
			return err
		}
	}
	if err := s.validateKDF(); err != nil {
		return err
	}
	switch {
	case s.Cipher != CipherXChaCha20Poly1305:
		return fmt.Errorf("cipher %q is not supported (want %q)", short(s.Cipher, 40), CipherXChaCha20Poly1305)
	case len(s.Nonce) != chacha20poly1305.NonceSizeX:
		return fmt.Errorf("nonce has %d bytes, want %d", len(s.Nonce), chacha20poly1305.NonceSizeX)
	case len(s.Wrapped) != wrappedSize:
		return fmt.Errorf("ciphertext has %d bytes, want %d", len(s.Wrapped), wrappedSize)
	}
	return nil
}

func (s *Slot) validateKDF() error {
	if len(s.KDF.Salt) != saltSize {
		return fmt.Errorf("kdf salt has %d bytes, want %d", len(s.KDF.Salt), saltSize)
	}
	switch s.Kind {
	case KindPassphrase:
		if s.KDF.Algorithm != KDFArgon2id {
			return fmt.Errorf("passphrase slot with kdf %q (want %q)", short(s.KDF.Algorithm, 40), KDFArgon2id)
		}
		return s.KDF.Params.Validate()
	case KindKeyFile:
		if s.KDF.Algorithm != KDFHKDFSHA256 {
			return fmt.Errorf("key file slot with kdf %q (want %q)", short(s.KDF.Algorithm, 40), KDFHKDFSHA256)
		}
		if s.KDF.Params != (KDFParams{}) {
			return fmt.Errorf("key file slot with argon2id parameters %+v", s.KDF.Params)
		}
		return nil
	}
	return fmt.Errorf("kind %q is not %q or %q", short(string(s.Kind), 40), KindPassphrase, KindKeyFile)
}

// isLowerHex reports whether s is n lowercase hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// short truncates s to n bytes for an error message.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// checkText rejects text that is too long, not UTF-8, or holds control
// characters that could rewrite a terminal when the slot is listed.
func checkText(name, v string) error {
	switch {
	case len(v) > maxTextLen:
		return fmt.Errorf("%s has %d bytes, more than %d", name, len(v), maxTextLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	for _, r := range v {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("%s %q holds control characters", name, v)
		}
	}
	return nil
}

// checkVaultID rejects a vault id that cannot be right.
func checkVaultID(id string) error {
	if id == "" || len(id) > maxTextLen {
		return fmt.Errorf("vault id %q is empty or too long", id)
	}
	return nil
}
