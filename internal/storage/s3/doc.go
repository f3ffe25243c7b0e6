// Package s3 stores a vault in a bucket of an S3-compatible object store
// (AWS S3, MinIO, Ceph RGW and others), with S3 Object Lock for retention
// that the storage itself enforces.
//
// It talks S3 through minio-go (github.com/minio/minio-go/v7) rather than
// the AWS SDK: one well-kept module instead of a tree of them, first-class
// APIs for Object Lock, retention, legal hold and versioning, endpoints of
// any S3-compatible service (path-style or virtual-host style, plain or TLS),
// and a small addition to the static binary.
//
// # Layout
//
// An object of kind k named n is stored under the key <prefix>/<k>/<n>
// (k/n when the prefix is empty): <prefix>/config/config,
// <prefix>/packs/<64 hex>, <prefix>/keys/<64 hex> and so on. Names follow
// the same rules as the local backend: "config" for the config, 64
// lowercase hex digits for everything else; any other handle is refused
// with storage.ErrInvalidName before a request is made.
//
// # Write once
//
// Put sends If-None-Match: *, so the service refuses to store a key that
// exists (storage.ErrExists), even between concurrent writers. Objects up to
// Config.PartSize go in one PUT with a Content-MD5; larger ones in a
// multipart upload whose parts are uploaded in parallel and which is
// completed with the same precondition (and aborted on failure). An object
// is visible only once complete, so a failed or canceled Put leaves nothing.
// Put with storage.PutOptions places Object Lock retention (GOVERNANCE or
// COMPLIANCE until a date) on the new object in the same request.
//
// # The oldest version is the object
//
// On a versioned bucket (Object Lock requires versioning) whoever holds the
// bucket's credentials can put a new version over a locked object or place
// a delete marker on it: Object Lock keeps the locked version itself, not
// the key's current version. bunker writes each object once, so the first
// version of a key is the object. The backend therefore reads, stats and
// lists the oldest version that is not a delete marker, by version id, and
// ignores newer versions and delete markers. It learns version ids from its
// own Puts and from ListObjectVersions, and keeps them in a bounded cache
// (a stale entry, for an object another process deleted, is dropped when
// the service reports the version gone). Versions are only ever appended,
// so nobody can slip one in before the original. A Put that meets a delete
// marker as the key's current version passes If-None-Match, as S3 treats
// the key as absent, and stores a second version; the original stays the
// one read. On a bucket without versioning there is one version per key
// and the backend reads it directly, checking its ETag.
//
// Delete removes every version of a key and every delete marker on it,
// newest first and the original last, so a refused Delete never leaves a
// foreign version in the original's place. A version under retention or
// legal hold makes it fail with storage.ErrRetained.
//
// # Retries
//
// Every request is retried on throttling (503 SlowDown and its relatives),
// on 5xx answers and on network errors, with exponential backoff and
// jitter, up to Config.MaxRetries times; the context stops the waiting.
// Bodies are held in memory so they can be sent again; a read that breaks
// mid-stream resumes at the byte it reached. When the retries run out the
// error says how many attempts were made over how long and wraps the last
// cause. Uploads in flight are bounded by Config.UploadParallelism (which
// also bounds the memory held by upload buffers to that many parts), and
// one HTTP transport keeps connections alive between requests.
package s3
