package audit

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/bunkerhq/bunker/internal/secret"
)

const checkpointDomain = "bunker audit checkpoint v1\x00"

// Checkpoint is the server's signature over the hash of one entry. Since
// every entry's hash covers the one before it, a checkpoint vouches for the
// whole log up to its entry: whoever rewrites an entry must also forge the
// signature of every later checkpoint.
type Checkpoint struct {
	Seq       uint64    `json:"seq"`
	Hash      string    `json:"hash"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
}

// Sign returns a checkpoint for e signed with priv at now (UTC, whole
// microseconds). It refuses an entry whose hash does not match its content,
// so a checkpoint never vouches for a broken entry.
func Sign(priv ed25519.PrivateKey, e Entry, now time.Time) (Checkpoint, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if e.Seq == 0 {
		return Checkpoint{}, errors.New("sign audit checkpoint: entry has seq 0")
	}
	h, err := e.ComputeHash()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	if h != e.Hash {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: entry %d does not match its hash", e.Seq)
	}
	c := Checkpoint{Seq: e.Seq, Hash: e.Hash, Time: now.UTC().Truncate(time.Microsecond)}
	if y := c.Time.Year(); y < 1 || y > 9999 {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: time in year %d is outside 1..9999", y)
	}
	msg, err := c.message()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	c.KeyID = secret.KeyID(pub)
	c.Signature = ed25519.Sign(priv, msg)
	return c, nil
}

// message is the signed encoding of c, as described in the package
// documentation.
func (c Checkpoint) message() ([]byte, error) {
	h, err := decodeHash(c.Hash)
	if err != nil {
		return nil, fmt.Errorf("checkpoint hash: %w", err)
	}
	msg := make([]byte, 0, len(checkpointDomain)+8+32+12)
	msg = append(msg, checkpointDomain...)
	msg = binary.BigEndian.AppendUint64(msg, c.Seq)
	msg = append(msg, h[:]...)
	return appendTime(msg, c.Time), nil
}

// Verify checks that c was signed by the key pub: the key id must be pub's
// and the signature must verify over seq, hash and time.
func (c Checkpoint) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("checkpoint %d: public key has %d bytes, want %d", c.Seq, len(pub), ed25519.PublicKeySize)
	}
	if want := secret.KeyID(pub); c.KeyID != want {
		return fmt.Errorf("checkpoint %d: signed by key %q, not by %s", c.Seq, Clean(c.KeyID), want)
	}
	if c.Seq == 0 {
		return errors.New("checkpoint has seq 0")
	}
	msg, err := c.message()
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", c.Seq, err)
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, c.Signature) {
		return fmt.Errorf("checkpoint %d: signature does not verify", c.Seq)
	}
	return nil
}
