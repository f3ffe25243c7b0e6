package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"
)

// Validity of a self-signed certificate.
const (
	backdate = time.Hour
	lifetime = 5 // years
)

// defaultHosts are in every self-signed certificate, so a server is
// reachable on the machine it runs on whatever else it is named.
func defaultHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// SelfSigned makes an ECDSA P-256 certificate for hosts (DNS names and IP
// addresses; localhost, 127.0.0.1 and ::1 are always included), valid from
// an hour before now for five years, with a random serial number, key usage
// digital signature and extended key usage server authentication. It
// returns the certificate's DER bytes and the private key in PKCS #8 DER.
func SelfSigned(hosts []string, now time.Time) (certDER, keyDER []byte, err error) {
	var dnsNames []string
	var ips []netip.Addr
	seen := map[string]bool{}
	for _, h := range append(defaultHosts(), hosts...) {
		if ip, err := netip.ParseAddr(h); err == nil {
			if ip.Zone() != "" {
				return nil, nil, fmt.Errorf("self-signed certificate: IP address %q has a zone, which a certificate cannot name", h)
			}
			ip = ip.Unmap()
			if !seen[ip.String()] {
				seen[ip.String()] = true
				ips = append(ips, ip)
			}
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(h, "."))
		if err := checkDNSName(name); err != nil {
			return nil, nil, fmt.Errorf("self-signed certificate: host %q: %w", h, err)
		}
		if !seen[name] {
			seen[name] = true
			dnsNames = append(dnsNames, name)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)), // never zero
		Subject:               pkix.Name{CommonName: "bunker server"},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.AddDate(lifetime, 0, 0).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: encode key: %w", err)
	}
	return certDER, keyDER, nil
}

// checkDNSName accepts a lower-case host name of letters, digits and
// hyphens in dot-separated labels.
func checkDNSName(name string) error {
	if name == "" || len(name) > 253 {
		return errors.New("not an IP address or a host name of 1 to 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("a host name label is empty or longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("a host name label starts or ends with a hyphen")
		}
		for i := range len(label) {
			if c := label[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("character %q is not allowed in a host name (give an address without port or brackets)", c)
			}
		}
	}
	return nil
}

// Fingerprint returns "sha256:" followed by the 64 lower-case hex digits of
// the SHA-256 hash of a certificate's DER bytes.
func Fingerprint(certDER []byte) string {
	sum := sha256.Sum256(certDER)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint parses a fingerprint as Fingerprint prints it. It also
// accepts upper-case hex, a colon between each pair of hex digits (as
// openssl prints fingerprints), an upper-case prefix, and no prefix at all.
func ParseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	h := s
	if len(h) >= 7 && strings.EqualFold(h[:7], "sha256:") {
		h = h[7:]
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && i != 2 {
		return fp, fmt.Errorf("fingerprint %s: want sha256: and 64 hex digits", quoteShort(s))
	}
	if strings.Contains(h, ":") {
		if len(h) != 32*3-1 {
			return fp, fmt.Errorf("fingerprint %s: with colons it must be 32 pairs of hex digits, as in sha256:ab:cd:…", quoteShort(s))
		}
		var b strings.Builder
		for i := 0; i < len(h); i += 3 {
			if i+2 < len(h) && h[i+2] != ':' {
				return fp, fmt.Errorf("fingerprint %s: colons must separate each pair of hex digits", quoteShort(s))
			}
			b.WriteString(h[i : i+2])
		}
		h = b.String()
	}
	if len(h) != 64 {
		return fp, fmt.Errorf("fingerprint %s: want sha256: and 64 hex digits, got %d characters", quoteShort(s), len(h))
	}
	if _, err := hex.Decode(fp[:], []byte(h)); err != nil {
		return fp, fmt.Errorf("fingerprint %s: not hex: %w", quoteShort(s), err)
	}
	return fp, nil
}

// quoteShort quotes s for an error message, or only gives its length when
// it is too long to be worth repeating.
func quoteShort(s string) string {
	if len(s) > 120 {
		return fmt.Sprintf("of %d bytes", len(s))
	}
	return fmt.Sprintf("%q", s)
}
