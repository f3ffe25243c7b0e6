package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7"
)

// validConfig is a config that Validate accepts.
func validConfig() Config {
	return Config{
		Endpoint:        "minio.internal:9000",
		Bucket:          "bunker-vaults",
		Prefix:          "prod/db",
		AccessKeyID:     "AKIAEXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("Validate of a valid config: %v", err)
	}
	s, err := validConfig().normalize()
	if err != nil {
		t.Fatal(err)
	}
	if s.PartSize != DefaultPartSize || s.UploadParallelism != DefaultUploadParallelism || s.MaxRetries != DefaultMaxRetries ||
		s.RetryDelay != DefaultRetryDelay || s.RetryMaxDelay != DefaultRetryMaxDelay || !s.secure || s.host != "minio.internal:9000" {
		t.Fatalf("defaults: %+v", s)
	}
	good := []func(*Config){
		func(c *Config) { c.Endpoint = "s3.eu-central-1.amazonaws.com" },
		func(c *Config) { c.Endpoint = "https://s3.amazonaws.com/" },
		func(c *Config) { c.Endpoint = "http://127.0.0.1:9000"; c.DisableTLS = true },
		func(c *Config) { c.Endpoint = "[::1]:9000" },
		func(c *Config) { c.Endpoint = "[::1]" },
		func(c *Config) { c.Prefix = "" },
		func(c *Config) { c.Prefix = "/a/b.c/d_e-f/" },
		func(c *Config) { c.Region = "eu-central-1" },
		func(c *Config) { c.AccessKeyID, c.SecretAccessKey = "", ""; c.CredentialsFile = "/etc/bunker/s3" },
		func(c *Config) { c.AccessKeyID, c.SecretAccessKey = "", "" },
		func(c *Config) { c.SessionToken = "FwoGZXIvYXdzEJr//////////wEaD=" },
		func(c *Config) { c.Lookup = LookupPath },
		func(c *Config) { c.Lookup = LookupVirtualHost },
		func(c *Config) { c.CAFile = "/etc/bunker/ca.pem" },
		func(c *Config) { c.PartSize = MinPartSize },
		func(c *Config) { c.PartSize = MaxPartSize },
		func(c *Config) { c.UploadParallelism = 64 },
		func(c *Config) { c.MaxRetries = -1 },
		func(c *Config) { c.MaxRetries = 100 },
		func(c *Config) { c.RetryDelay = time.Millisecond },
		func(c *Config) { c.RetryDelay, c.RetryMaxDelay = time.Second, time.Second },
	}
	for i, change := range good {
		c := validConfig()
		change(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("good config %d (%+v): %v", i, c, err)
		}
	}
	bad := []func(*Config){
		func(c *Config) { c.Endpoint = "" },
		func(c *Config) { c.Endpoint = "minio:0" },
		func(c *Config) { c.Endpoint = "minio:65536" },
		func(c *Config) { c.Endpoint = "minio:port" },
		func(c *Config) { c.Endpoint = "minio:" },
		func(c *Config) { c.Endpoint = "http://minio:9000" }, // TLS is on
		func(c *Config) { c.Endpoint = "https://minio:9000"; c.DisableTLS = true },
		func(c *Config) { c.Endpoint = "ftp://minio" },
		func(c *Config) { c.Endpoint = "https://minio/bucket" },
		func(c *Config) { c.Endpoint = "https://user:pw@minio" },
		func(c *Config) { c.Endpoint = "https://minio?x=1" },
		func(c *Config) { c.Endpoint = "mi nio" },
		func(c *Config) { c.Endpoint = "-minio" },
		func(c *Config) { c.Endpoint = "minio..internal" },
		func(c *Config) { c.Endpoint = "::1" },
		func(c *Config) { c.Endpoint = "[1.2.3.4]:80" },
		func(c *Config) { c.Endpoint = "[fe80::1%eth0]:80" },
		func(c *Config) { c.Bucket = "" },
		func(c *Config) { c.Bucket = "Upper" },
		func(c *Config) { c.Bucket = "a" },
		func(c *Config) { c.Bucket = "bucket/prefix" },
		func(c *Config) { c.Prefix = "a//b" },
		func(c *Config) { c.Prefix = "a/../b" },
		func(c *Config) { c.Prefix = "./a" },
		func(c *Config) { c.Prefix = "a b" },
		func(c *Config) { c.Prefix = "a\x00" },
		func(c *Config) { c.Prefix = strings.Repeat("a", 257) },
		func(c *Config) { c.Region = "eu central" },
		func(c *Config) { c.AccessKeyID = "" },
		func(c *Config) { c.SecretAccessKey = "" },
		func(c *Config) { c.SecretAccessKey = "has space" },
		func(c *Config) { c.CredentialsFile = "/etc/bunker/s3" },
		func(c *Config) { c.Lookup = "dns" },
		func(c *Config) { c.CAFile = "/ca.pem"; c.DisableTLS = true },
		func(c *Config) { c.PartSize = MinPartSize - 1 },
		func(c *Config) { c.PartSize = MaxPartSize + 1 },
		func(c *Config) { c.PartSize = -1 },
		func(c *Config) { c.UploadParallelism = -1 },
		func(c *Config) { c.UploadParallelism = 65 },
		func(c *Config) { c.MaxRetries = 101 },
		func(c *Config) { c.RetryDelay = -time.Second },
		func(c *Config) { c.RetryDelay, c.RetryMaxDelay = time.Second, time.Millisecond },
		func(c *Config) { c.RetryDelay = time.Hour },
	}
	for i, change := range bad {
		c := validConfig()
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d (%+v): no error", i, c)
		}
	}
}

func TestParseLocation(t *testing.T) {
	for _, c := range []struct{ in, bucket, prefix string }{
		{"s3://bucket", "bucket", ""},
		{"s3://bucket/", "bucket", ""},
		{"s3://bucket/a/b/", "bucket", "a/b"},
	} {
		bucket, prefix, err := ParseLocation(c.in)
		if err != nil || bucket != c.bucket || prefix != c.prefix {
			t.Errorf("ParseLocation(%q) = %q, %q, %v", c.in, bucket, prefix, err)
		}
	}
	for _, in := range []string{"", "s3://", "bucket/a", "S3://bucket", "s3://Bucket", "s3://bucket/../a", "s3://bucket//a"} {
		if _, _, err := ParseLocation(in); err == nil {
			t.Errorf("ParseLocation(%q): no error", in)
		}
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		return path
	}
	path := write("good", "# bunker's S3 keys\r\n\naccess_key_id = AKIAEXAMPLE\r\n  secret_access_key=wJalr/K7+bPx==  \nsession_token = tok\n", 0o600)
	c, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Credentials{"AKIAEXAMPLE", "wJalr/K7+bPx==", "tok"}) {
		t.Fatalf("LoadCredentials = %#v", c)
	}
	if strings.Contains(c.String(), "wJalr") || strings.Contains(fmt.Sprint(c), "wJalr") {
		t.Fatalf("Credentials print their secret: %v", c)
	}
	if _, err := LoadCredentials(write("loose", "access_key_id = a\nsecret_access_key = b\n", 0o640)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a file group can read: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCredentials(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a FIFO: %v", err)
	}
	if _, err := LoadCredentials(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
	const secret = "Sup3rS3cretValue/xyz"
	for _, content := range []string{
		"access_key_id = a\n",
		"secret_access_key = " + secret + "\n",
		"access_key_id = a\nsecret_access_key = " + secret + "\nregion = x\n",
		"access_key_id = a\naccess_key_id = b\nsecret_access_key = " + secret + "\n",
		"access_key_id = a\nsecret_access_key =\n",
		"access_key_id = a\nsecret_access_key = " + secret + " tail\n",
		"access_key_id = a\n" + secret + "\n",
		secret + "=x\naccess_key_id = a\n",
		"access_key_id = a\nsecret_access_key = \x01" + secret + "\n",
		strings.Repeat("#", maxCredentialsFileSize+1),
	} {
		_, err := parseCredentials([]byte(content))
		if err == nil {
			t.Errorf("parseCredentials(%q): no error", content)
			continue
		}
		if strings.Contains(err.Error(), "S3cret") {
			t.Errorf("parseCredentials error quotes the secret: %v", err)
		}
	}
}

func TestCredentialSources(t *testing.T) {
	env := map[string]string{EnvAccessKeyID: "envkey", EnvSecretAccessKey: "envsecret", EnvSessionToken: "envtoken"}
	getenv := func(k string) string { return env[k] }
	s, err := validConfig().normalize()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.credentials(getenv); err != nil || c.AccessKeyID != "AKIAEXAMPLE" {
		t.Fatalf("config credentials: %v, %v", c, err)
	}
	s.AccessKeyID, s.SecretAccessKey = "", ""
	if c, err := s.credentials(getenv); err != nil || c != (Credentials{"envkey", "envsecret", "envtoken"}) {
		t.Fatalf("environment credentials: %#v, %v", c, err)
	}
	path := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(path, formatCredentials(Credentials{"filekey", "filesecret", ""}), 0o600)
	s.CredentialsFile = path
	if c, err := s.credentials(getenv); err != nil || c != (Credentials{"filekey", "filesecret", ""}) {
		t.Fatalf("file credentials: %#v, %v", c, err)
	}
	s.CredentialsFile = ""
	delete(env, EnvSecretAccessKey)
	if _, err := s.credentials(getenv); err == nil {
		t.Fatal("an access key without a secret in the environment: no error")
	}
	if _, err := s.credentials(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), EnvAccessKeyID) {
		t.Fatalf("no credentials anywhere: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	r := retrier{retries: 10, first: 100 * time.Millisecond, most: time.Second}
	for n := range 12 {
		want := min(r.first<<n, r.most)
		for range 100 {
			if d := r.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want %v to %v", n, d, want/2, want)
			}
		}
	}
}

func TestRetrier(t *testing.T) {
	r := retrier{retries: 3, first: time.Millisecond, most: 2 * time.Millisecond, endpoint: "e:1"}
	calls := 0
	slow := minio.ErrorResponse{Code: "SlowDown", StatusCode: 503, Message: "slow down"}
	err := r.do(t.Context(), func(int) error { calls++; return slow })
	if calls != 4 || errorCode(err) != "SlowDown" || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("%d calls, %v", calls, err)
	}
	calls = 0
	err = r.do(t.Context(), func(int) error {
		calls++
		return minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}
	})
	if calls != 1 || errorCode(err) != "AccessDenied" {
		t.Fatalf("a refusal is not retried: %d calls, %v", calls, err)
	}
	calls = 0
	err = r.do(t.Context(), func(n int) error {
		calls++
		if n < 2 {
			return &url.Error{Op: "Put", URL: "http://e:1/", Err: syscall.ECONNREFUSED}
		}
		return nil
	})
	if calls != 3 || err != nil {
		t.Fatalf("a network error is retried: %d calls, %v", calls, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	long := retrier{retries: 5, first: time.Hour, most: time.Hour}
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err = long.do(ctx, func(int) error { return slow })
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("canceled while waiting: %v after %v", err, time.Since(start))
	}
}

func TestRetryable(t *testing.T) {
	yes := []error{
		minio.ErrorResponse{Code: "SlowDown", StatusCode: 503},
		minio.ErrorResponse{Code: "InternalError", StatusCode: 500},
		minio.ErrorResponse{StatusCode: 502},
		minio.ErrorResponse{Code: "TooManyRequests", StatusCode: 429},
		minio.ErrorResponse{Code: "XMinioServerNotInitialized", StatusCode: 503},
		&url.Error{Op: "Get", URL: "http://x/", Err: syscall.ECONNRESET},
		&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED},
		io.ErrUnexpectedEOF,
		fmt.Errorf("read: %w", syscall.EPIPE),
	}
	no := []error{
		nil,
		context.Canceled,
		&url.Error{Op: "Get", URL: "http://x/", Err: context.DeadlineExceeded},
		minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403},
		minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404},
		minio.ErrorResponse{Code: "PreconditionFailed", StatusCode: 412},
		&url.Error{Op: "Get", URL: "https://x/", Err: errors.New("http: server gave HTTP response to HTTPS client")},
		errors.New("some local failure"),
	}
	for _, err := range yes {
		if !retryable(err) {
			t.Errorf("retryable(%v) = false", err)
		}
	}
	for _, err := range no {
		if retryable(err) {
			t.Errorf("retryable(%v) = true", err)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  minio.ErrorResponse
		want error
	}{
		{minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, storage.ErrNotFound},
		{minio.ErrorResponse{Code: "NoSuchVersion", StatusCode: 404}, storage.ErrNotFound},
		{minio.ErrorResponse{StatusCode: 404}, storage.ErrNotFound},
		{minio.ErrorResponse{Code: "InvalidRequest", StatusCode: 400, Message: "Object is WORM protected and cannot be overwritten"}, storage.ErrRetained},
		{minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403, Message: "Access Denied because object protected by object lock."}, storage.ErrRetained},
		{minio.ErrorResponse{Code: "InvalidRequest", StatusCode: 400, Message: "Bucket is missing ObjectLockConfiguration"}, storage.ErrUnsupported},
	}
	for _, c := range cases {
		if got := classify(c.err); !errors.Is(got, c.want) || errorCode(got) != c.err.Code {
			t.Errorf("classify(%+v) = %v, want it to wrap %v and keep the code", c.err, got, c.want)
		}
	}
	for _, e := range []minio.ErrorResponse{
		{Code: "AccessDenied", StatusCode: 403, Message: "Access Denied."},
		{Code: "NoSuchBucket", StatusCode: 404},
	} {
		got := classify(e)
		if errors.Is(got, storage.ErrRetained) || errors.Is(got, storage.ErrNotFound) {
			t.Errorf("classify(%+v) = %v", e, got)
		}
	}
}

func TestLockOf(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Object-Lock-Mode", "COMPLIANCE")
	h.Set("X-Amz-Object-Lock-Retain-Until-Date", "2030-01-02T03:04:05.000Z")
	h.Set("X-Amz-Object-Lock-Legal-Hold", "ON")
	r := lockOf(minio.ObjectInfo{Metadata: h})
	want := storage.Retention{Mode: storage.RetentionCompliance, Until: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), LegalHold: true}
	if r.Mode != want.Mode || !r.Until.Equal(want.Until) || !r.LegalHold {
		t.Fatalf("lockOf = %+v, want %+v", r, want)
	}
	h.Set("X-Amz-Object-Lock-Retain-Until-Date", "garbage")
	if r := lockOf(minio.ObjectInfo{Metadata: h}); r.Mode != storage.RetentionNone || !r.Until.IsZero() {
		t.Fatalf("lockOf with a bad date = %+v", r)
	}
	if r := lockOf(minio.ObjectInfo{Metadata: http.Header{}}); r != (storage.Retention{}) {
		t.Fatalf("lockOf without headers = %+v", r)
	}
}

func TestRoundUp(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 5, 0, time.UTC)
	if got := roundUp(base); !got.Equal(base) {
		t.Fatalf("roundUp of a whole second = %v", got)
	}
	if got := roundUp(base.Add(time.Nanosecond)); !got.Equal(base.Add(time.Second)) {
		t.Fatalf("roundUp = %v", got)
	}
}

func TestContentRangeTotal(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Range", "bytes 5-10/11")
	if n, ok := contentRangeTotal(h); !ok || n != 11 {
		t.Fatalf("contentRangeTotal = %d, %v", n, ok)
	}
	h.Set("Content-Range", "bytes 5-10/*")
	if _, ok := contentRangeTotal(h); ok {
		t.Fatal("an unknown total parsed")
	}
}

func TestObjectKeys(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	for _, c := range []struct {
		prefix string
		h      storage.Handle
		want   string
	}{
		{"", storage.Handle{Kind: storage.KindConfig, Name: "config"}, "config/config"},
		{"p/q", storage.Handle{Kind: storage.KindConfig, Name: "config"}, "p/q/config/config"},
		{"p", storage.Handle{Kind: storage.KindPack, Name: hex}, "p/packs/" + hex},
		{"p", storage.Handle{Kind: storage.KindKey, Name: hex}, "p/keys/" + hex},
		{"p", storage.Handle{Kind: storage.KindIndex, Name: hex}, "p/index/" + hex},
		{"p", storage.Handle{Kind: storage.KindPoint, Name: hex}, "p/points/" + hex},
	} {
		b := &Backend{prefix: c.prefix}
		got, err := b.objectKey(c.h)
		if err != nil || got != c.want {
			t.Errorf("objectKey(%q, %s) = %q, %v; want %q", c.prefix, c.h, got, err, c.want)
		}
		if h, ok := b.handleOf(c.h.Kind, got); !ok || h != c.h {
			t.Errorf("handleOf(%q) = %v, %v", got, h, ok)
		}
	}
	b := &Backend{prefix: "p"}
	for _, key := range []string{"p/packs/" + hex + "/x", "p/packs/" + hex[:63], "p/packs/", "q/packs/" + hex, "p/packs/" + strings.ToUpper(hex)} {
		if _, ok := b.handleOf(storage.KindPack, key); ok {
			t.Errorf("handleOf(%q) accepted it", key)
		}
	}
}
