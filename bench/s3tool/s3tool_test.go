package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/bunkerhq/bunker/internal/storage/s3/miniotest"
)

const sampleMetrics = `# HELP bunker_retention_extensions_total Storage objects whose retention was extended.
# TYPE bunker_retention_extensions_total counter
bunker_retention_extensions_total 7
# HELP bunker_storage_requests_total Requests sent to vault storage.
# TYPE bunker_storage_requests_total counter
bunker_storage_requests_total{op="PutObject",vault="bench"} 120
bunker_storage_requests_total{op="PutObjectRetention",vault="bench"} 3
bunker_storage_requests_total{op="PutObject",vault="other"} 5
bunker_storage_requests_total{vault="bench",op="UploadPart"} 1.2e+01
bunker_http_requests_total{code="200",route="GET /metrics"} 4
`

func TestParseMetrics(t *testing.T) {
	ops, ext, err := ParseMetrics(strings.NewReader(sampleMetrics), "bench")
	if err != nil {
		t.Fatal(err)
	}
	if ext != 7 || len(ops) != 3 || ops["PutObject"] != 120 || ops["PutObjectRetention"] != 3 || ops["UploadPart"] != 12 {
		t.Errorf("got %v, %d", ops, ext)
	}
	// A vault that has sent nothing has no series.
	ops, _, err = ParseMetrics(strings.NewReader(sampleMetrics), "none")
	if err != nil || len(ops) != 0 {
		t.Errorf("unknown vault: %v, %v", ops, err)
	}
	if _, _, err := ParseMetrics(strings.NewReader("go_goroutines 8\n"), "bench"); err == nil {
		t.Error("metrics of something that is not a bunker server accepted")
	}
	if _, _, err := ParseMetrics(strings.NewReader("bunker_retention_extensions_total -1\n"), "bench"); err == nil {
		t.Error("negative counter accepted")
	}
}

func TestExited(t *testing.T) {
	if exited(os.Getpid()) {
		t.Error("this process counts as exited")
	}
	if !exited(1 << 30) {
		t.Error("a process id that cannot exist counts as running")
	}
}

func TestUsage(t *testing.T) {
	var out, errs bytes.Buffer
	for _, args := range [][]string{nil, {"nope"}, {"bucket"}, {"du", "-endpoint", "x"}, {"metrics", "-url", "https://x"}, {"port", "extra"}} {
		if err := run(context.Background(), args, &out, &errs); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"port"}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if p, err := strconv.Atoi(strings.TrimSpace(out.String())); err != nil || p <= 0 || p > 65535 {
		t.Errorf("port printed %q", out.String())
	}
}

// TestBucketAndDu runs against a real MinIO (skipped without one).
func TestBucketAndDu(t *testing.T) {
	s := miniotest.New(t)
	t.Setenv("S3_ACCESS_KEY", miniotest.RootUser)
	t.Setenv("S3_SECRET_KEY", miniotest.RootPassword)
	ctx := context.Background()
	var out, errs bytes.Buffer
	if err := run(ctx, []string{"bucket", "-endpoint", s.Endpoint, "-bucket", "bkt"}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	c := s.Client(t)
	// Object Lock on, with no default retention.
	if lock, mode, _, _, err := c.GetObjectLockConfig(ctx, "bkt"); err != nil || lock != "Enabled" || mode != nil {
		t.Fatalf("object lock configuration: %q, mode %v, %v", lock, mode, err)
	}
	for i, key := range []string{"v/x/packs/1", "v/x/packs/1", "v/x/index/2", "v/y/packs/3"} {
		body := strings.Repeat("a", 100*(i+1))
		if _, err := c.PutObject(ctx, "bkt", key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Both versions of packs/1 count; v/y does not.
	if err := run(ctx, []string{"du", "-endpoint", s.Endpoint, "-bucket", "bkt", "-prefix", "v/x"}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "600" {
		t.Errorf("du printed %q, want 600", got)
	}
}
