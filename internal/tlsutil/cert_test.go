package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSelfSigned(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	certDER, keyDER, err := SelfSigned([]string{"backup.example.com", "Backup.Example.COM.", "10.0.0.7", "::ffff:10.0.0.7", "fd00::1", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"localhost", "backup.example.com"}; !slices.Equal(cert.DNSNames, want) {
		t.Errorf("DNS names %v, want %v", cert.DNSNames, want)
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"127.0.0.1", "::1", "10.0.0.7", "fd00::1"}; !slices.Equal(ips, want) {
		t.Errorf("IP addresses %v, want %v", ips, want)
	}
	if !cert.NotBefore.Equal(now.Add(-time.Hour)) || !cert.NotAfter.Equal(now.AddDate(5, 0, 0)) {
		t.Errorf("valid %v to %v", cert.NotBefore, cert.NotAfter)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || cert.IsCA {
		t.Errorf("key usage %v, extended %v, CA %v", cert.KeyUsage, cert.ExtKeyUsage, cert.IsCA)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	if !key.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
		t.Fatal("key does not belong to the certificate")
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Fatalf("certificate is not self-signed: %v", err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "backup.example.com", "10.0.0.7"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("certificate does not cover %s: %v", host, err)
		}
	}
	if cert.VerifyHostname("other.example.com") == nil {
		t.Error("certificate covers a host it was not made for")
	}

	again, _, err := SelfSigned(nil, now)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := x509.ParseCertificate(again)
	if other.SerialNumber.Cmp(cert.SerialNumber) == 0 || other.SerialNumber.Sign() <= 0 {
		t.Errorf("serial numbers %v and %v", cert.SerialNumber, other.SerialNumber)
	}
	if len(other.DNSNames) != 1 || len(other.IPAddresses) != 2 {
		t.Errorf("certificate without hosts names %v %v", other.DNSNames, other.IPAddresses)
	}
}

func TestSelfSignedRefusesBadHosts(t *testing.T) {
	for _, h := range []string{"", "host:8443", "[::1]", "fe80::1%eth0", "-bad.example", "a..b", "under_score", "*.example.com", strings.Repeat("a", 64) + ".com", "http://x", "é.example"} {
		if _, _, err := SelfSigned([]string{h}, time.Now()); err == nil {
			t.Errorf("SelfSigned accepted host %q", h)
		}
	}
}

func TestFingerprint(t *testing.T) {
	der := []byte("not really a certificate")
	sum := sha256.Sum256(der)
	fp := Fingerprint(der)
	if fp != "sha256:"+hex.EncodeToString(sum[:]) || len(fp) != 7+64 {
		t.Fatalf("Fingerprint = %s", fp)
	}
	h := fp[7:]
	var colons []string
	for i := 0; i < 64; i += 2 {
		colons = append(colons, h[i:i+2])
	}
	for _, s := range []string{fp, strings.ToUpper(fp), h, strings.ToUpper(h), "sha256:" + strings.Join(colons, ":"), "SHA256:" + strings.ToUpper(strings.Join(colons, ":"))} {
		got, err := ParseFingerprint(s)
		if err != nil || !bytes.Equal(got[:], sum[:]) {
			t.Errorf("ParseFingerprint(%s) = %x, %v", s, got, err)
		}
	}
	for _, c := range []struct{ s, problem string }{
		{"", "64 hex digits"},
		{"sha256:", "64 hex digits"},
		{fp[:70], "64 hex digits"},
		{fp + "0", "64 hex digits"},
		{"sha1:" + h, "64 hex digits"},
		{"sha256:" + h[:63] + "g", "not hex"},
		{"sha256:" + strings.Join(colons, ":") + ":", "pairs"},
		{"sha256:" + strings.Join(colons, "-"), "64 hex digits"},
		{"sha256:" + h[:2] + ":" + h[3:] + "0", "pairs"},
		{"sha256:0" + strings.Join(colons, ":")[:94], "64 hex digits"},
		{"sha256:" + strings.Join(colons, ":")[:5] + strings.Join(colons, ":")[6:7] + ":" + strings.Join(colons, ":")[7:], "separate"},
		{"sha256: " + h, "64 hex digits"},
		{"sha256:" + h + strings.Repeat("x", 1000), "of 1071 bytes"},
	} {
		_, err := ParseFingerprint(c.s)
		if err == nil || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("ParseFingerprint(%q) = %v, want an error about %q", c.s, err, c.problem)
		}
	}
}

func TestSelfSignedIPsAreIPs(t *testing.T) {
	certDER, _, err := SelfSigned([]string{"192.0.2.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(certDER)
	if slices.Contains(cert.DNSNames, "192.0.2.1") || !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("192.0.2.1")) }) {
		t.Fatalf("IP host became %v / %v", cert.DNSNames, cert.IPAddresses)
	}
}
