package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// S3 error codes the backend tells apart.
const (
	codeNoSuchKey          = "NoSuchKey"
	codeNoSuchVersion      = "NoSuchVersion"
	codeNoSuchBucket       = "NoSuchBucket"
	codePreconditionFailed = "PreconditionFailed"
	codeNoLockConfig       = "NoSuchObjectLockConfiguration"
	codeNoBucketLockConfig = "ObjectLockConfigurationNotFoundError"
	codeInvalidRange       = "InvalidRange"
	codeAccessDenied       = "AccessDenied"
	codeInvalidRequest     = "InvalidRequest"
)

// errorResponse returns the S3 error response in err's chain, if any.
func errorResponse(err error) (minio.ErrorResponse, bool) {
	var r minio.ErrorResponse
	if errors.As(err, &r) && (r.Code != "" || r.StatusCode != 0) {
		return r, true
	}
	return minio.ErrorResponse{}, false
}

// errorCode returns the S3 error code of err, or "".
func errorCode(err error) string {
	r, _ := errorResponse(err)
	return r.Code
}

// isNotFound reports whether err says the key or version does not exist.
func isNotFound(err error) bool {
	r, ok := errorResponse(err)
	if !ok {
		return false
	}
	switch r.Code {
	case codeNoSuchKey, codeNoSuchVersion:
		return true
	case codeNoSuchBucket:
		return false
	}
	return r.StatusCode == http.StatusNotFound && r.Code == ""
}

// isPreconditionFailed reports whether err is the answer to If-None-Match
// on an existing key.
func isPreconditionFailed(err error) bool {
	r, ok := errorResponse(err)
	return ok && (r.Code == codePreconditionFailed || r.StatusCode == http.StatusPreconditionFailed)
}

// isRetained reports whether err is the service refusing to delete or
// change a version because of Object Lock: AWS answers AccessDenied
// ("Access Denied because object protected by object lock"), MinIO
// InvalidRequest ("Object is WORM protected and cannot be overwritten").
func isRetained(err error) bool {
	r, ok := errorResponse(err)
	if !ok || (r.Code != codeAccessDenied && r.Code != codeInvalidRequest) {
		return false
	}
	msg := strings.ToLower(r.Message)
	if strings.Contains(msg, "objectlockconfiguration") {
		return false // the bucket has no Object Lock at all
	}
	for _, word := range []string{"object lock", "worm", "retention", "legal hold"} {
		if strings.Contains(msg, word) {
			return true
		}
	}
	return false
}

// isLockUnsupported reports whether err says the bucket has no Object Lock.
func isLockUnsupported(err error) bool {
	r, ok := errorResponse(err)
	if !ok {
		return false
	}
	if r.Code == codeNoBucketLockConfig {
		return true
	}
	msg := strings.ToLower(r.Message)
	return r.Code == codeInvalidRequest && strings.Contains(msg, "objectlockconfiguration")
}

// classify wraps err with the storage error it means, keeping err's own
// message and chain.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case isNotFound(err):
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	case isLockUnsupported(err):
		return fmt.Errorf("bucket without Object Lock: %w: %w", storage.ErrUnsupported, err)
	case isRetained(err):
		return fmt.Errorf("%w: %w", storage.ErrRetained, err)
	}
	return err
}

// retryableCodes are S3 error codes worth sending a request again for.
var retryableCodes = map[string]bool{
	"SlowDown": true, "SlowDownRead": true, "SlowDownWrite": true,
	"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	"RequestThrottled": true, "TooManyRequests": true, "RequestTimeout": true,
	"InternalError": true, "ServiceUnavailable": true,
	"XMinioServerNotInitialized": true, "XMinioReadQuorum": true, "XMinioWriteQuorum": true,
}

// retryable reports whether a request that failed with err may succeed if
// sent again: throttling, 5xx answers, and network errors other than
// failed TLS verification.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if r, ok := errorResponse(err); ok {
		if retryableCodes[r.Code] {
			return true
		}
		return r.StatusCode >= 500 || r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusRequestTimeout
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalidCert      x509.CertificateInvalidError
		hostname         x509.HostnameError
		verify           *tls.CertificateVerificationError
		record           tls.RecordHeaderError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &invalidCert) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &record) {
		return false
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return false
	}
	var (
		urlErr *url.Error
		netErr net.Error
		xmlErr *xml.SyntaxError
	)
	switch {
	case errors.As(err, &urlErr), errors.As(err, &netErr), errors.As(err, &xmlErr),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}
