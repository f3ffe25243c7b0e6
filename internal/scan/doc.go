// Package scan is the engine-independent core of bunker's ransomware
// scanner.
//
// It judges a recovery point by comparing it with the previous point of the
// same source. The caller describes what changed as a list of [Change]
// values whose contents are reachable through [FileRef.Open]; the package
// never imports the engine.
//
// Evidence is gathered at two levels:
//
//   - per file ([Analyze] and the comparison inside [Judge]): the structure
//     of common formats (ZIP and the office formats built on it, PDF, JPEG,
//     PNG, GIF, SQLite, ELF, gzip, xz, zstd, bzip2, tar, ISO media (MP4/MOV),
//     RIFF (WAV/AVI/WebP), UTF-8 text) and byte
//     statistics (Shannon entropy, chi-square against the uniform
//     distribution, printable ratio, base64/hex alphabets and the entropy of
//     the decoded bytes) over sampled cells of the file. A file whose
//     structure was valid before and is broken now, or whose cells turned
//     from plain into uniformly random (or into base64/hex of random bytes),
//     is strong evidence; cells are compared at the same offsets in both
//     versions, so encryption of only the header, of every Nth block or of
//     the first megabytes shows.
//   - per point: many files renamed to one new extension, ransom notes (new
//     small text or HTML files with the same name or body in several
//     directories) and spikes of deletion or change.
//
// High-entropy data is not evidence on its own: a new valid archive or media
// file, or a file that was already random before and still is, adds nothing.
//
// Reading is bounded: a file's statistics come from a head, a tail and a
// fixed number of blocks at strided offsets, at most [Options.MaxRead] bytes,
// and structure checks read at most [Options.StructureRead] bytes more; in
// [Judge] the previous version of a changed file is read the same way
// (at the new version's offsets, plus its own tail) when the new version
// is broken or holds random cells, so a changed file costs at most twice
// that, and a benign edit of a valid file costs one reading. The
// parsers never trust lengths found in the data and never panic on hostile
// input.
package scan
