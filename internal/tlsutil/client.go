package tlsutil

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
)

// ClientConfig returns the TLS configuration for a client of the server.
//
// With a fingerprint, the client trusts exactly the server certificate with
// that fingerprint: no certificate authority is consulted and the host name
// is not checked (the pin is stronger than both). The handshake fails with
// an error naming both fingerprints if the server presents any other
// certificate.
//
// With an empty fingerprint, the server's certificate is verified as usual
// against the system's roots for serverName, which must then be given.
func ClientConfig(fingerprint, serverName string) (*tls.Config, error) {
	if fingerprint == "" {
		if serverName == "" {
			return nil, errors.New("TLS client: no certificate fingerprint and no server name to verify the certificate against")
		}
		return &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
	}
	want, err := ParseFingerprint(fingerprint)
	if err != nil {
		return nil, fmt.Errorf("TLS client: %w", err)
	}
	return &tls.Config{
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
		// Chain and host name verification are replaced, not skipped:
		// VerifyConnection runs on every handshake, resumed ones included,
		// and accepts only the pinned certificate.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return checkPin(cs, want)
		},
	}, nil
}

// checkPin accepts a connection only if the server's leaf certificate has
// the fingerprint want.
func checkPin(cs tls.ConnectionState, want [32]byte) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server presented no certificate")
	}
	got := sha256.Sum256(cs.PeerCertificates[0].Raw)
	if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
		return nil
	}
	return fmt.Errorf("server certificate has fingerprint sha256:%s, but sha256:%s is expected: "+
		"if the server's certificate was replaced, confirm the new fingerprint with its operator "+
		"(the server prints it when it starts) and update the fingerprint you gave; otherwise something "+
		"is intercepting the connection and you must not proceed",
		hex.EncodeToString(got[:]), hex.EncodeToString(want[:]))
}
