package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A server that answers a point listing without end (a workload site
// taken over, answering the central server that pulls from it) makes the
// client stop at its bound with ErrAnswerTooLarge, having read little
// more than the bound; an answer within the bound decodes.
func TestAnswersAreBounded(t *testing.T) {
	const limit = 1 << 20
	point := `{"id":"` + strings.Repeat("a", 64) + `","hostname":"h","paths":["/srv"]},`
	var sent atomic.Int64
	var points atomic.Int64 // points in the next answer; 0: without end
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		write := func(s string) error {
			n, err := fmt.Fprint(w, s)
			sent.Add(int64(n))
			return err
		}
		write(`{"points":[`)
		if n := points.Load(); n > 0 {
			write(strings.TrimSuffix(strings.Repeat(point, int(n)), ",") + `]}`)
			return
		}
		for sent.Load() < 64*limit {
			if write(point) != nil {
				return // the client hung up
			}
		}
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, HTTPClient: srv.Client(), Token: "t", MaxAnswer: limit})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Points(context.Background(), "prod", PointFilter{})
	if !errors.Is(err, ErrAnswerTooLarge) || !strings.Contains(err.Error(), "longer than 1 MiB") {
		t.Fatalf("an endless answer: %v", err)
	}
	// The client stopped reading: the server could not write much past
	// the bound before the connection closed.
	if got := sent.Load(); got > 16*limit {
		t.Fatalf("the server wrote %d bytes before the client gave up, the bound is %d", got, limit)
	}

	points.Store(limit / int64(len(point)) / 2) // about half the bound
	ps, err := c.Points(context.Background(), "prod", PointFilter{})
	if err != nil || int64(len(ps)) != points.Load() || ps[0].Hostname != "h" {
		t.Fatalf("an answer within the bound: %d points, %v", len(ps), err)
	}

	// The default bound applies when none is given.
	d, err := New(Options{URL: srv.URL, HTTPClient: srv.Client()})
	if err != nil || d.maxAnswer != DefaultMaxAnswer {
		t.Fatalf("default bound %d, %v", d.maxAnswer, err)
	}
}

// The capped reader gives exactly its bound and reports more only when
// there is more.
func TestCappedReader(t *testing.T) {
	for _, c := range []struct {
		data  string
		limit int64
		ok    bool
	}{{"", 0, true}, {"abc", 3, true}, {"abc", 2, false}, {"abc", 100, true}, {"a", 0, false}} {
		r := &cappedReader{r: strings.NewReader(c.data), left: c.limit}
		var got []byte
		buf := make([]byte, 2)
		var err error
		for {
			var n int
			n, err = r.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if c.ok && (err.Error() != "EOF" || string(got) != c.data) {
			t.Errorf("%q within %d: read %q, %v", c.data, c.limit, got, err)
		}
		if !c.ok && !errors.Is(err, ErrAnswerTooLarge) {
			t.Errorf("%q over %d: read %q, %v, want ErrAnswerTooLarge", c.data, c.limit, got, err)
		}
	}
}
