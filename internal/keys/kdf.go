package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"runtime/debug"

	"golang.org/x/crypto/argon2"
)

// KDF algorithm names, as stored in a slot.
const (
	KDFArgon2id   = "argon2id"
	KDFHKDFSHA256 = "hkdf-sha256"
)

// Limits on argon2id parameters accepted from a slot. They bound the work a
// crafted slot can ask for: at most 4 GiB of memory and 100 passes.
const (
	MaxKDFTime      = 100
	MaxKDFMemoryKiB = 4 << 20
	MaxKDFThreads   = 64
)

const (
	saltSize = 32
	kekSize  = 32
	// keyFileInfo separates key-file KEKs from any other use of the secret.
	keyFileInfo = "bunker v1 key slot key file"
)

// KDFParams are the argon2id cost parameters of a passphrase slot.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint32 // lanes computed in parallel
}

// DefaultKDFParams returns the cost used for new passphrase slots: 64 MiB,
// 3 passes, 4 lanes, the second recommended setting of RFC 9106 for
// memory-constrained environments. Every bunker command that opens a vault
// pays it once, so it is sized to cost about a quarter of a second of CPU on
// a current x86-64 core while each guess still costs an attacker 64 MiB of
// memory for as long. BenchmarkDefaultKDF measures it.
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}
}

// TestKDFParams returns a cost low enough for tests (64 KiB, one pass).
// Slots made with it are trivially brute-forced; never use it for a real
// vault.
func TestKDFParams() KDFParams {
	return KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
}

// Validate reports whether p is within the accepted limits.
func (p KDFParams) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxKDFTime:
		return fmt.Errorf("argon2id time %d is outside 1..%d", p.Time, MaxKDFTime)
	case p.Threads < 1 || p.Threads > MaxKDFThreads:
		return fmt.Errorf("argon2id threads %d is outside 1..%d", p.Threads, MaxKDFThreads)
	case p.MemoryKiB < 8*p.Threads || p.MemoryKiB > MaxKDFMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB is outside %d..%d KiB", p.MemoryKiB, 8*p.Threads, MaxKDFMemoryKiB)
	}
	return nil
}

// passphraseKEK stretches a passphrase into a key-encryption key. p must
// have been validated.
//
// argon2id leaves its whole memory (64 MiB by default) behind as garbage.
// A collection ran while that memory was live, so the collector's next
// target is well above it, and without a collection now everything the
// command allocates next would pile up on top of the dead buffer and raise
// the peak memory of every command that opens a vault by a part of the KDF
// memory. The freed pages also go back to the operating system at once:
// kept, they would stay resident for the rest of the command and count
// beneath everything it touches next, while a command that needs that much
// heap again gets them back as a few huge pages. Both cost about a
// millisecond with the small heap a command has at this point.
func passphraseKEK(passphrase, salt []byte, p KDFParams) []byte {
	prepareKDFMemory(p.MemoryKiB, uint8(p.Threads))
	kek := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, uint8(p.Threads), kekSize)
	debug.FreeOSMemory()
	return kek
}

// keyFileKEK expands a key file's secret into a key-encryption key.
func keyFileKEK(secret, salt []byte) ([]byte, error) {
	kek, err := hkdf.Key(sha256.New, secret, salt, keyFileInfo, kekSize)
	if err != nil {
		return nil, fmt.Errorf("derive key-file key: %w", err)
	}
	return kek, nil
}
