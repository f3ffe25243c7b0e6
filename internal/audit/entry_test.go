package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// vectorEntry is the entry whose hash an independent implementation of the
// encoding in the package documentation computed.
func vectorEntry() Entry {
	return Entry{
		Seq:     7,
		Time:    time.Date(2031, 2, 3, 4, 5, 6, 789012000, time.UTC),
		Actor:   "alice",
		Action:  "vault.create",
		Target:  "vault/prod",
		Outcome: OutcomeOK,
		Remote:  "192.0.2.10:51234",
		Detail:  json.RawMessage(`{"retention": "30d", "lock": "compliance", "n": 1.50, "\u00e9": "\u00e9"}`),
		Prev:    strings.Repeat("ab", 32),
	}
}

const vectorHash = "e79e068ef74626a1c5753c6f464d01be7fafe93b0a1457f660d735ab9dfe277c"

func TestComputeHashVectors(t *testing.T) {
	h, err := vectorEntry().ComputeHash()
	if err != nil || h != vectorHash {
		t.Fatalf("ComputeHash = %s, %v; want %s", h, err, vectorHash)
	}
	// A first entry before 1970 with empty fields and no detail.
	first := Entry{Seq: 1, Time: time.Unix(-2, 500000000), Action: "auth.login", Outcome: OutcomeDenied, Prev: GenesisPrev}
	if h, err := first.ComputeHash(); err != nil || h != "e8b43dd5797814659b260ce8652a3ea61b6c1b06ef245ef582026773ad27c4bc" {
		t.Fatalf("ComputeHash of the first entry = %s, %v", h, err)
	}
}

// TestComputeHashCoversEveryField changes each field in turn; each change
// must change the hash. Moving bytes between adjacent fields too.
func TestComputeHashCoversEveryField(t *testing.T) {
	for name, change := range map[string]func(*Entry){
		"seq":                 func(e *Entry) { e.Seq++ },
		"time seconds":        func(e *Entry) { e.Time = e.Time.Add(time.Second) },
		"time nanoseconds":    func(e *Entry) { e.Time = e.Time.Add(time.Nanosecond) },
		"actor":               func(e *Entry) { e.Actor = "mallory" },
		"action":              func(e *Entry) { e.Action = "vault.delete" },
		"target":              func(e *Entry) { e.Target = "vault/dev" },
		"outcome":             func(e *Entry) { e.Outcome = OutcomeDenied },
		"remote":              func(e *Entry) { e.Remote = "" },
		"detail":              func(e *Entry) { e.Detail = json.RawMessage(`{"lock":"governance"}`) },
		"detail removed":      func(e *Entry) { e.Detail = nil },
		"prev":                func(e *Entry) { e.Prev = strings.Repeat("ab", 31) + "ac" },
		"actor into action":   func(e *Entry) { e.Actor, e.Action = "alicev", "ault.create" },
		"target into outcome": func(e *Entry) { e.Target, e.Outcome = "vault/prodo", "k" },
		"remote into detail":  func(e *Entry) { e.Remote, e.Detail = "", json.RawMessage(`{"192.0.2.10:51234":1}`) },
	} {
		e := vectorEntry()
		change(&e)
		h, err := e.ComputeHash()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h == vectorHash {
			t.Errorf("changing the %s does not change the hash", name)
		}
	}
}

// TestComputeHashSurvivesReencoding: a database that re-encodes the detail
// (other key order, whitespace, escapes, number spelling) or the time (other
// zone) does not change the hash.
func TestComputeHashSurvivesReencoding(t *testing.T) {
	for _, d := range []string{
		`{"lock":"compliance","n":1.5,"retention":"30d","é":"é"}`,
		`{"é":"é","retention":"30d","n":15e-1,"lock":"compliance"}`,
		"{\n  \"lock\": \"compl\\u0069ance\",\n  \"n\": 1.500,\n  \"retention\": \"30d\",\n  \"\\u00E9\": \"é\"\n}",
	} {
		e := vectorEntry()
		e.Detail = json.RawMessage(d)
		e.Time = e.Time.In(time.FixedZone("CEST", 2*3600))
		if h, err := e.ComputeHash(); err != nil || h != vectorHash {
			t.Errorf("detail %s hashes to %s, %v", d, h, err)
		}
	}
	for _, d := range []string{"", "null", "{}", " { } "} {
		e := vectorEntry()
		e.Detail = json.RawMessage(d)
		h, _ := e.ComputeHash()
		e.Detail = nil
		if want, _ := e.ComputeHash(); h != want {
			t.Errorf("detail %q hashes unlike an absent detail", d)
		}
	}
}

func TestComputeHashRefuses(t *testing.T) {
	for name, change := range map[string]func(*Entry){
		"short prev":      func(e *Entry) { e.Prev = e.Prev[:62] },
		"upper-case prev": func(e *Entry) { e.Prev = strings.ToUpper(e.Prev) },
		"non-hex prev":    func(e *Entry) { e.Prev = strings.Repeat("zz", 32) },
		"array detail":    func(e *Entry) { e.Detail = json.RawMessage(`[1]`) },
		"broken detail":   func(e *Entry) { e.Detail = json.RawMessage(`{"a":`) },
	} {
		e := vectorEntry()
		change(&e)
		if _, err := e.ComputeHash(); err == nil {
			t.Errorf("ComputeHash with %s accepted", name)
		}
	}
}

func TestNext(t *testing.T) {
	at := time.Date(2031, 1, 1, 0, 0, 0, 123456789, time.FixedZone("X", 3600))
	first, err := Next(nil, Entry{Time: at, Actor: "alice", Action: "auth.login", Outcome: OutcomeOK, Detail: json.RawMessage(` {"b":2, "a":1} `)})
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || first.Prev != GenesisPrev {
		t.Fatalf("first entry has seq %d, prev %s", first.Seq, first.Prev)
	}
	if first.Time.Location() != time.UTC || first.Time.Nanosecond() != 123456000 || !first.Time.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("time %v, want UTC with whole microseconds", first.Time)
	}
	if string(first.Detail) != `{"a":1,"b":2}` {
		t.Fatalf("detail %s is not canonical", first.Detail)
	}
	if h, _ := first.ComputeHash(); h != first.Hash {
		t.Fatal("first entry does not match its hash")
	}
	second, err := Next(&first, Entry{Seq: 99, Prev: "x", Hash: "y", Time: at, Action: "vault.create", Outcome: OutcomeDenied})
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq != 2 || second.Prev != first.Hash || second.Detail != nil {
		t.Fatalf("second entry: seq %d, prev %s, detail %q", second.Seq, second.Prev, second.Detail)
	}
	if h, _ := second.ComputeHash(); h != second.Hash {
		t.Fatal("second entry does not match its hash")
	}

	// Next refuses to chain after an entry that does not match its hash.
	broken := second
	broken.Actor = "mallory"
	if _, err := Next(&broken, Entry{Time: at, Action: "x", Outcome: OutcomeOK}); err == nil {
		t.Fatal("Next chained after an entry that does not match its hash")
	}
	zero := Entry{}
	if _, err := Next(&zero, Entry{Time: at, Action: "x", Outcome: OutcomeOK}); err == nil {
		t.Fatal("Next chained after an empty entry")
	}
}

func TestNextValidates(t *testing.T) {
	at := time.Now()
	good := Entry{Time: at, Actor: "alice", Action: "vault.create", Target: "vault/prod", Outcome: OutcomeOK}
	if _, err := Next(nil, good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		change  func(*Entry)
		problem string
	}{
		{"unknown outcome", func(e *Entry) { e.Outcome = "maybe" }, "outcome"},
		{"empty outcome", func(e *Entry) { e.Outcome = "" }, "outcome"},
		{"empty action", func(e *Entry) { e.Action = "" }, "action"},
		{"long actor", func(e *Entry) { e.Actor = strings.Repeat("a", MaxString+1) }, "actor"},
		{"long target", func(e *Entry) { e.Target = strings.Repeat("a", MaxString+1) }, "target"},
		{"long remote", func(e *Entry) { e.Remote = strings.Repeat("a", MaxString+1) }, "remote"},
		{"invalid UTF-8 target", func(e *Entry) { e.Target = "vault/\xff" }, "UTF-8"},
		{"no time", func(e *Entry) { e.Time = time.Time{} }, "time"},
		{"year 10000", func(e *Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "year"},
		{"array detail", func(e *Entry) { e.Detail = json.RawMessage(`[1]`) }, "object"},
		{"string detail", func(e *Entry) { e.Detail = json.RawMessage(`"x"`) }, "object"},
		{"broken detail", func(e *Entry) { e.Detail = json.RawMessage(`{"a":1`) }, "detail"},
		{"duplicate key", func(e *Entry) { e.Detail = json.RawMessage(`{"a":1,"a":2}`) }, "twice"},
		{"large detail", func(e *Entry) {
			e.Detail = json.RawMessage(`{"a":"` + strings.Repeat("x", MaxDetail) + `"}`)
		}, "detail"},
		{"detail that grows", func(e *Entry) {
			e.Detail = json.RawMessage(`{"a":[` + strings.Repeat("1e20,", MaxDetail/6) + `1]}`)
		}, "canonical"},
	} {
		e := good
		c.change(&e)
		if _, err := Next(nil, e); err == nil || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("%s: Next = %v, want an error about %q", c.name, err, c.problem)
		}
	}
	ok := good
	ok.Actor, ok.Target, ok.Remote = strings.Repeat("a", MaxString), strings.Repeat("é", MaxString/2), ""
	if _, err := Next(nil, ok); err != nil {
		t.Errorf("fields at the limits: %v", err)
	}
}

func TestClean(t *testing.T) {
	for _, s := range []string{"", "vault/prod", "bad \xff\xfe bytes", strings.Repeat("a", MaxString+100), strings.Repeat("é", MaxString), "\xc3" + strings.Repeat("a", MaxString)} {
		c := Clean(s)
		if !utf8.ValidString(c) || len(c) > MaxString {
			t.Errorf("Clean(%.20q…) = %d bytes, valid %v", s, len(c), utf8.ValidString(c))
		}
		if _, err := Next(nil, Entry{Time: time.Now(), Action: "x", Outcome: OutcomeOK, Target: c}); err != nil {
			t.Errorf("cleaned string refused: %v", err)
		}
		if utf8.ValidString(s) && len(s) <= MaxString && c != s {
			t.Errorf("Clean changed an acceptable string")
		}
	}
	if got := Clean(strings.Repeat("é", MaxString)); len(got) != MaxString {
		t.Errorf("Clean cut %d bytes of two-byte characters to %d", MaxString*2, len(got))
	}
}
