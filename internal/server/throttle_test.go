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

// The flood gate counts a commit against every limit or against none,
// refuses over a limit until the key's window ends, alerts once per
// window, and ignores limits below 1.
func TestFloodGate(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	g := newFloodGate(func() time.Time { return now }, time.Hour)
	vault := floodLimit{key: "vault:prod", limit: 3}
	for i := range 2 {
		if r := g.admit(vault, floodLimit{key: "principal:a", limit: 2}); r != nil {
			t.Fatalf("commit %d refused: %+v", i+1, r)
		}
	}
	r := g.admit(vault, floodLimit{key: "principal:a", limit: 2})
	if r == nil || r.key != "principal:a" || !r.alert || r.retry != time.Hour {
		t.Fatalf("third commit of a: %+v", r)
	}
	now = now.Add(10 * time.Minute)
	if r := g.admit(vault, floodLimit{key: "principal:a", limit: 2}); r == nil || r.alert || r.retry != 50*time.Minute {
		t.Fatalf("fourth commit of a: %+v", r)
	}
	// a's refusals did not count against the vault.
	if r := g.admit(vault, floodLimit{key: "principal:b", limit: 2}); r != nil {
		t.Fatalf("b's first commit: %+v", r)
	}
	if r := g.admit(vault, floodLimit{key: "principal:b", limit: 2}); r == nil || r.key != "vault:prod" {
		t.Fatalf("b's second commit over the vault's limit: %+v", r)
	}
	if r := g.admit(floodLimit{key: "vault:other", limit: -1}, floodLimit{key: "principal:c", limit: 0}); r != nil {
		t.Fatalf("no limits: %+v", r)
	}
	now = now.Add(50 * time.Minute)
	if r := g.admit(vault, floodLimit{key: "principal:a", limit: 2}); r != nil {
		t.Fatalf("a new window: %+v", r)
	}
}
