package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// responseHeaderTimeout bounds the wait for an answer once a request has
// been sent, so that a service that hangs is retried rather than waited for.
const responseHeaderTimeout = 2 * time.Minute

// Backend is a vault in an S3 bucket. It is safe for concurrent use.
type Backend struct {
	core       minio.Core
	transport  *http.Transport
	bucket     string
	prefix     string
	endpoint   string
	partSize   int64
	location   string
	versioned  bool // the bucket keeps versions (enabled or suspended)
	objectLock bool // the bucket has Object Lock enabled
	retry      retrier
	uploads    chan struct{} // semaphore of uploads in flight
	versions   versionCache
	counter    *requestCounts // requests sent, by operation

	extendLocks [64]sync.Mutex // Extends of keys hashed to one are serialized
}

// Compile-time checks that Backend provides what the storage package asks.
var (
	_ storage.Backend  = (*Backend)(nil)
	_ storage.Retainer = (*Backend)(nil)
	_ storage.Tierer   = (*Backend)(nil)
	_ RequestCounter   = (*Backend)(nil)
)

// Open connects to the bucket cfg names and checks that it exists and
// that the credentials are accepted. Its errors say which of these failed:
// an invalid config, unreadable credentials, an endpoint that cannot be
// reached (after the configured retries), refused credentials, or a
// missing bucket.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	s, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("open s3 vault: %w", err)
	}
	loc := fmt.Sprintf("%s (%s)", location(s.Bucket, s.Prefix), s.host)
	creds, err := s.credentials(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	transport, err := newTransport(s)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	lookup := minio.BucketLookupAuto
	switch s.Lookup {
	case LookupPath:
		lookup = minio.BucketLookupPath
	case LookupVirtualHost:
		lookup = minio.BucketLookupDNS
	}
	counting := &countingTransport{next: transport, bucket: s.Bucket}
	client, err := minio.New(s.host, &minio.Options{
		Creds:        credentials.NewStaticV4(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		Secure:       s.secure,
		Transport:    counting,
		Region:       s.Region,
		BucketLookup: lookup,
		MaxRetries:   1, // the backend retries itself, with its own policy
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	client.SetAppInfo("bunker", "1")
	b := &Backend{
		core:      minio.Core{Client: client},
		transport: transport,
		bucket:    s.Bucket,
		prefix:    s.Prefix,
		endpoint:  s.host,
		partSize:  s.PartSize,
		location:  loc,
		retry: retrier{
			retries:  s.MaxRetries,
			first:    s.RetryDelay,
			most:     s.RetryMaxDelay,
			endpoint: s.host,
		},
		uploads: make(chan struct{}, s.UploadParallelism),
		counter: &counting.counts,
	}
	if err := b.probe(ctx, creds); err != nil {
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	return b, nil
}

// newTransport returns the HTTP transport of one Backend: connections are
// kept alive and reused across requests.
func newTransport(s settings) (*http.Transport, error) {
	tr, err := minio.DefaultTransport(s.secure)
	if err != nil {
		return nil, err
	}
	tr.MaxIdleConnsPerHost = max(16, 2*s.UploadParallelism)
	tr.ResponseHeaderTimeout = responseHeaderTimeout
	if s.CAFile == "" {
		return tr, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", s.CAFile)
	}
	tr.TLSClientConfig.RootCAs = pool
	return tr, nil
}

// probe checks the bucket and learns whether it keeps versions and has
// Object Lock.
func (b *Backend) probe(ctx context.Context, creds Credentials) error {
	var exists bool
	err := b.retry.do(ctx, func(int) error {
		var err error
		exists, err = b.core.BucketExists(ctx, b.bucket)
		return err
	})
	if err != nil {
		return b.explain(err, creds)
	}
	if !exists {
		return fmt.Errorf("bucket %q does not exist at %s; create it first (see docs/S3.md)", b.bucket, b.endpoint)
	}
	var vc minio.BucketVersioningConfiguration
	err = b.retry.do(ctx, func(int) error {
		var err error
		vc, err = b.core.GetBucketVersioning(ctx, b.bucket)
		return err
	})
	if err != nil {
		return fmt.Errorf("bucket versioning: %w", b.explain(err, creds))
	}
	b.versioned = vc.Enabled() || vc.Suspended()
	b.objectLock, _, err = b.lockConfig(ctx)
	if err != nil {
		return fmt.Errorf("bucket Object Lock configuration: %w", b.explain(err, creds))
	}
	return nil
}

// explain turns the error of a first request into a message that says
// what is wrong.
func (b *Backend) explain(err error, creds Credentials) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	r, ok := errorResponse(err)
	if !ok {
		if retryable(err) {
			return fmt.Errorf("cannot reach the endpoint: %w", err)
		}
		var (
			unknownAuthority x509.UnknownAuthorityError
			verify           *tls.CertificateVerificationError
		)
		switch {
		case errors.As(err, &unknownAuthority), errors.As(err, &verify):
			return fmt.Errorf("the endpoint's certificate is not trusted (for a private CA, give its certificate as the CA file): %w", err)
		case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
			return fmt.Errorf("the endpoint talks plain HTTP while TLS is on: %w", err)
		}
		return err
	}
	switch r.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId", "TokenRefreshRequired":
		return fmt.Errorf("the service refused the credentials (%s): %w", creds, err)
	case codeAccessDenied:
		return fmt.Errorf("access denied to bucket %q with %s (wrong credentials, or no permission on the bucket): %w", b.bucket, creds, err)
	case codeNoSuchBucket:
		return fmt.Errorf("bucket %q does not exist at %s: %w", b.bucket, b.endpoint, err)
	}
	if r.StatusCode == http.StatusForbidden {
		return fmt.Errorf("the service refused the request with %s (wrong credentials, or no permission on the bucket): %w", creds, err)
	}
	return err
}

// lockConfig asks for the bucket's Object Lock configuration: whether it is
// enabled and, if not, why.
func (b *Backend) lockConfig(ctx context.Context) (bool, string, error) {
	var enabled string
	err := b.retry.do(ctx, func(int) error {
		var err error
		enabled, _, _, _, err = b.core.GetObjectLockConfig(ctx, b.bucket)
		return err
	})
	switch {
	case err == nil && enabled == "Enabled":
		return true, "", nil
	case err == nil:
		return false, fmt.Sprintf("bucket %q has Object Lock %q, not enabled", b.bucket, enabled), nil
	case isLockUnsupported(err):
		return false, fmt.Sprintf("bucket %q has no Object Lock configuration; Object Lock can only be turned on when a bucket is created (mc mb --with-lock, or aws s3api create-bucket --object-lock-enabled-for-bucket)", b.bucket), nil
	}
	if r, ok := errorResponse(err); ok && (r.Code == "NotImplemented" || r.StatusCode == http.StatusNotImplemented) {
		return false, fmt.Sprintf("the service at %s does not implement Object Lock", b.endpoint), nil
	}
	return false, "", err
}

// Location returns s3://bucket/prefix (endpoint).
func (b *Backend) Location() string { return b.location }

// Close releases the backend's idle connections.
func (b *Backend) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}

// acquire takes an upload slot, waiting for one while ctx allows.
func (b *Backend) acquire(ctx context.Context) error {
	select {
	case b.uploads <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release returns an upload slot.
func (b *Backend) release() { <-b.uploads }
