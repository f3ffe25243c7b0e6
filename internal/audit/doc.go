// Package audit is the logic of the server's hash-chained audit log:
// chaining entries, signing checkpoints, verifying an exported log and
// reading and writing the export format. Keeping entries and checkpoints is
// the store's job.
//
// # Entries and the chain
//
// Every entry carries the hash of the entry before it (Prev; 64 zeros for
// the first) and its own hash (Hash) over all its fields, Prev included.
// Changing, removing, adding or moving any entry breaks the chain at that
// point unless every later hash is recomputed; the server's signed
// checkpoints catch that: a checkpoint signs the hash of one entry, and so
// everything before it.
//
// # Entry hash
//
// Hash is the lower-case hex SHA-256 of the concatenation of:
//
//	"bunker audit entry v1" and one zero byte     22 bytes
//	Seq                                           8 bytes, unsigned big-endian
//	Time, seconds since 1970-01-01T00:00:00Z      8 bytes, signed (two's complement) big-endian
//	Time, nanoseconds within the second           4 bytes, unsigned big-endian, 0 to 999999999
//	Actor, Action, Target, Outcome, Remote        each: length in bytes (4 bytes, unsigned
//	                                              big-endian) then the UTF-8 bytes
//	Detail in canonical form                      length (4 bytes, unsigned big-endian) then
//	                                              the bytes; length 0 when absent, null or {}
//	Prev                                          32 bytes: the hex-decoded hash
//
// An absent Remote is the empty string. Next stores Time in UTC with whole
// microseconds, so the hashed nanoseconds are a multiple of 1000 for
// entries it made.
//
// # Canonical JSON
//
// Detail is hashed in a canonical form, so that a database that re-encodes
// JSON (PostgreSQL's jsonb does) does not break the chain:
//
//   - no whitespace outside strings;
//   - object members sorted by key, comparing the keys' UTF-8 bytes;
//     a key may appear only once;
//   - strings with '"' and '\' escaped as \" and \\, U+0008, U+000C,
//     U+000A, U+000D and U+0009 as \b \f \n \r \t, other characters below
//     U+0020 as \u00xx with lower-case hex, and every other character as
//     its UTF-8 bytes (escapes in the input are decoded first; invalid
//     UTF-8 and unpaired surrogates are refused);
//   - numbers by their exact decimal value: write it as ±d×10^e, with d
//     the digit string without leading or trailing zeros (k digits), and
//     let n = k+e; then the number is written, after a "-" if negative,
//     as d and e zeros if e ≥ 0 and n ≤ 21; else as the first n digits of
//     d, ".", and the rest, if 0 < n ≤ 21; else as "0.", -n zeros and d,
//     if -6 < n ≤ 0; else as the first digit of d, "." and the rest of d
//     if k > 1, "e", "+" if n-1 ≥ 0 or "-" if not, and |n-1| in decimal.
//     Zero is 0, never -0. So 1.50, 15e-1 and 0.15E1 are all 1.5, 100 and
//     1E2 are 100, 1e21 is 1e+21 and 0.0000001 is 1e-7;
//   - true, false and null as themselves;
//   - at most 64 levels of nesting.
//
// This is the layout ECMAScript uses to print numbers, applied to the exact
// value rather than to a binary float, so large integers keep every digit.
//
// # Checkpoints
//
// A checkpoint's Signature is the ed25519 signature, by the server's audit
// key, of:
//
//	"bunker audit checkpoint v1" and one zero byte  27 bytes
//	Seq                                             8 bytes, unsigned big-endian
//	Hash                                            32 bytes: the hex-decoded hash
//	Time, seconds since 1970-01-01T00:00:00Z        8 bytes, signed big-endian
//	Time, nanoseconds within the second             4 bytes, unsigned big-endian
//
// KeyID is "ed25519:" followed by the first 16 hex digits of the SHA-256 of
// the 32-byte public key.
//
// # Export
//
// An export is JSON lines (one object per line, UTF-8, "\n" after each).
// The first line is the header,
//
//	{"type":"header","format":"bunker-audit-v1","key_id":"ed25519:…","public_key":"<base64>"}
//
// with the 32-byte ed25519 public key in standard base64 with padding. Each
// further line is an entry, {"type":"entry", then the fields of Entry by
// their JSON names}, with Time in RFC 3339 and remote and detail left out
// when empty; or a checkpoint, {"type":"checkpoint","seq":…,"hash":…,
// "time":…,"key_id":…,"signature":"<base64>"}. A checkpoint follows the
// entry it names. Verifying an export with another tool means: recompute
// each entry's hash as above and compare it with hash, check that each
// prev is the hash of the entry with the seq before, that seqs run from 1
// without gaps, and that every checkpoint's signature verifies with a key
// obtained independently of the export and its hash is the hash of the
// entry with its seq.
package audit
