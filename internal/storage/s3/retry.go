package s3

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// retrier sends requests again after retryable failures.
type retrier struct {
	retries  int           // how many times a request is sent again
	first    time.Duration // the first backoff
	most     time.Duration // the longest backoff
	endpoint string        // for messages
}

// backoff returns the wait before retry n (0 for the first): exponential,
// capped, less a random part of up to half (jitter, so that clients that
// failed together do not come back together).
func (r retrier) backoff(n int) time.Duration {
	d := r.first
	for range n {
		d *= 2
		if d >= r.most {
			d = r.most
			break
		}
	}
	return d - rand.N(d/2+1)
}

// do calls fn until it succeeds, fails with an error that is not
// retryable, or has been retried r.retries times, waiting between attempts.
// fn receives the attempt number (0 for the first). When the retries run
// out, the error says how many attempts were made and wraps the last one.
func (r retrier) do(ctx context.Context, fn func(attempt int) error) error {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(attempt)
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		}
		if attempt >= r.retries {
			if r.retries == 0 {
				return fmt.Errorf("%s: %w", r.endpoint, err)
			}
			return fmt.Errorf("%s: gave up after %d attempts in %v: %w", r.endpoint, attempt+1, time.Since(start).Round(time.Millisecond), err)
		}
		t := time.NewTimer(r.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while waiting to retry: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
