package keys

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/bunkerhq/bunker/internal/crypto"
)

// ErrWrongSecret is returned when a slot does not open with the given
// secret. A slot that belongs to another vault, or that was altered, fails
// the same way: the two cannot be told apart.
var ErrWrongSecret = errors.New("wrong passphrase or key file")

// Kind says which secret opens a slot.
type Kind string

// Slot kinds.
const (
	KindPassphrase Kind = "passphrase"
	KindKeyFile    Kind = "keyfile"
)

// CipherXChaCha20Poly1305 is the name of the cipher that wraps master keys.
const CipherXChaCha20Poly1305 = "xchacha20-poly1305"

// KeyFileSecretSize is the size of a key file's secret.
const KeyFileSecretSize = 32

// slotVersion is the version of the slot format this code reads and writes.
const slotVersion = 1

// wrappedSize is the size of a wrapped master key: ciphertext and tag.
const wrappedSize = crypto.MasterKeySize + chacha20poly1305.Overhead

// Slot is one wrapped copy of a vault's master key. Every field is bound to
// the wrapped key: a Slot whose fields were changed no longer unwraps.
type Slot struct {
	ID       string    // random, 32 lowercase hex digits
	Kind     Kind      // which secret opens the slot
	Created  time.Time // UTC, whole seconds
	Hostname string    // machine the slot was made on
	Username string    // user who made it
	Label    string    // free text chosen by the user
	KDF      KDF       // how the key-encryption key is derived
	Cipher   string    // CipherXChaCha20Poly1305
	Nonce    []byte    // the wrapping nonce
	Wrapped  []byte    // the encrypted master key and its tag
}

// KDF describes how a slot's key-encryption key is derived from its secret.
type KDF struct {
	Algorithm string    // KDFArgon2id or KDFHKDFSHA256
	Params    KDFParams // argon2id cost; zero for HKDF
	Salt      []byte    // 32 random bytes
}

// NewPassphraseSlot wraps master for the vault vaultID under a key stretched
// from passphrase with argon2id at cost params.
func NewPassphraseSlot(master crypto.MasterKey, vaultID string, passphrase []byte, params KDFParams, label string) (*Slot, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("new key slot: the passphrase is empty")
	}
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("new key slot: %w", err)
	}
	s, err := newSlot(KindPassphrase, KDFArgon2id, params, label)
	if err != nil {
		return nil, err
	}
	if err := s.wrap(master, vaultID, passphrase); err != nil {
		return nil, err
	}
	return s, nil
}

// NewKeyFileSlot wraps master for the vault vaultID under a key derived from
// secret, the contents of a key file (see GenerateKeyFile).
func NewKeyFileSlot(master crypto.MasterKey, vaultID string, secret []byte, label string) (*Slot, error) {
	if len(secret) != KeyFileSecretSize {
		return nil, fmt.Errorf("new key slot: key file secret has %d bytes, want %d", len(secret), KeyFileSecretSize)
	}
	s, err := newSlot(KindKeyFile, KDFHKDFSHA256, KDFParams{}, label)
	if err != nil {
		return nil, err
	}
	if err := s.wrap(master, vaultID, secret); err != nil {
		return nil, err
	}
	return s, nil
}

// newSlot fills in everything but the wrapped key.
func newSlot(kind Kind, alg string, params KDFParams, label string) (*Slot, error) {
	if err := checkText("label", label); err != nil {
		return nil, fmt.Errorf("new key slot: %w", err)
	}
	var id [16]byte
	s := &Slot{
		Kind:     kind,
		Created:  time.Now().UTC().Truncate(time.Second),
		Hostname: hostname(),
		Username: username(),
		Label:    label,
		KDF:      KDF{Algorithm: alg, Params: params, Salt: make([]byte, saltSize)},
		Cipher:   CipherXChaCha20Poly1305,
		Nonce:    make([]byte, chacha20poly1305.NonceSizeX),
	}
	for _, b := range [][]byte{id[:], s.KDF.Salt, s.Nonce} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("new key slot: %w", err)
		}
	}
	s.ID = hex.EncodeToString(id[:])
	return s, nil
}

// hostname and username describe where a slot was made; they are only
// informative, so failures leave them empty. Anything checkText would
// reject is dropped too.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || checkText("hostname", h) != nil {
		return ""
	}
	return h
}

func username() string {
	u, err := user.Current()
	if err != nil || checkText("username", u.Username) != nil {
		return ""
	}
	return u.Username
}

// wrap encrypts master under the key derived from secret.
func (s *Slot) wrap(master crypto.MasterKey, vaultID string, secret []byte) error {
	if err := checkVaultID(vaultID); err != nil {
		return fmt.Errorf("new key slot: %w", err)
	}
	kek, err := s.kek(secret)
	if err != nil {
		return fmt.Errorf("new key slot: %w", err)
	}
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return fmt.Errorf("new key slot: %w", err)
	}
	s.Wrapped = aead.Seal(nil, s.Nonce, master[:], s.aad(vaultID))
	return nil
}

// Unwrap returns the master key of the vault vaultID from s, given the
// slot's passphrase or key-file secret. Any secret that does not open the
// slot, including one of the wrong kind or length, gives ErrWrongSecret. A
// slot whose fields are invalid gives an error describing the problem.
func (s *Slot) Unwrap(vaultID string, secret []byte) (crypto.MasterKey, error) {
	var master crypto.MasterKey
	if err := s.Validate(); err != nil {
		return master, err
	}
	wrong := fmt.Errorf("key slot %s: %w", s.ID[:8], ErrWrongSecret)
	if len(secret) == 0 || (s.Kind == KindKeyFile && len(secret) != KeyFileSecretSize) {
		return master, wrong
	}
	kek, err := s.kek(secret)
	if err != nil {
		return master, fmt.Errorf("key slot %s: %w", s.ID[:8], err)
	}
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return master, fmt.Errorf("key slot %s: %w", s.ID[:8], err)
	}
	plain, err := aead.Open(nil, s.Nonce, s.Wrapped, s.aad(vaultID))
	if err != nil {
		return master, wrong
	}
	copy(master[:], plain)
	clear(plain)
	return master, nil
}

// kek derives the key-encryption key from secret. s must be valid.
func (s *Slot) kek(secret []byte) ([]byte, error) {
	if s.Kind == KindPassphrase {
		return passphraseKEK(secret, s.KDF.Salt, s.KDF.Params), nil
	}
	return keyFileKEK(secret, s.KDF.Salt)
}

// aad encodes the vault id and every field of s but the nonce and the
// wrapped key, each length-prefixed so that no two slots encode alike.
func (s *Slot) aad(vaultID string) []byte {
	b := []byte("bunker key slot v1")
	for _, f := range []string{
		vaultID, s.ID, string(s.Kind), s.Created.UTC().Format(time.RFC3339),
		s.Hostname, s.Username, s.Label, s.KDF.Algorithm, string(s.KDF.Salt), s.Cipher,
	} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint32(b, s.KDF.Params.Time)
	b = binary.BigEndian.AppendUint32(b, s.KDF.Params.MemoryKiB)
	return binary.BigEndian.AppendUint32(b, s.KDF.Params.Threads)
}
