package tlsutil

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// FuzzParseFingerprint: whatever parses is the input's hex digits (the
// prefix and colons removed, case folded) and prints back, through
// Fingerprint's format, to a string that parses to the same bytes;
// everything else is an error, and nothing panics.
func FuzzParseFingerprint(f *testing.F) {
	fp := Fingerprint([]byte("certificate"))
	h := fp[7:]
	var pairs []string
	for i := 0; i < len(h); i += 2 {
		pairs = append(pairs, h[i:i+2])
	}
	seeds := [][]byte{
		[]byte(fp),
		[]byte(strings.ToUpper(fp)),
		[]byte(h),
		[]byte("sha256:" + strings.Join(pairs, ":")),
		[]byte("sha256:" + strings.Join(pairs, ":")[1:] + "0"),
		[]byte("sha1:" + h[:40]),
		[]byte(fp[:70]),
		[]byte("sha256:"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzParseFingerprint", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseFingerprint(string(data))
		if err != nil {
			return
		}
		digits := strings.ToLower(string(data))
		digits = strings.TrimPrefix(digits, "sha256:")
		digits = strings.ReplaceAll(digits, ":", "")
		if digits != hex.EncodeToString(got[:]) {
			t.Fatalf("%q parsed to %x", data, got)
		}
		again, err := ParseFingerprint("sha256:" + hex.EncodeToString(got[:]))
		if err != nil || again != got {
			t.Fatalf("printed fingerprint does not parse back: %v", err)
		}
	})
}

// FuzzParseCertPEM: whatever parses as the stored certificate is one
// headerless CERTIFICATE block with nothing after it, and its bytes are a
// certificate; nothing panics.
func FuzzParseCertPEM(f *testing.F) {
	der, _, err := SelfSigned([]string{"backup.example.com"}, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	good := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	seeds := [][]byte{
		good,
		append(bytes.Clone(good), good...),
		append(bytes.Clone(good), '\n'),
		bytes.Replace(good, []byte("CERTIFICATE"), []byte("PRIVATE KEY"), 2),
		good[:len(good)/2],
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der[:len(der)-1]}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"A": "b"}, Bytes: der}),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzParseCertPEM", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		der, err := parseCertPEM(data)
		if err != nil {
			if der != nil {
				t.Fatal("parseCertPEM returned data with an error")
			}
			return
		}
		block, rest := pem.Decode(data)
		if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) != 0 || !bytes.Equal(block.Bytes, der) || len(rest) != 0 {
			t.Fatalf("parseCertPEM accepted %q", data)
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			t.Fatalf("parseCertPEM accepted a certificate that does not parse: %v", err)
		}
	})
}
