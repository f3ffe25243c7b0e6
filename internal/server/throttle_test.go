package server

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	th := newThrottle(func() time.Time { return now })
	for i := range freeFailures - 1 {
		th.fail("name:ann", "addr:1.2.3.4")
		if w := th.wait("name:ann"); w != 0 {
			t.Fatalf("blocked after %d failures", i+1)
		}
	}
	th.fail("name:ann", "addr:1.2.3.4")
	if w := th.wait("name:ann"); w != firstBlock {
		t.Fatalf("after %d failures: wait %v, want %v", freeFailures, w, firstBlock)
	}
	if w := th.wait("name:bob", "addr:1.2.3.4"); w != firstBlock {
		t.Fatalf("the address is not blocked: %v", w)
	}
	if w := th.wait("name:bob", "addr:5.6.7.8"); w != 0 {
		t.Fatalf("an unrelated name and address are blocked: %v", w)
	}
	now = now.Add(firstBlock)
	th.fail("name:ann")
	if w := th.wait("name:ann"); w != 2*firstBlock {
		t.Fatalf("the block did not double: %v", w)
	}
	for range 20 {
		th.fail("name:ann")
	}
	if w := th.wait("name:ann"); w != maxBlock {
		t.Fatalf("the block exceeds its cap: %v", w)
	}
	th.succeed("name:ann")
	if w := th.wait("name:ann"); w != 0 {
		t.Fatalf("still blocked after a success: %v", w)
	}
	// Old failures are forgotten.
	th.fail("name:cy")
	now = now.Add(failureWindow + time.Second)
	for range freeFailures - 1 {
		th.fail("name:cy")
	}
	if w := th.wait("name:cy"); w != 0 {
		t.Fatalf("failures outside the window counted: %v", w)
	}
}
