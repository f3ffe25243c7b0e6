// Package auth holds the credentials of the server's principals: password
// hashes, TOTP second factors and API tokens.
//
// Passwords are stretched with argon2id and stored as PHC strings. A stored
// hash is treated as hostile input: its parameters are checked against fixed
// limits before anything is allocated, so a tampered database row cannot
// make a login spend unbounded memory or time.
//
// TOTP follows RFC 6238 with SHA-1, 6 digits and 30-second steps, the
// setting every authenticator app supports. CheckTOTP returns the time step
// that matched so the caller can store it and refuse the same code, or any
// earlier one, the next time.
//
// API tokens are random, shown once, and stored only as a SHA-256 hash of
// their secret part; the id part locates the stored hash without revealing
// anything about the secret.
package auth
