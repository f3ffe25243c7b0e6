// Command loadgen measures the latency of a bunker server's read API under
// a constant, open-loop request rate, for the benchmark harness in
// bench/run.sh.
//
// Usage:
//
//	loadgen -url https://127.0.0.1:8443 -fingerprint sha256:… -path /v1/vaults/bench/points \
//	        -rate 200 -duration 15s [-warmup 1s] [-token-file FILE]
//
// It pins the server's certificate to the fingerprint, reads the token from
// -token-file or $BUNKER_TOKEN, sends one request to check the endpoint (and
// count the points, when the answer lists them), then sends GETs at the
// rate for the warm-up and the measured duration. It prints key=value
// lines: requests, errors, rate_per_s (answered per second), p50_ms,
// p90_ms, p99_ms, max_ms, answer_bytes, proto (the HTTP version the
// server spoke) and, for a list of points, points.
// It fails when the check request fails; errors during the load are
// counted, not fatal.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/tlsutil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "", "server base `URL`, https://host:port")
	fingerprint := fs.String("fingerprint", "", "the server certificate's `fingerprint` (sha256:…)")
	path := fs.String("path", "", "`path` to GET, e.g. /v1/vaults/NAME/points")
	tokenFile := fs.String("token-file", "", "`file` holding the API token (default $BUNKER_TOKEN)")
	rate := fs.Float64("rate", 200, "requests per second")
	duration := fs.Duration("duration", 15*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", time.Second, "load sent before measuring, not counted")
	inFlight := fs.Int("max-in-flight", 1000, "most requests awaiting an answer; more count as errors")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *fingerprint == "" || !strings.HasPrefix(*path, "/") || fs.NArg() != 0 {
		return errors.New("usage: loadgen -url URL -fingerprint FP -path /v1/... [-rate N] [-duration D] [-warmup D] [-token-file FILE]")
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	hc, err := newHTTPClient(*base, *fingerprint)
	if err != nil {
		return err
	}
	l := Load{
		Client: hc, URL: strings.TrimRight(*base, "/") + *path, Token: token,
		Rate: *rate, Warmup: *warmup, Duration: *duration, MaxInFlight: *inFlight,
	}
	var first bytes.Buffer
	proto, err := l.fetch(ctx, &first)
	if err != nil {
		return fmt.Errorf("check request: %w", err)
	}
	res, err := l.Run(ctx)
	if err != nil {
		return err
	}
	if res.FirstErr != "" {
		fmt.Fprintf(stderr, "loadgen: %d of %d requests failed; the first: %s\n", res.Errors, res.Requests, res.FirstErr)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(stdout, "requests=%d\nerrors=%d\nrate_per_s=%.1f\np50_ms=%s\np90_ms=%s\np99_ms=%s\nmax_ms=%s\nanswer_bytes=%d\nproto=%s\n",
		res.Requests, res.Errors, res.Rate(), ms(res.Percentile(50)), ms(res.Percentile(90)), ms(res.Percentile(99)),
		ms(res.Percentile(100)), first.Len(), proto)
	var list struct {
		Points []json.RawMessage `json:"points"`
	}
	if json.Unmarshal(first.Bytes(), &list) == nil && list.Points != nil {
		fmt.Fprintf(stdout, "points=%d\n", len(list.Points))
	}
	return nil
}

// readToken reads the API token from file, or from $BUNKER_TOKEN.
func readToken(file string) (string, error) {
	if file == "" {
		return os.Getenv("BUNKER_TOKEN"), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// newHTTPClient returns a client that trusts exactly the certificate with
// the fingerprint and, like bunker's own client, speaks HTTP/2 where the
// server offers it and HTTP/1.1 over keep-alive connections otherwise.
func newHTTPClient(base, fingerprint string) (*http.Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want https://host:port", base)
	}
	tc, err := tlsutil.ClientConfig(fingerprint, u.Hostname())
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.ForceAttemptHTTP2 = true
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
