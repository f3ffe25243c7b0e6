package repo

import (
	"sync"

	"github.com/bunkerhq/bunker/internal/crypto"
)

// sealerCacheSize bounds how many packs' sealers a repository keeps. Readers
// go through a few packs at a time (restore reads files in order, check one
// pack per worker), so a small cache saves almost every derivation.
const sealerCacheSize = 64

// sealerCache keeps the sealers of recently opened packs, so that reading
// the blobs of a pack derives its object key (HKDF and the AES and GCM key
// schedules) once instead of once per blob. A sealer is only a function of
// the vault key and the pack's salt; caching it changes no result.
type sealerCache struct {
	mu sync.Mutex
	m  map[[crypto.SaltSize]byte]*crypto.Sealer
}

// get returns the sealer for salt under key, deriving it on a miss.
func (c *sealerCache) get(key *crypto.Key, salt [crypto.SaltSize]byte) (*crypto.Sealer, error) {
	c.mu.Lock()
	s, ok := c.m[salt]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := key.Sealer(salt)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= sealerCacheSize {
		c.m = make(map[[crypto.SaltSize]byte]*crypto.Sealer, sealerCacheSize)
	}
	c.m[salt] = s
	return s, nil
}

// len returns the number of cached sealers.
func (c *sealerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
