package chunker

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// Gear is the table of the rolling hash, one 64-bit value per byte value.
// It is immutable and may be shared by any number of Chunkers.
type Gear struct {
	table [256]uint64
}

// NewGear expands a secret seed into a gear table: the table is the AES-256
// CTR keystream under the seed with a zero counter, read as little-endian
// 64-bit words. The same seed always yields the same table on every platform.
func NewGear(seed [32]byte) *Gear {
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		// A 32-byte key is always valid for AES-256.
		panic("chunker: aes.NewCipher rejected a 32-byte key: " + err.Error())
	}
	var stream [256 * 8]byte
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(stream[:], stream[:])
	g := &Gear{}
	for i := range g.table {
		g.table[i] = binary.LittleEndian.Uint64(stream[i*8:])
	}
	return g
}
