package repo

import (
	"testing"

	"github.com/bunkerhq/bunker/internal/crypto"
)

func TestSealerCacheReusesAndStaysBounded(t *testing.T) {
	m, err := crypto.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := m.Derive()
	if err != nil {
		t.Fatal(err)
	}
	var c sealerCache
	var salt [crypto.SaltSize]byte
	first, err := c.get(key, salt)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.get(key, salt); again != first {
		t.Error("a cached salt derived its sealer again")
	}
	for i := range 3 * sealerCacheSize {
		salt[0], salt[1] = byte(i), byte(i>>8)
		if _, err := c.get(key, salt); err != nil {
			t.Fatal(err)
		}
		if n := c.len(); n > sealerCacheSize {
			t.Fatalf("cache holds %d sealers, want at most %d", n, sealerCacheSize)
		}
	}
}
