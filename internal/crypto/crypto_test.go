package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
)

func testKey(t testing.TB, m MasterKey) *Key {
	t.Helper()
	k, err := m.Derive()
	if err != nil {
		t.Fatalf("Derive: %v", err)
	}
	return k
}

func testSealer(t testing.TB, k *Key, salt byte) *Sealer {
	t.Helper()
	return sealerFor(t, k, [SaltSize]byte{salt})
}

func sealerFor(t testing.TB, k *Key, salt [SaltSize]byte) *Sealer {
	t.Helper()
	s, err := k.Sealer(salt)
	if err != nil {
		t.Fatalf("Sealer: %v", err)
	}
	return s
}

func seal(t testing.TB, s *Sealer, plaintext, aad []byte) []byte {
	t.Helper()
	out, err := s.Seal(nil, plaintext, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return out
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := testSealer(t, testKey(t, MasterKey{1}), 1)
	aad := BlobAAD(blob.DataBlob, blob.ID{7})
	for _, size := range []int{0, 1, 15, 16, 17, 4096, 1 << 20} {
		plain := bytes.Repeat([]byte{byte(size)}, size)
		sealed, err := s.Seal([]byte("prefix"), plain, aad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(sealed, []byte("prefix")) || len(sealed) != len("prefix")+size+Overhead {
			t.Fatalf("Seal of %d bytes gave %d bytes, want the prefix and %d more", size, len(sealed), size+Overhead)
		}
		sealed = sealed[len("prefix"):]
		if size >= 16 && bytes.Contains(sealed, plain[:16]) {
			t.Errorf("sealed blob of %d bytes contains its plaintext", size)
		}
		got, err := s.Open([]byte("head"), sealed, aad)
		if err != nil {
			t.Fatalf("Open of %d bytes: %v", size, err)
		}
		if !bytes.Equal(got, append([]byte("head"), plain...)) {
			t.Fatalf("Open of %d bytes returned different data", size)
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	s := testSealer(t, testKey(t, MasterKey{1}), 1)
	a, b := seal(t, s, []byte("same"), nil), seal(t, s, []byte("same"), nil)
	if bytes.Equal(a[:NonceSize], b[:NonceSize]) || bytes.Equal(a, b) {
		t.Error("sealing the same plaintext twice gave the same nonce or output")
	}
}

func TestTamperedBlobFails(t *testing.T) {
	s := testSealer(t, testKey(t, MasterKey{2}), 2)
	aad := BlobAAD(blob.TreeBlob, blob.ID{3})
	sealed := seal(t, s, []byte("the quick brown fox"), aad)
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= mask
			if out, err := s.Open(nil, bad, aad); !errors.Is(err, ErrAuth) || out != nil {
				t.Fatalf("Open with byte %d flipped by %#x = %q, %v; want ErrAuth", i, mask, out, err)
			}
		}
	}
	for name, bad := range map[string][]byte{
		"truncated": sealed[:len(sealed)-1],
		"extended":  append(bytes.Clone(sealed), 0),
		"no nonce":  sealed[NonceSize:],
	} {
		if _, err := s.Open(nil, bad, aad); !errors.Is(err, ErrAuth) {
			t.Errorf("Open of a %s blob = %v, want ErrAuth", name, err)
		}
	}
}

func TestBlobUnderAnotherIDFails(t *testing.T) {
	k := testKey(t, MasterKey{3})
	s := testSealer(t, k, 3)
	data := []byte("chunk contents")
	id := k.BlobID(data)
	sealed := seal(t, s, data, BlobAAD(blob.DataBlob, id))
	// A storage attacker swaps the blob into another id's place, or
	// presents a data blob as a tree.
	for name, aad := range map[string][]byte{
		"other id":   BlobAAD(blob.DataBlob, k.BlobID([]byte("other chunk"))),
		"other type": BlobAAD(blob.TreeBlob, id),
		"no aad":     nil,
	} {
		if _, err := s.Open(nil, sealed, aad); !errors.Is(err, ErrAuth) {
			t.Errorf("Open under %s = %v, want ErrAuth", name, err)
		}
	}
	if _, err := s.Open(nil, sealed, BlobAAD(blob.DataBlob, id)); err != nil {
		t.Errorf("Open under the right id: %v", err)
	}
}

func TestBlobAAD(t *testing.T) {
	id := blob.ID{0xaa, 0xbb}
	got := BlobAAD(blob.TreeBlob, id)
	if want := append([]byte{byte(blob.TreeBlob)}, id[:]...); !bytes.Equal(got, want) {
		t.Errorf("BlobAAD = %x, want %x", got, want)
	}
}

func TestSaltsAndMasterKeysSeparateKeys(t *testing.T) {
	k := testKey(t, MasterKey{4})
	sealed := seal(t, testSealer(t, k, 1), []byte("secret"), nil)
	if _, err := testSealer(t, k, 1).Open(nil, sealed, nil); err != nil {
		t.Fatalf("a second Sealer for the same salt cannot open: %v", err)
	}
	if _, err := testSealer(t, k, 2).Open(nil, sealed, nil); !errors.Is(err, ErrAuth) {
		t.Errorf("a Sealer for another salt opened the blob: %v", err)
	}
	other := testKey(t, MasterKey{5})
	if _, err := testSealer(t, other, 1).Open(nil, sealed, nil); !errors.Is(err, ErrAuth) {
		t.Errorf("another master key opened the blob: %v", err)
	}
	if k.ChunkerSeed() == other.ChunkerSeed() || k.BlobID(nil) == other.BlobID(nil) {
		t.Error("two master keys share a chunker seed or blob ids")
	}
}

func TestShortSealedInput(t *testing.T) {
	s := testSealer(t, testKey(t, MasterKey{6}), 6)
	for n := range Overhead {
		_, err := s.Open(nil, make([]byte, n), nil)
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "shorter than 28") {
			t.Fatalf("Open of %d bytes = %v, want ErrAuth naming the length", n, err)
		}
	}
	if _, err := s.Open(nil, make([]byte, Overhead), nil); !errors.Is(err, ErrAuth) {
		t.Errorf("Open of an all-zero %d-byte blob = %v, want ErrAuth", Overhead, err)
	}
}

func TestDeriveIsDeterministic(t *testing.T) {
	a, b := testKey(t, MasterKey{7}), testKey(t, MasterKey{7})
	if a.ChunkerSeed() != b.ChunkerSeed() || a.BlobID([]byte("x")) != b.BlobID([]byte("x")) {
		t.Error("deriving the same master key twice gave different keys")
	}
	sealed := seal(t, testSealer(t, a, 9), []byte("x"), nil)
	if _, err := testSealer(t, b, 9).Open(nil, sealed, nil); err != nil {
		t.Errorf("keys derived twice do not open each other's blobs: %v", err)
	}
}

// hkdfSHA256 is RFC 5869 HKDF-SHA256 with a 32-byte output, written out
// from HMAC so that it is independent of the code under test.
func hkdfSHA256(secret, salt []byte, info string) []byte {
	mac := func(key, data []byte) []byte {
		h := hmac.New(sha256.New, key)
		h.Write(data)
		return h.Sum(nil)
	}
	if salt == nil {
		salt = make([]byte, sha256.Size)
	}
	prk := mac(salt, secret)
	return mac(prk, append([]byte(info), 1))
}

// TestDerivationMatchesFormat rebuilds every key from the master key with
// an independent HKDF implementation, as the vault format specifies, so an
// accidental change to the derivation cannot go unnoticed.
func TestDerivationMatchesFormat(t *testing.T) {
	m := MasterKey{0x42, 0x13}
	k := testKey(t, m)
	expand := hkdfSHA256

	if seed := k.ChunkerSeed(); !bytes.Equal(seed[:], expand(m[:], nil, "bunker v1 chunker")) {
		t.Error("chunker seed is not HKDF-SHA256(master, info \"bunker v1 chunker\")")
	}

	mac := hmac.New(sha256.New, expand(m[:], nil, "bunker v1 blob id"))
	mac.Write([]byte("data"))
	if id := k.BlobID([]byte("data")); !bytes.Equal(id[:], mac.Sum(nil)) {
		t.Error("blob id is not HMAC-SHA256 under HKDF-SHA256(master, info \"bunker v1 blob id\")")
	}

	salt := [SaltSize]byte{9, 8, 7}
	objectKey := expand(expand(m[:], nil, "bunker v1 encrypt"), salt[:], "bunker v1 object")
	block, err := aes.NewCipher(objectKey)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	sealed := seal(t, sealerFor(t, k, salt), []byte("payload"), []byte("aad"))
	plain, err := gcm.Open(nil, sealed[:NonceSize], sealed[NonceSize:], []byte("aad"))
	if err != nil || string(plain) != "payload" {
		t.Errorf("sealed blob is not AES-256-GCM under the object key (nonce || ciphertext || tag): %v", err)
	}
}

func TestIDHasher(t *testing.T) {
	k := testKey(t, MasterKey{8})
	h := k.NewIDHasher()
	a1, b, a2 := h.Sum([]byte("a")), h.Sum([]byte("b")), h.Sum([]byte("a"))
	if a1 != a2 || a1 == b {
		t.Error("IDHasher does not reset between sums")
	}
	if a1 != k.BlobID([]byte("a")) {
		t.Error("IDHasher and BlobID disagree")
	}
	if a1 == blob.ID(sha256.Sum256([]byte("a"))) {
		t.Error("blob ids are plain SHA-256, not keyed")
	}
}

func TestRandomValuesDiffer(t *testing.T) {
	m1, err1 := NewMasterKey()
	m2, err2 := NewMasterKey()
	s1, err3 := NewSalt()
	s2, err4 := NewSalt()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	if m1 == m2 || m1 == (MasterKey{}) || s1 == s2 || s1 == ([SaltSize]byte{}) {
		t.Error("NewMasterKey or NewSalt returned repeated or zero values")
	}
}

func TestSealerIsSafeForConcurrentUse(t *testing.T) {
	s := testSealer(t, testKey(t, MasterKey{10}), 10)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				plain := []byte{byte(g), byte(i)}
				sealed, err := s.Seal(nil, plain, plain)
				if err == nil {
					var got []byte
					got, err = s.Open(nil, sealed, plain)
					if err == nil && !bytes.Equal(got, plain) {
						err = errors.New("wrong plaintext")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func benchSealer(b *testing.B) (*Sealer, []byte, []byte) {
	k := testKey(b, MasterKey{11})
	return testSealer(b, k, 11), make([]byte, 1<<20), BlobAAD(blob.DataBlob, blob.ID{1})
}

func BenchmarkSeal1MiB(b *testing.B) {
	s, plain, aad := benchSealer(b)
	buf := make([]byte, 0, len(plain)+Overhead)
	b.SetBytes(int64(len(plain)))
	for range b.N {
		if _, err := s.Seal(buf[:0], plain, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen1MiB(b *testing.B) {
	s, plain, aad := benchSealer(b)
	sealed := seal(b, s, plain, aad)
	buf := make([]byte, 0, len(plain))
	b.SetBytes(int64(len(plain)))
	for range b.N {
		if _, err := s.Open(buf[:0], sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func TestContentKeyRoundTrip(t *testing.T) {
	m, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Derive()
	if err != nil {
		t.Fatal(err)
	}
	ck, err := ParseIDKey(k.ContentKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("the same content")
	if ck.BlobID(data) != k.BlobID(data) {
		t.Fatal("a content key from the wire names content differently from the vault key")
	}
	if ck.ChunkerSeed() != k.ChunkerSeed() {
		t.Fatal("chunker seeds differ")
	}
	other, _ := NewMasterKey()
	ok, _ := other.Derive()
	if ok.BlobID(data) == k.BlobID(data) {
		t.Fatal("two vaults name the same content alike")
	}
	if bytes.Contains(k.ContentKey().Bytes(), k.encrypt[:]) {
		t.Fatal("the content key carries the encryption key")
	}
	for _, n := range []int{0, IDKeySize - 1, IDKeySize + 1} {
		if _, err := ParseIDKey(make([]byte, n)); err == nil {
			t.Errorf("parsed a %d-byte content key", n)
		}
	}
}
