package s3

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// RequestCounter is implemented by backends that count the requests they
// send to their service, by operation, so an operator can see what a vault
// costs where requests are billed.
type RequestCounter interface {
	// Requests returns how many requests of each operation were sent so
	// far, retries and multipart parts included.
	Requests() map[string]uint64
}

// Requests returns how many HTTP requests the backend has sent, by S3
// operation name (PutObject, UploadPart, PutObjectRetention, ...). Every
// attempt counts: a request retried three times counts three times, as the
// service bills it.
func (b *Backend) Requests() map[string]uint64 { return b.counter.snapshot() }

// countingTransport counts each request it sends by operation.
type countingTransport struct {
	next   http.RoundTripper
	bucket string
	counts requestCounts
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.counts.add(operation(req, t.bucket))
	return t.next.RoundTrip(req)
}

// requestCounts is a concurrency-safe count per operation.
type requestCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *requestCounts) add(op string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = make(map[string]uint64)
	}
	c.n[op]++
	c.mu.Unlock()
}

func (c *requestCounts) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// operation names the S3 API operation a request is, from its method,
// query and whether its path names an object or only the bucket. Requests
// it does not know are "Other".
func operation(req *http.Request, bucket string) string {
	q := req.URL.Query()
	object := isObjectPath(req.URL, bucket)
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch req.Method {
	case http.MethodGet:
		switch {
		case has("retention"):
			return "GetObjectRetention"
		case has("legal-hold"):
			return "GetObjectLegalHold"
		case has("object-lock"):
			return "GetObjectLockConfiguration"
		case has("versioning"):
			return "GetBucketVersioning"
		case has("location"):
			return "GetBucketLocation"
		case has("versions"):
			return "ListObjectVersions"
		case has("uploads"):
			return "ListMultipartUploads"
		case object:
			return "GetObject"
		default:
			return "ListObjects"
		}
	case http.MethodHead:
		if object {
			return "HeadObject"
		}
		return "HeadBucket"
	case http.MethodPut:
		switch {
		case has("retention"):
			return "PutObjectRetention"
		case has("legal-hold"):
			return "PutObjectLegalHold"
		case has("uploadId"):
			return "UploadPart"
		case object:
			return "PutObject"
		}
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("delete"):
			return "DeleteObjects"
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return "AbortMultipartUpload"
		case object:
			return "DeleteObject"
		}
	}
	return "Other"
}

// isObjectPath reports whether u names an object rather than the bucket,
// in path style (/bucket/key) or virtual-host style (/key).
func isObjectPath(u *url.URL, bucket string) bool {
	p := strings.Trim(u.EscapedPath(), "/")
	if strings.EqualFold(u.Hostname(), bucket) || strings.HasPrefix(u.Hostname(), bucket+".") {
		return p != ""
	}
	return p != "" && p != url.PathEscape(bucket)
}
