package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bunkerhq/bunker/internal/atomicfile"
	"github.com/bunkerhq/bunker/internal/secret"
)

// File names in the certificate directory.
const (
	CertFile = "cert.pem"
	KeyFile  = "key.sealed"
)

// keyAAD binds the sealed TLS key to its use.
const keyAAD = "tls key"

// maxFile bounds what is read from the certificate directory.
const maxFile = 1 << 20

// LoadOrCreate returns the server certificate kept in dir, creating one with
// SelfSigned(hosts, now) if dir holds none. The certificate is kept in
// cert.pem (mode 0644) and its private key, sealed with box (additional data
// "tls key"), in key.sealed (mode 0600); both are written atomically. It
// returns the certificate, its fingerprint, and whether it was just
// created. hosts and now matter only when a certificate is created; an
// existing one is returned as it is.
//
// A certificate that exists is never replaced: if one of the two files is
// missing, the key does not open or does not match the certificate, or the
// certificate was changed after the key signed it, LoadOrCreate fails and says which file is at fault, because a silently
// new certificate would break every client that pinned the old one and hide
// tampering.
func LoadOrCreate(dir string, box *secret.Box, hosts []string, now time.Time) (tls.Certificate, string, bool, error) {
	if box == nil {
		return tls.Certificate{}, "", false, errors.New("TLS certificate: no secret box to seal the key with")
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	certExists, err := exists(certPath)
	if err != nil {
		return tls.Certificate{}, "", false, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return tls.Certificate{}, "", false, err
	}
	switch {
	case certExists && keyExists:
		cert, fp, err := load(certPath, keyPath, box)
		return cert, fp, false, err
	case certExists:
		return tls.Certificate{}, "", false, fmt.Errorf("TLS certificate %s has no key %s: restore the key from a backup, or remove %s to make a new certificate (pinned clients must then be given its fingerprint)", certPath, KeyFile, CertFile)
	case keyExists:
		return tls.Certificate{}, "", false, fmt.Errorf("TLS key %s has no certificate %s: restore the certificate from a backup, or remove %s to make a new certificate (pinned clients must then be given its fingerprint)", keyPath, CertFile, KeyFile)
	}

	certDER, keyDER, err := SelfSigned(hosts, now)
	if err != nil {
		return tls.Certificate{}, "", false, err
	}
	sealed, err := box.Seal(keyDER, []byte(keyAAD))
	if err != nil {
		return tls.Certificate{}, "", false, fmt.Errorf("seal TLS key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, "", false, fmt.Errorf("create TLS directory: %w", err)
	}
	// The key goes first: a crash between the two writes leaves a key
	// without a certificate, which is refused above rather than silently
	// replaced.
	if err := atomicfile.Write(keyPath, sealed, 0o600); err != nil {
		return tls.Certificate{}, "", false, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, "", false, err
	}
	cert, err := pair(certDER, keyDER)
	if err != nil {
		return tls.Certificate{}, "", false, err
	}
	return cert, Fingerprint(certDER), true, nil
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("look for TLS file: %w", err)
}

// load reads and checks a stored certificate and sealed key.
func load(certPath, keyPath string, box *secret.Box) (tls.Certificate, string, error) {
	certPEM, err := readFile(certPath)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	certDER, err := parseCertPEM(certPEM)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("TLS certificate %s: %w", certPath, err)
	}
	sealed, err := readFile(keyPath)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	keyDER, err := box.Open(sealed, []byte(keyAAD))
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("TLS key %s does not open with this server's secret (damaged, tampered with, or from another server): %w", keyPath, err)
	}
	cert, err := pair(certDER, keyDER)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("TLS files in %s: %w", filepath.Dir(certPath), err)
	}
	// The certificate was signed by the sealed key, which nobody without
	// the server's secret can use: a changed certificate does not verify.
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("TLS certificate %s: %w", certPath, err)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("TLS certificate %s was changed after it was made: its signature does not verify: %w", certPath, err)
	}
	return cert, Fingerprint(certDER), nil
}

// parseCertPEM returns the DER bytes of the single CERTIFICATE block that
// data must consist of.
func parseCertPEM(data []byte) ([]byte, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("PEM certificate has headers")
	}
	if len(rest) != 0 {
		return nil, errors.New("data after the certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return block.Bytes, nil
}

// pair builds a tls.Certificate from a certificate and a PKCS #8 key,
// checking that the key belongs to the certificate.
func pair(certDER, keyDER []byte) (tls.Certificate, error) {
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate and key do not form a pair: %w", err)
	}
	return cert, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read TLS file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read TLS file: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxFile {
		return nil, fmt.Errorf("read TLS file %s: not a regular file of at most %d bytes", path, maxFile)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("read TLS file: %w", err)
	}
	return data, nil
}

// LoadFiles loads an operator's own certificate chain and private key from
// PEM files, checking that they form a pair, and returns it with the
// fingerprint of the leaf certificate.
func LoadFiles(certFile, keyFile string) (tls.Certificate, string, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return cert, Fingerprint(cert.Certificate[0]), nil
}
