package keys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/storage"
)

// Stored is a key slot and the name of the object that holds it.
type Stored struct {
	Name string
	Slot *Slot
}

// Put stores a key slot in a vault under the SHA-256 of its encoding.
func Put(ctx context.Context, be storage.Backend, sl *Slot) error {
	data, err := sl.Encode()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	h := storage.Handle{Kind: storage.KindKey, Name: hex.EncodeToString(sum[:])}
	if err := be.Put(ctx, h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		return fmt.Errorf("store key slot: %w", err)
	}
	return nil
}

// Load reads every key slot of a vault.
func Load(ctx context.Context, be storage.Backend) ([]Stored, error) {
	var names []string
	err := be.List(ctx, storage.KindKey, func(fi storage.Info) error {
		names = append(names, fi.Handle.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list key slots: %w", err)
	}
	var out []Stored
	for _, n := range names {
		data, err := storage.ReadAll(ctx, be, storage.Handle{Kind: storage.KindKey, Name: n})
		if err != nil {
			return nil, fmt.Errorf("read key slot %s: %w", short(n, 8), err)
		}
		sl, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("key slot %s: %w", short(n, 8), err)
		}
		out = append(out, Stored{Name: n, Slot: sl})
	}
	return out, nil
}

// Secret is what unlocks a vault: a key file's secret, a passphrase, or
// both (either may open a slot).
type Secret struct {
	KeyFile    []byte
	Passphrase []byte
}

// ErrNoSlots reports a vault without key slots.
var ErrNoSlots = errors.New("the vault has no key slots")

// Unlock finds a key slot of the vault vaultID on be that opens with s and
// returns the master key. It returns an error wrapping ErrWrongSecret when
// no slot opens.
func Unlock(ctx context.Context, be storage.Backend, vaultID string, s Secret) (crypto.MasterKey, error) {
	var master crypto.MasterKey
	slots, err := Load(ctx, be)
	if err != nil {
		return master, err
	}
	if len(slots) == 0 {
		return master, fmt.Errorf("%w: %s", ErrNoSlots, be.Location())
	}
	for _, sl := range slots {
		var sec []byte
		switch {
		case sl.Slot.Kind == KindKeyFile && s.KeyFile != nil:
			sec = s.KeyFile
		case sl.Slot.Kind == KindPassphrase && s.Passphrase != nil:
			sec = s.Passphrase
		default:
			continue
		}
		m, err := sl.Slot.Unwrap(vaultID, sec)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, ErrWrongSecret) {
			return master, fmt.Errorf("key slot %s: %w", short(sl.Name, 8), err)
		}
	}
	return master, fmt.Errorf("%w: no key slot of this vault opens with it", ErrWrongSecret)
}
