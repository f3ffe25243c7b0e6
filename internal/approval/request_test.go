package approval

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

func sampleRequest() Request {
	return Request{
		ID: "0123456789abcdef0123456789abcdef", Operation: DeleteEarly, Scope: "prod",
		Target: "point/prod/3fa9", Params: json.RawMessage(`{ "point" : "3fa9", "n": 1.50 }`),
		Requester: "ann", Team: "guards", Created: time.Date(2026, 12, 1, 9, 0, 0, 500, time.FixedZone("x", 3600)),
	}
}

func TestCanonicalVector(t *testing.T) {
	c, err := sampleRequest().Canonical()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"created":"2026-12-01T08:00:00.0000005Z","id":"0123456789abcdef0123456789abcdef","operation":"delete-early","params":{"n":1.5,"point":"3fa9"},"requester":"ann","scope":"prod","target":"point/prod/3fa9","team":"guards"}`
	if string(c) != want {
		t.Fatalf("canonical form\n%s\nwant\n%s", c, want)
	}
	// printf 'bunker approval request v1\n%s' "$want" | sha256sum
	const wantHash = "6f3a28955159483dd59ccaa33a16a7afaef8d07e0ddce3cc998f71c8887d4a55"
	if h := Hash(c); h != wantHash {
		t.Fatalf("hash %s, want %s", h, wantHash)
	}
	r, h, err := ParseCanonical(c)
	if err != nil {
		t.Fatal(err)
	}
	if h != Hash(c) || r.ID != sampleRequest().ID || string(r.Params) != `{"n":1.5,"point":"3fa9"}` {
		t.Fatalf("parsed %+v %s", r, h)
	}
}

func TestHashSeparatesRequests(t *testing.T) {
	a := sampleRequest()
	b := sampleRequest()
	b.ID = "fedcba9876543210fedcba9876543210"
	c := sampleRequest()
	c.Requester = "bob"
	seen := map[string]bool{}
	for _, r := range []Request{a, b, c} {
		can, err := r.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		seen[Hash(can)] = true
	}
	if len(seen) != 3 {
		t.Fatal("different requests share a hash")
	}
}

func TestParseCanonicalRefuses(t *testing.T) {
	good, _ := sampleRequest().Canonical()
	for name, in := range map[string]string{
		"whitespace":    strings.Replace(string(good), `,"id"`, `, "id"`, 1),
		"unknown field": strings.Replace(string(good), `{"created"`, `{"color":"red","created"`, 1),
		"short id":      strings.Replace(string(good), "0123456789abcdef0123456789abcdef", "0123", 1),
		"operation":     strings.Replace(string(good), "delete-early", "delete-everything", 1),
		"params array":  strings.Replace(string(good), `{"n":1.5,"point":"3fa9"}`, `[1]`, 1),
		"time form":     strings.Replace(string(good), "08:00:00.0000005Z", "09:00:00.0000005+01:00", 1),
		"empty team":    strings.Replace(string(good), `"team":"guards"`, `"team":""`, 1),
		"trailing":      string(good) + " ",
		"not JSON":      "{",
		"empty":         "",
	} {
		if _, _, err := ParseCanonical([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

func TestOperations(t *testing.T) {
	for _, o := range Operations() {
		if got, err := ParseOperation(string(o)); err != nil || got != o || o.Describe() == string(o) {
			t.Errorf("operation %s: %v", o, err)
		}
	}
	if _, err := ParseOperation("rm-rf"); err == nil {
		t.Error("unknown operation accepted")
	}
	for _, o := range VaultOperations() {
		if o == TeamChange || o == SecurityAdminGrant || o == AirGapOpen {
			t.Errorf("%s is not configured per vault", o)
		}
	}
}

// FuzzParseCanonical: whatever ParseCanonical accepts is the canonical form
// of a valid request, and hashes as Hash does.
func FuzzParseCanonical(f *testing.F) {
	good, _ := sampleRequest().Canonical()
	seeds := [][]byte{good, []byte(`{}`), []byte(`{"id":1}`), []byte(strings.Replace(string(good), `"n":1.5`, `"n":1.50`, 1)), nil}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzParseCanonical", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, h, err := ParseCanonical(data)
		if err != nil {
			return
		}
		again, err := r.Canonical()
		if err != nil || string(again) != string(data) || h != Hash(data) {
			t.Fatalf("accepted %q, which is not the canonical form %q (%v)", data, again, err)
		}
	})
}
