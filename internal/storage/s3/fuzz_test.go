package s3

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// FuzzLoadCredentials writes arbitrary bytes as a credentials file (mode
// 0600) and loads it. What loads must hold valid credentials that format
// and load back to the same; what does not must fail without quoting any
// value of the file; nothing may panic.
func FuzzLoadCredentials(f *testing.F) {
	seeds := [][]byte{
		formatCredentials(Credentials{"AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""}),
		formatCredentials(Credentials{"ASIAEXAMPLE", "secret", "FwoGZXIvYXdzEJr//////////wEaDA=="}),
		[]byte("# comment\r\n\r\naccess_key_id=a\r\nsecret_access_key=b\r\n"),
		[]byte("access_key_id = a\naccess_key_id = b\nsecret_access_key = c\n"),
		[]byte("access_key_id = a\nsecret_access_key = b c\n"),
		[]byte("access_key_id = a\nsecret_access_key =\n"),
		[]byte("aws_access_key_id = a\naws_secret_access_key = b\n"),
		[]byte("[default]\naccess_key_id = a\nsecret_access_key = b\n"),
		[]byte("wJalrXUtnFEMI/K7MDENG==\n"),
		[]byte("access_key_id = \xff\nsecret_access_key = b\n"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzLoadCredentials", seeds...)
	}
	path := filepath.Join(f.TempDir(), "credentials")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadCredentials(path)
		if err != nil {
			msg := strings.ReplaceAll(err.Error(), path, "")
			for _, line := range strings.Split(string(data), "\n") {
				_, v, ok := strings.Cut(line, "=")
				v = strings.TrimSpace(strings.TrimSuffix(v, "\r"))
				// Only values that the messages' own words cannot spell.
				if ok && len(v) >= 8 && strings.Trim(v, messageAlphabet) != "" && strings.Contains(msg, v) {
					t.Fatalf("error %q quotes a value of the file", err)
				}
			}
			return
		}
		if err := c.check(); err != nil {
			t.Fatalf("loaded credentials that do not check: %v", err)
		}
		back, err := parseCredentials(formatCredentials(c))
		if err != nil || back != c {
			t.Fatalf("formatted credentials load as %#v, %v; want %#v", back, err, c)
		}
	})
}

// messageAlphabet holds every character of parseCredentials' messages.
const messageAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789 _,:;=.ASCI"

// FuzzConfig validates configs built from arbitrary endpoints, buckets,
// prefixes and regions. A config that validates has an endpoint host that
// validates again unchanged, a clean prefix (no empty, . or .. segment, no
// slash at either end), a valid bucket, and a location that ParseLocation
// reads back; object keys built from it stay under the prefix.
func FuzzConfig(f *testing.F) {
	type seed struct {
		endpoint, bucket, prefix, region string
		disableTLS                       bool
	}
	seeds := []seed{
		{"minio.internal:9000", "bunker", "prod/db", "", false},
		{"http://127.0.0.1:9000", "vaults", "", "us-east-1", true},
		{"https://s3.eu-central-1.amazonaws.com/", "my.bucket", "/a/b/", "eu-central-1", false},
		{"[::1]:9000", "b-1", "x", "", false},
		{"[::1]", "abc", "..", "", false},
		{"host:0", "abc", "a//b", "", false},
		{"https://user@host", "ABC", "a/./b", "", false},
		{"host:65536", "a", "a b", "r 1", false},
		{"http://host", "abc", "ok", "", false},
		{"[1.2.3.4]:80", "abc", "ok", "", false},
		{"-bad-.host", "abc", strings.Repeat("p/", 130), "", false},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, s.bucket, s.prefix, s.region, s.disableTLS)
	}
	if fuzzseed.Enabled() {
		for i, s := range seeds {
			fuzzseed.WriteEntry(f, "FuzzConfig", fmt.Sprintf("seed-%02d", i),
				"string("+strconv.Quote(s.endpoint)+")", "string("+strconv.Quote(s.bucket)+")",
				"string("+strconv.Quote(s.prefix)+")", "string("+strconv.Quote(s.region)+")",
				"bool("+strconv.FormatBool(s.disableTLS)+")")
		}
	}
	f.Fuzz(func(t *testing.T, endpoint, bucket, prefix, region string, disableTLS bool) {
		c := Config{
			Endpoint: endpoint, Bucket: bucket, Prefix: prefix, Region: region, DisableTLS: disableTLS,
			AccessKeyID: "a", SecretAccessKey: "b",
		}
		s, err := c.normalize()
		if err != nil {
			if c.Validate() == nil {
				t.Fatal("Validate accepts what normalize refuses")
			}
			return
		}
		host, secure, err := parseEndpoint(s.host, disableTLS)
		if err != nil || host != s.host || secure != s.secure || secure == disableTLS {
			t.Fatalf("endpoint %q gave host %q (secure %v), which parses as %q, %v, %v", endpoint, s.host, s.secure, host, secure, err)
		}
		if strings.ContainsAny(s.host, "/?#@ ") {
			t.Fatalf("host %q", s.host)
		}
		if err := s3utils.CheckValidBucketNameStrict(s.Bucket); err != nil {
			t.Fatalf("bucket %q: %v", s.Bucket, err)
		}
		if again, err := cleanPrefix(s.Prefix); err != nil || again != s.Prefix {
			t.Fatalf("prefix %q cleans again to %q, %v", s.Prefix, again, err)
		}
		if s.Prefix != "" {
			for _, seg := range strings.Split(s.Prefix, "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("prefix %q has segment %q", s.Prefix, seg)
				}
			}
		}
		b, p, err := ParseLocation(location(s.Bucket, s.Prefix))
		if err != nil || b != s.Bucket || p != s.Prefix {
			t.Fatalf("location %q parses as %q, %q, %v", location(s.Bucket, s.Prefix), b, p, err)
		}
		be := &Backend{prefix: s.Prefix}
		key, err := be.objectKey(storage.Handle{Kind: storage.KindPack, Name: strings.Repeat("ab", 32)})
		if err != nil || (s.Prefix != "" && !strings.HasPrefix(key, s.Prefix+"/packs/")) || strings.Contains(key, "//") {
			t.Fatalf("key %q under prefix %q: %v", key, s.Prefix, err)
		}
	})
}

// FuzzParseLocation: whatever parses formats back to a location that
// parses to the same bucket and prefix.
func FuzzParseLocation(f *testing.F) {
	seeds := [][]byte{
		[]byte("s3://bucket"),
		[]byte("s3://bucket/"),
		[]byte("s3://bucket/a/b/"),
		[]byte("s3://bucket//a"),
		[]byte("s3://Bucket/a"),
		[]byte("s3://bucket/a/../b"),
		[]byte("S3://bucket"),
		[]byte("s3://"),
		[]byte("s3://my.bucket.name/x_y-z.1"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzParseLocation", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bucket, prefix, err := ParseLocation(string(data))
		if err != nil {
			return
		}
		b, p, err := ParseLocation(location(bucket, prefix))
		if err != nil || b != bucket || p != prefix {
			t.Fatalf("%q parsed as %q, %q, which formats to %q: %q, %q, %v", data, bucket, prefix, location(bucket, prefix), b, p, err)
		}
	})
}
