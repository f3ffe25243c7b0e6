package s3

import (
	"net/http"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

func TestOperation(t *testing.T) {
	for _, c := range []struct{ method, url, want string }{
		{"GET", "http://127.0.0.1:9000/b/v/packs/ab", "GetObject"},
		{"GET", "http://b.s3.example.com/v/packs/ab", "GetObject"},
		{"GET", "http://127.0.0.1:9000/b/?list-type=2&prefix=v", "ListObjects"},
		{"GET", "http://b.s3.example.com/?list-type=2", "ListObjects"},
		{"GET", "http://127.0.0.1:9000/b/?versions=&prefix=v", "ListObjectVersions"},
		{"GET", "http://127.0.0.1:9000/b/?object-lock=", "GetObjectLockConfiguration"},
		{"GET", "http://127.0.0.1:9000/b/?location=", "GetBucketLocation"},
		{"GET", "http://127.0.0.1:9000/b/k?retention=&versionId=1", "GetObjectRetention"},
		{"HEAD", "http://127.0.0.1:9000/b/", "HeadBucket"},
		{"HEAD", "http://b.s3.example.com/", "HeadBucket"},
		{"HEAD", "http://127.0.0.1:9000/b/v/keys/aa", "HeadObject"},
		{"PUT", "http://127.0.0.1:9000/b/v/packs/ab", "PutObject"},
		{"PUT", "http://127.0.0.1:9000/b/v/packs/ab?partNumber=2&uploadId=x", "UploadPart"},
		{"PUT", "http://127.0.0.1:9000/b/v/packs/ab?retention=", "PutObjectRetention"},
		{"PUT", "http://127.0.0.1:9000/b/v/packs/ab?legal-hold=", "PutObjectLegalHold"},
		{"POST", "http://127.0.0.1:9000/b/v/packs/ab?uploads=", "CreateMultipartUpload"},
		{"POST", "http://127.0.0.1:9000/b/v/packs/ab?uploadId=x", "CompleteMultipartUpload"},
		{"DELETE", "http://127.0.0.1:9000/b/v/packs/ab?uploadId=x", "AbortMultipartUpload"},
		{"DELETE", "http://127.0.0.1:9000/b/v/packs/ab?versionId=3", "DeleteObject"},
		{"PATCH", "http://127.0.0.1:9000/b/v", "Other"},
	} {
		req, err := http.NewRequest(c.method, c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := operation(req, "b"); got != c.want {
			t.Errorf("%s %s: got %s, want %s", c.method, c.url, got, c.want)
		}
	}
}

// TestRequestCounts checks the counts against requests whose number is
// known: one PUT for a small object, create + parts + complete for a large
// one, one PutObjectRetention for an extension.
func TestRequestCounts(t *testing.T) {
	srv := newServer(t)
	b := open(t, testConfig(t, srv, lockedBucket))
	ctx := t.Context()
	before := b.Requests()
	small, big := newPack(t, 1000), newPack(t, bigSize)
	until := time.Now().Add(time.Hour)
	opts := storage.PutOptions{Mode: storage.RetentionGovernance, RetainUntil: until}
	putPack(t, b, small, opts)
	putPack(t, b, big, opts)
	if err := b.Extend(ctx, small.h, until.Add(time.Hour), storage.RetentionGovernance); err != nil {
		t.Fatal(err)
	}
	got := b.Requests()
	for op, want := range map[string]uint64{
		"PutObject":               1,
		"CreateMultipartUpload":   1,
		"UploadPart":              3,
		"CompleteMultipartUpload": 1,
		"PutObjectRetention":      1,
	} {
		if n := got[op] - before[op]; n != want {
			t.Errorf("%s: %d requests, want %d (all: %v)", op, n, want, got)
		}
	}
}
