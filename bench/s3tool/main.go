// Command s3tool is the S3 side of the benchmark harness in bench/run.sh:
// it prepares the MinIO bucket that the bunker-s3 tool's vault lives in,
// measures what the vault holds there, and reads the bunker server's
// storage request counters.
//
// Usage:
//
//	s3tool port
//	s3tool bucket  -endpoint HOST:PORT -bucket NAME [-pid PID] [-timeout 60s]
//	s3tool du      -endpoint HOST:PORT -bucket NAME [-prefix P]
//	s3tool metrics -url https://HOST:PORT -fingerprint sha256:… -vault NAME
//
// port prints a TCP port on 127.0.0.1 that nothing listens on. bucket
// waits until MinIO answers its liveness probe (giving up early if the
// process PID exits) and creates the bucket with Object Lock (and so
// versioning). du prints the bytes of
// every object version under the prefix (what the provider bills as
// stored). metrics fetches the server's /metrics, pinning its certificate,
// and prints the requests its storage sent for the vault, one op=count
// line per S3 operation, then retention_extensions=N
// (bunker_retention_extensions_total).
//
// The S3 credentials come from $S3_ACCESS_KEY and $S3_SECRET_KEY.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/bunkerhq/bunker/internal/tlsutil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3tool: %v\n", err)
		os.Exit(1)
	}
}

const usage = "usage: s3tool bucket|du|metrics FLAGS (see the package documentation)"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("s3tool "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "MinIO's `host:port` (plain HTTP)")
	bucket := fs.String("bucket", "", "bucket `name`")
	prefix := fs.String("prefix", "", "with du: the vault's `prefix` in the bucket")
	timeout := fs.Duration("timeout", 60*time.Second, "with bucket: how long to wait for MinIO")
	pid := fs.Int("pid", 0, "with bucket: MinIO's process id, to stop waiting when it exits")
	base := fs.String("url", "", "with metrics: the bunker server's `URL`")
	fingerprint := fs.String("fingerprint", "", "with metrics: the server certificate's `fingerprint`")
	vault := fs.String("vault", "", "with metrics: the vault's `name`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "port":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
		return nil
	case "bucket", "du":
		if *endpoint == "" || *bucket == "" {
			return fmt.Errorf("%s needs -endpoint and -bucket", args[0])
		}
		c, err := newClient(*endpoint)
		if err != nil {
			return err
		}
		if args[0] == "bucket" {
			return makeBucket(ctx, c, *endpoint, *bucket, *pid, *timeout)
		}
		n, err := du(ctx, c, *bucket, *prefix)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, n)
		return nil
	case "metrics":
		if *base == "" || *fingerprint == "" || *vault == "" {
			return errors.New("metrics needs -url, -fingerprint and -vault")
		}
		text, err := fetchMetrics(ctx, *base, *fingerprint)
		if err != nil {
			return err
		}
		ops, ext, err := ParseMetrics(strings.NewReader(text), *vault)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(ops))
		for op := range ops {
			names = append(names, op)
		}
		slices.Sort(names)
		for _, op := range names {
			fmt.Fprintf(stdout, "%s=%d\n", op, ops[op])
		}
		fmt.Fprintf(stdout, "retention_extensions=%d\n", ext)
		return nil
	}
	return errors.New(usage)
}

func newClient(endpoint string) (*minio.Client, error) {
	key, secret := os.Getenv("S3_ACCESS_KEY"), os.Getenv("S3_SECRET_KEY")
	if key == "" || secret == "" {
		return nil, errors.New("set S3_ACCESS_KEY and S3_SECRET_KEY")
	}
	return minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(key, secret, ""), Region: "us-east-1"})
}

// makeBucket waits for MinIO to come up and creates the bucket with
// Object Lock.
func makeBucket(ctx context.Context, c *minio.Client, endpoint, bucket string, pid int, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get("http://" + endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO did not answer on %s within %v", endpoint, timeout)
		}
		if pid > 0 && exited(pid) {
			return fmt.Errorf("MinIO (process %d) exited before it answered on %s", pid, endpoint)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1", ObjectLocking: true}); err != nil {
		return fmt.Errorf("make bucket %s with Object Lock: %w", bucket, err)
	}
	return nil
}

// exited reports whether the process pid is gone or a zombie (its parent,
// the harness's shell, reaps it only after this command returns).
func exited(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || strings.HasPrefix(string(stat[i+1:]), " Z")
}

// du sums the sizes of every object version under prefix.
func du(ctx context.Context, c *minio.Client, bucket, prefix string) (int64, error) {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var n int64
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return 0, fmt.Errorf("list %s/%s: %w", bucket, prefix, o.Err)
		}
		if !o.IsDeleteMarker {
			n += o.Size
		}
	}
	return n, nil
}

func fetchMetrics(ctx context.Context, base, fingerprint string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("server URL %q: want https://host:port", base)
	}
	tc, err := tlsutil.ClientConfig(fingerprint, u.Hostname())
	if err != nil {
		return "", err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(body), nil
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)`)
	labelRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// ParseMetrics reads Prometheus text exposition and returns the vault's
// bunker_storage_requests_total by operation and the server's
// bunker_retention_extensions_total. A server whose vault has sent no
// request yet has no series for it: the map is then empty.
func ParseMetrics(r io.Reader, vault string) (map[string]int64, int64, error) {
	ops := map[string]int64{}
	ext := int64(-1)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, labels, value := m[1], m[2], m[3]
		if name != "bunker_storage_requests_total" && name != "bunker_retention_extensions_total" {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 {
			return nil, 0, fmt.Errorf("metrics: %s has value %q", name, value)
		}
		if name == "bunker_retention_extensions_total" {
			ext = int64(v)
			continue
		}
		l := map[string]string{}
		for _, kv := range labelRE.FindAllStringSubmatch(labels, -1) {
			l[kv[1]] = kv[2]
		}
		if l["vault"] == vault && l["op"] != "" {
			ops[l["op"]] += int64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("metrics: %w", err)
	}
	if ext < 0 {
		return nil, 0, errors.New("metrics: no bunker_retention_extensions_total: is this a bunker server?")
	}
	return ops, ext, nil
}
