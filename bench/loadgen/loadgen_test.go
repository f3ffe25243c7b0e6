package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/tlsutil"
)

// tlsServer serves h over HTTPS (HTTP/2) and returns its URL and
// certificate fingerprint.
func tlsServer(t *testing.T, h http.HandlerFunc) (string, string) {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL, tlsutil.Fingerprint(ts.Certificate().Raw)
}

func load(t *testing.T, h http.HandlerFunc) Load {
	t.Helper()
	u, fp := tlsServer(t, h)
	hc, err := newHTTPClient(u, fp)
	if err != nil {
		t.Fatal(err)
	}
	return Load{Client: hc, URL: u + "/x", Token: "tok", Rate: 100, Warmup: 50 * time.Millisecond, Duration: 500 * time.Millisecond, MaxInFlight: 100}
}

func TestPercentileNearestRank(t *testing.T) {
	var r Result
	if r.Percentile(99) != 0 || r.Rate() != 0 {
		t.Error("empty result has a percentile or a rate")
	}
	for i := 100; i >= 1; i-- {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{0: 1, 1: 1, 50: 50, 90: 90, 99: 99, 99.5: 100, 100: 100} {
		if got := r.Percentile(p); got != want*time.Millisecond {
			t.Errorf("p%v = %v, want %v", p, got, want*time.Millisecond)
		}
	}
	if r.Latencies[0] != 100*time.Millisecond {
		t.Error("Percentile sorted the caller's latencies")
	}
}

// A slow server meets the full offered rate: requests are not held back
// until earlier ones are answered, and the wait shows in the latencies.
func TestOpenLoopKeepsTheRateAgainstASlowServer(t *testing.T) {
	var auth atomic.Value
	l := load(t, func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		time.Sleep(60 * time.Millisecond)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	res, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || res.Errors != 0 || len(res.Latencies) != 50 {
		t.Fatalf("%d requests, %d errors, %d answered; want 50, 0, 50 (first error %q)", res.Requests, res.Errors, len(res.Latencies), res.FirstErr)
	}
	if p := res.Percentile(0); p < 60*time.Millisecond {
		t.Errorf("fastest answer %v, faster than the server's 60 ms", p)
	}
	// Closed loop on one request at a time would reach 1/60ms ≈ 17/s.
	if rate := res.Rate(); rate < 70 || rate > 110 {
		t.Errorf("achieved %.1f/s against a 60 ms server at 100/s offered", rate)
	}
	if got := auth.Load(); got != "Bearer tok" {
		t.Errorf("Authorization %q", got)
	}
}

func TestErrorsAreCounted(t *testing.T) {
	var n atomic.Int64
	l := load(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusForbidden)
		}
	})
	l.Warmup = 0
	res, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || res.Errors != 25 || len(res.Latencies) != 25 || !strings.Contains(res.FirstErr, "HTTP 403") {
		t.Errorf("%d requests, %d errors, %d answered, first error %q", res.Requests, res.Errors, len(res.Latencies), res.FirstErr)
	}
}

func TestRequestsBeyondTheInFlightBoundAreNotSent(t *testing.T) {
	release := make(chan struct{})
	var served atomic.Int64
	l := load(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		<-release
	})
	l.Warmup, l.Rate, l.Duration, l.MaxInFlight = 0, 200, 100*time.Millisecond, 2
	time.AfterFunc(300*time.Millisecond, func() { close(release) })
	res, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 || res.Errors != 18 || len(res.Latencies) != 2 || served.Load() != 2 || !strings.Contains(res.FirstErr, "not sent") {
		t.Errorf("%d requests, %d errors, %d answered, %d served, first error %q", res.Requests, res.Errors, len(res.Latencies), served.Load(), res.FirstErr)
	}
}

func TestRunRejectsBadLoads(t *testing.T) {
	for _, l := range []Load{{Rate: 0, Duration: time.Second, MaxInFlight: 1}, {Rate: 1, MaxInFlight: 1}, {Rate: 1, Duration: time.Second}} {
		if _, err := l.Run(context.Background()); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

func TestCommandPinsTheCertificateAndCountsPoints(t *testing.T) {
	u, fp := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/vaults/v/points" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"points":[{"id":"a"},{"id":"b"},{"id":"c"}]}`))
	})
	t.Setenv("BUNKER_TOKEN", "t")
	var out, errOut bytes.Buffer
	args := []string{"-url", u, "-fingerprint", fp, "-path", "/v1/vaults/v/points", "-rate", "100", "-duration", "200ms", "-warmup", "0"}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"requests=20\n", "errors=0\n", "points=3\n", "p99_ms=", "rate_per_s=", "max_ms=", "proto=HTTP/2.0\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Another certificate's fingerprint is refused before any load is sent.
	other := "sha256:" + strings.Repeat("ab", 32)
	bad := append([]string{}, args...)
	bad[3] = other
	if err := run(context.Background(), bad, &out, &errOut); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("wrong fingerprint: %v", err)
	}
	missing := append([]string{}, args...)
	missing[5] = "/v1/nothing"
	if err := run(context.Background(), missing, &out, &errOut); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing endpoint: %v", err)
	}
	if err := run(context.Background(), []string{"-url", u}, &out, &errOut); err == nil {
		t.Error("missing flags accepted")
	}
}
