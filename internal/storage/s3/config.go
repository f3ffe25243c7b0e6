package s3

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Lookup chooses how requests name the bucket.
type Lookup string

// Bucket lookup styles.
const (
	// LookupAuto uses virtual-host style for AWS and Google endpoints and
	// path style for every other endpoint.
	LookupAuto Lookup = ""
	// LookupPath puts the bucket in the path: https://endpoint/bucket/key.
	LookupPath Lookup = "path"
	// LookupVirtualHost puts the bucket in the host name:
	// https://bucket.endpoint/key.
	LookupVirtualHost Lookup = "virtual-host"
)

// Defaults for the zero values of Config.
const (
	DefaultPartSize          = 32 << 20
	DefaultUploadParallelism = 4
	DefaultMaxRetries        = 8
	DefaultRetryDelay        = 200 * time.Millisecond
	DefaultRetryMaxDelay     = 15 * time.Second
)

// Limits of Config.
const (
	MinPartSize          = 5 << 20 // S3's smallest part but the last
	MaxPartSize          = 5 << 30 // S3's largest part
	maxParts             = 10000   // S3's most parts in one upload
	maxUploadParallelism = 64
	maxMaxRetries        = 100
	maxRetryDelay        = 10 * time.Minute
	maxPrefixLen         = 256
	maxRegionLen         = 64
)

// Config says where a vault's bucket is and how to reach it.
type Config struct {
	// Endpoint is the S3 service's host or host:port, such as
	// "s3.eu-central-1.amazonaws.com" or "minio.internal:9000". An
	// http:// or https:// URL with nothing after the host is accepted
	// too, if its scheme agrees with DisableTLS.
	Endpoint string
	// Region signs requests; empty asks the service for the bucket's
	// region once.
	Region string
	// Bucket holds the vault.
	Bucket string
	// Prefix, if set, is the folder of the bucket that holds the vault:
	// objects live under <Prefix>/<kind>/<name>. Segments are separated
	// by "/" and made of letters, digits, '.', '_' and '-'; leading and
	// trailing slashes are dropped.
	Prefix string

	// AccessKeyID, SecretAccessKey and SessionToken are the credentials.
	// When AccessKeyID is empty they come from CredentialsFile, or when
	// that is empty too from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// CredentialsFile is a file that LoadCredentials reads.
	CredentialsFile string

	// DisableTLS talks plain HTTP. TLS is on by default.
	DisableTLS bool
	// CAFile is a PEM file of certificates to trust besides the system's,
	// for an endpoint with a private CA.
	CAFile string
	// Lookup chooses path-style or virtual-host style requests.
	Lookup Lookup

	// PartSize is the size of the parts of a multipart upload; objects up
	// to this size go in one PUT. 0 means DefaultPartSize; at least
	// MinPartSize, at most MaxPartSize. An object may have 10000 parts.
	PartSize int64
	// UploadParallelism bounds the uploads (PUTs and parts) in flight at
	// once, and so the memory their buffers take: at most this many times
	// PartSize. 0 means DefaultUploadParallelism; at most 64.
	UploadParallelism int
	// MaxRetries is how many times a failed request is sent again
	// (throttling, 5xx, network errors). 0 means DefaultMaxRetries, a
	// negative value means none; at most 100.
	MaxRetries int
	// RetryDelay is the backoff before the first retry; it doubles with
	// each further one up to RetryMaxDelay, and a random part of up to half
	// of each wait is taken off (jitter). 0 means DefaultRetryDelay and
	// DefaultRetryMaxDelay.
	RetryDelay    time.Duration
	RetryMaxDelay time.Duration
}

// Validate checks c without touching the network or the filesystem.
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// settings is a validated Config with its defaults filled in.
type settings struct {
	Config
	host   string // host[:port] of the endpoint
	secure bool
}

// normalize validates c and fills in defaults.
func (c Config) normalize() (settings, error) {
	s := settings{Config: c}
	var err error
	if s.host, s.secure, err = parseEndpoint(c.Endpoint, c.DisableTLS); err != nil {
		return settings{}, err
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return settings{}, fmt.Errorf("bucket %q: %w", truncate(c.Bucket), err)
	}
	if s.Prefix, err = cleanPrefix(c.Prefix); err != nil {
		return settings{}, err
	}
	if err := checkRegion(c.Region); err != nil {
		return settings{}, err
	}
	switch {
	case c.AccessKeyID == "" && (c.SecretAccessKey != "" || c.SessionToken != ""):
		return settings{}, errors.New("a secret access key or session token without an access key id")
	case c.AccessKeyID != "" && c.SecretAccessKey == "":
		return settings{}, errors.New("an access key id without a secret access key")
	case c.AccessKeyID != "" && c.CredentialsFile != "":
		return settings{}, errors.New("credentials given both in the config and as a file")
	}
	if c.AccessKeyID != "" {
		if err := (Credentials{c.AccessKeyID, c.SecretAccessKey, c.SessionToken}).check(); err != nil {
			return settings{}, err
		}
	}
	if c.CAFile != "" && !s.secure {
		return settings{}, errors.New("a CA file with TLS disabled")
	}
	switch c.Lookup {
	case LookupAuto, LookupPath, LookupVirtualHost:
	default:
		return settings{}, fmt.Errorf("bucket lookup %q: want %q, %q or empty", truncate(string(c.Lookup)), LookupPath, LookupVirtualHost)
	}
	if s.PartSize == 0 {
		s.PartSize = DefaultPartSize
	}
	if s.PartSize < MinPartSize || s.PartSize > MaxPartSize {
		return settings{}, fmt.Errorf("part size %d: want %d to %d bytes", c.PartSize, MinPartSize, MaxPartSize)
	}
	if s.UploadParallelism == 0 {
		s.UploadParallelism = DefaultUploadParallelism
	}
	if s.UploadParallelism < 1 || s.UploadParallelism > maxUploadParallelism {
		return settings{}, fmt.Errorf("upload parallelism %d: want 1 to %d", c.UploadParallelism, maxUploadParallelism)
	}
	switch {
	case s.MaxRetries == 0:
		s.MaxRetries = DefaultMaxRetries
	case s.MaxRetries < 0:
		s.MaxRetries = 0
	case s.MaxRetries > maxMaxRetries:
		return settings{}, fmt.Errorf("max retries %d: want at most %d", c.MaxRetries, maxMaxRetries)
	}
	if s.RetryDelay == 0 && s.RetryMaxDelay == 0 {
		s.RetryDelay, s.RetryMaxDelay = DefaultRetryDelay, DefaultRetryMaxDelay
	}
	if s.RetryMaxDelay == 0 {
		s.RetryMaxDelay = max(s.RetryDelay, DefaultRetryMaxDelay)
	}
	if s.RetryDelay <= 0 || s.RetryDelay > maxRetryDelay || s.RetryMaxDelay < s.RetryDelay || s.RetryMaxDelay > maxRetryDelay {
		return settings{}, fmt.Errorf("retry delays %v to %v: want 0 < first ≤ most ≤ %v", c.RetryDelay, c.RetryMaxDelay, maxRetryDelay)
	}
	return s, nil
}

// parseEndpoint validates an endpoint and returns its host[:port] and
// whether requests use TLS.
func parseEndpoint(endpoint string, disableTLS bool) (host string, secure bool, err error) {
	if endpoint == "" {
		return "", false, errors.New("no endpoint")
	}
	host, secure = endpoint, !disableTLS
	if scheme, rest, ok := strings.Cut(endpoint, "://"); ok {
		u, err := url.Parse(endpoint)
		if err != nil || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
			u.ForceQuery || strings.ContainsAny(rest, "?#@") {
			return "", false, fmt.Errorf("endpoint %q: want host[:port] or a URL with nothing after the host", truncate(endpoint))
		}
		switch strings.ToLower(scheme) {
		case "https":
			if disableTLS {
				return "", false, fmt.Errorf("endpoint %q is https:// but TLS is disabled", truncate(endpoint))
			}
		case "http":
			if !disableTLS {
				return "", false, fmt.Errorf("endpoint %q is http:// but TLS is on: disable TLS to talk plain HTTP", truncate(endpoint))
			}
		default:
			return "", false, fmt.Errorf("endpoint %q: scheme must be http or https", truncate(endpoint))
		}
		host = u.Host
	}
	if err := checkHost(host); err != nil {
		return "", false, fmt.Errorf("endpoint %q: %w", truncate(endpoint), err)
	}
	return host, secure, nil
}

// checkHost accepts a DNS name, an IPv4 address or a bracketed IPv6
// address, optionally followed by :port.
func checkHost(host string) error {
	name, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return fmt.Errorf("port %q: want 1 to 65535", truncate(port))
		}
		if strings.HasPrefix(host, "[") || strings.Contains(name, ":") {
			if ip := net.ParseIP(name); ip == nil || ip.To4() != nil || strings.Contains(name, "%") {
				return errors.New("not a valid IPv6 address")
			}
			return nil
		}
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		inner := host[1 : len(host)-1]
		if ip := net.ParseIP(inner); ip == nil || ip.To4() != nil || !strings.Contains(inner, ":") || strings.Contains(inner, "%") {
			return errors.New("not a valid IPv6 address")
		}
		return nil
	}
	if name == "" {
		return errors.New("no host")
	}
	if len(name) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a valid host name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return errors.New("not a valid host name")
			}
		}
	}
	return nil
}

// cleanPrefix drops leading and trailing slashes and checks every segment.
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if len(p) > maxPrefixLen {
		return "", fmt.Errorf("prefix longer than %d bytes", maxPrefixLen)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("prefix %q: empty, . and .. segments are not allowed", truncate(p))
		}
		for i := 0; i < len(seg); i++ {
			if !isPrefixChar(seg[i]) {
				return "", fmt.Errorf("prefix %q: only letters, digits, '.', '_', '-' and '/' are allowed", truncate(p))
			}
		}
	}
	return p, nil
}

func isPrefixChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func checkRegion(r string) error {
	if len(r) > maxRegionLen {
		return fmt.Errorf("region longer than %d characters", maxRegionLen)
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("region %q: only letters, digits, '-' and '_' are allowed", truncate(r))
		}
	}
	return nil
}

// ParseLocation parses "s3://bucket" or "s3://bucket/prefix", the form
// Location prints, into a bucket and a cleaned prefix.
func ParseLocation(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("location %q: want s3://bucket[/prefix]", truncate(s))
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return "", "", fmt.Errorf("location %q: bucket: %w", truncate(s), err)
	}
	if strings.HasPrefix(prefix, "/") {
		return "", "", fmt.Errorf("location %q: the prefix starts with a slash", truncate(s))
	}
	if prefix, err = cleanPrefix(prefix); err != nil {
		return "", "", fmt.Errorf("location %q: %w", truncate(s), err)
	}
	return bucket, prefix, nil
}

// location formats a bucket and prefix as ParseLocation reads them.
func location(bucket, prefix string) string {
	if prefix == "" {
		return "s3://" + bucket
	}
	return "s3://" + bucket + "/" + prefix
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
