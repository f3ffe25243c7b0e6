// Package tlsutil gives the server its TLS certificate and gives clients a
// way to trust it.
//
// Out of the box the server makes its own self-signed certificate
// (ECDSA P-256, five years) and keeps it in its state directory, the private
// key sealed with the server's secret box. Clients trust that certificate by
// pinning its fingerprint, "sha256:" followed by the hex SHA-256 of the
// certificate's DER bytes, which the server prints when it starts. A pinned
// client trusts exactly one certificate: no certificate authority is
// consulted and the host name is not checked, so it works for any address
// the server is reached at, and nothing else is accepted.
//
// An operator who has a certificate from a CA loads it with LoadFiles;
// clients then verify it the usual way against the system roots by not
// giving a fingerprint.
package tlsutil
