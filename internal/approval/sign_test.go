package approval

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testHash(b byte) string { return strings.Repeat(string("0123456789abcdef"[b%16]), 64) }

func TestSignAndCheck(t *testing.T) {
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	h := testHash(1)
	sig, id, err := Sign(priv, h, Approve)
	if err != nil {
		t.Fatal(err)
	}
	if id != KeyID(pub) || !strings.HasPrefix(id, "ed25519:") {
		t.Fatalf("key id %s", id)
	}
	if err := CheckSignature(pub, h, Approve, id, sig); err != nil {
		t.Fatal(err)
	}
	other := testKey(2).Public().(ed25519.PublicKey)
	for name, err := range map[string]error{
		"another request": CheckSignature(pub, testHash(2), Approve, id, sig),
		"turned vote":     CheckSignature(pub, h, Reject, id, sig),
		"another key":     CheckSignature(other, h, Approve, KeyID(other), sig),
		"wrong key id":    CheckSignature(pub, h, Approve, KeyID(other), sig),
		"truncated":       CheckSignature(pub, h, Approve, id, sig[:10]),
		"bad hash":        CheckSignature(pub, "xyz", Approve, id, sig),
		"bad vote":        CheckSignature(pub, h, Vote("maybe"), id, sig),
	} {
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want a bad signature", name, err)
		}
	}
	if _, _, err := Sign(priv, "nothex", Approve); err == nil {
		t.Error("signed a malformed hash")
	}
	// The message is what the documentation says.
	want := "bunker approval v1\n" + h + "\napprove\n" + id
	if string(Message(h, Approve, id)) != want || !ed25519.Verify(pub, []byte(want), sig) {
		t.Error("the signed message is not the documented one")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "approver.key")
	priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, priv); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	got, err := ReadKeyFile(path)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("read back: %v", err)
	}
	if err := WriteKeyFile(path, testKey(3)); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("replaced an existing key file: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(path); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("read a key file others may read: %v", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	back, err := ParsePublicKey(EncodePublicKey(pub))
	if err != nil || !back.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	for _, bad := range []string{"", "AAAA", EncodePublicKey(pub) + "=", strings.TrimRight(EncodePublicKey(pub), "=")} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("accepted public key %q", bad)
		}
	}
}

func TestDecodeKeyFileRefuses(t *testing.T) {
	good := EncodeKeyFile(testKey(4))
	for name, in := range map[string]string{
		"empty":       "",
		"no header":   strings.SplitN(string(good), "\n", 2)[1],
		"no newline":  strings.TrimSuffix(string(good), "\n"),
		"two lines":   string(good) + "more\n",
		"crlf":        strings.Replace(string(good), "=\n", "=\r\n", 1),
		"short seed":  keyFileHeader + "AAAA\n",
		"not base64":  keyFileHeader + strings.Repeat("!", 44) + "\n",
		"other magic": strings.Replace(string(good), "v1", "v2", 1),
	} {
		if _, err := DecodeKeyFile([]byte(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
}

// FuzzDecodeKeyFile: an accepted key file encodes back to itself.
func FuzzDecodeKeyFile(f *testing.F) {
	seeds := [][]byte{EncodeKeyFile(testKey(5)), []byte(keyFileHeader), []byte(keyFileHeader + "AAAA\n"), nil}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecodeKeyFile", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, err := DecodeKeyFile(data)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeKeyFile(priv), data) {
			t.Fatalf("accepted %q, which encodes as %q", data, EncodeKeyFile(priv))
		}
	})
}

// FuzzParsePublicKey: an accepted public key encodes back to itself.
func FuzzParsePublicKey(f *testing.F) {
	seeds := []string{EncodePublicKey(testKey(6).Public().(ed25519.PublicKey)), "", "AAAA", "====", strings.Repeat("A", 43) + "="}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		for i, s := range seeds {
			fuzzseed.WriteEntry(f, "FuzzParsePublicKey", "seed-"+string(rune('a'+i)), "string("+strconv.Quote(s)+")")
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if EncodePublicKey(pub) != s {
			t.Fatalf("accepted %q, which encodes as %q", s, EncodePublicKey(pub))
		}
	})
}
