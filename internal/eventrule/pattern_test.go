package eventrule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
)

// ev is the event most cases match against.
const ev = `{"id":"e1","version":1,"kind":"backup.completed","time":"2026-05-04T12:30:00Z","source":"bunker-1",
	"vault":"prod","subject":"3fa9","actor":"web1",
	"detail":{"job":42,"bytes_added":0,"score":2.5,"level":"clean","paths":["/etc","/home"],"tags":[],
		"ok":true,"none":null,"nested":{"deep":{"x":"y"}},"items":[{"name":"a","n":1},{"name":"b","n":2}],
		"grid":[[1,2],[3,[4]]],"big":1e300,"odd key":"v"}}`

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		// exact values
		{`{"kind":["backup.completed"]}`, true},
		{`{"kind":["backup.failed"]}`, false},
		{`{"kind":["backup.failed","backup.completed"]}`, true},
		{`{"version":[1]}`, true},
		{`{"version":[1.0]}`, true},
		{`{"version":["1"]}`, false},
		{`{"detail":{"job":[42]}}`, true},
		{`{"detail":{"job":[4.2e1]}}`, true},
		{`{"detail":{"job":[43]}}`, false},
		{`{"detail":{"bytes_added":[0]}}`, true},
		{`{"detail":{"bytes_added":[-0]}}`, true},
		{`{"detail":{"ok":[true]}}`, true},
		{`{"detail":{"ok":[false]}}`, false},
		{`{"detail":{"ok":["true"]}}`, false},
		{`{"detail":{"none":[null]}}`, true},
		{`{"detail":{"missing":[null]}}`, false},
		{`{"detail":{"level":[null]}}`, false},
		{`{"detail":{"odd key":["v"]}}`, true},
		{`{"detail":{"job":["42"]}}`, false},
		// prefix and suffix
		{`{"kind":[{"prefix":"backup."}]}`, true},
		{`{"kind":[{"prefix":"copy."}]}`, false},
		{`{"kind":[{"prefix":""}]}`, true},
		{`{"kind":[{"suffix":".completed"}]}`, true},
		{`{"kind":[{"suffix":".failed"}]}`, false},
		{`{"detail":{"job":[{"prefix":"4"}]}}`, false},
		{`{"kind":[{"prefix":"copy."},{"suffix":".completed"}]}`, true},
		// anything-but
		{`{"vault":[{"anything-but":"test"}]}`, true},
		{`{"vault":[{"anything-but":"prod"}]}`, false},
		{`{"vault":[{"anything-but":["test","prod"]}]}`, false},
		{`{"vault":[{"anything-but":["test","dev"]}]}`, true},
		{`{"vault":[{"anything-but":{"prefix":"pr"}}]}`, false},
		{`{"vault":[{"anything-but":{"prefix":"te"}}]}`, true},
		{`{"vault":[{"anything-but":{"suffix":"od"}}]}`, false},
		{`{"detail":{"job":[{"anything-but":42}]}}`, false},
		{`{"detail":{"job":[{"anything-but":[1,2]}]}}`, true},
		{`{"detail":{"job":[{"anything-but":"42"}]}}`, true},
		{`{"detail":{"none":[{"anything-but":null}]}}`, false},
		{`{"detail":{"missing":[{"anything-but":"x"}]}}`, false},
		{`{"detail":{"nested":[{"anything-but":"x"}]}}`, false},
		// numeric
		{`{"detail":{"job":[{"numeric":[">",0]}]}}`, true},
		{`{"detail":{"job":[{"numeric":[">",42]}]}}`, false},
		{`{"detail":{"job":[{"numeric":[">=",42]}]}}`, true},
		{`{"detail":{"job":[{"numeric":["<",42]}]}}`, false},
		{`{"detail":{"job":[{"numeric":["<=",42]}]}}`, true},
		{`{"detail":{"job":[{"numeric":["=",42]}]}}`, true},
		{`{"detail":{"job":[{"numeric":["=",41]}]}}`, false},
		{`{"detail":{"score":[{"numeric":[">",0,"<=",5]}]}}`, true},
		{`{"detail":{"score":[{"numeric":["<=",5,">",0]}]}}`, true},
		{`{"detail":{"score":[{"numeric":[">",2.5,"<=",5]}]}}`, false},
		{`{"detail":{"score":[{"numeric":[">=",2.5,"<",2.6]}]}}`, true},
		{`{"detail":{"score":[{"numeric":[">=",2.5,"<=",2.5]}]}}`, true},
		{`{"detail":{"level":[{"numeric":[">",0]}]}}`, false},
		{`{"detail":{"big":[{"numeric":[">",1e299]}]}}`, true},
		{`{"detail":{"missing":[{"numeric":[">",0]}]}}`, false},
		// exists
		{`{"actor":[{"exists":true}]}`, true},
		{`{"actor":[{"exists":false}]}`, false},
		{`{"detail":{"error":[{"exists":false}]}}`, true},
		{`{"detail":{"error":[{"exists":true}]}}`, false},
		{`{"detail":{"none":[{"exists":true}]}}`, true},
		{`{"detail":{"tags":[{"exists":true}]}}`, true},
		{`{"detail":{"nested":[{"exists":true}]}}`, true},
		{`{"detail":{"error":[{"exists":true},"x"]}}`, false},
		{`{"detail":{"error":[{"exists":false},"x"]}}`, true},
		{`{"detail":{"level":[{"exists":false},"clean"]}}`, true},
		// arrays in the event
		{`{"detail":{"paths":["/home"]}}`, true},
		{`{"detail":{"paths":["/srv"]}}`, false},
		{`{"detail":{"paths":[{"prefix":"/h"}]}}`, true},
		{`{"detail":{"paths":[{"anything-but":"/etc"}]}}`, true},
		{`{"detail":{"paths":[{"anything-but":["/etc","/home"]}]}}`, false},
		{`{"detail":{"tags":["x"]}}`, false},
		{`{"detail":{"tags":[{"anything-but":"x"}]}}`, false},
		{`{"detail":{"grid":[4]}}`, true},
		{`{"detail":{"grid":[{"numeric":[">",3]}]}}`, true},
		{`{"detail":{"grid":[5]}}`, false},
		{`{"detail":{"items":{"name":["b"]}}}`, true},
		{`{"detail":{"items":{"name":["b"],"n":[2]}}}`, true},
		{`{"detail":{"items":{"name":["b"],"n":[1]}}}`, false},
		{`{"detail":{"items":{"name":["c"]}}}`, false},
		// nested objects
		{`{"detail":{"nested":{"deep":{"x":["y"]}}}}`, true},
		{`{"detail":{"nested":{"deep":{"x":["z"]}}}}`, false},
		{`{"detail":{"nested":{"deep":{"y":[{"exists":false}]}}}}`, true},
		{`{"detail":{"nested":{"deep":["y"]}}}`, false},
		{`{"detail":{"nowhere":{"x":[{"exists":false}]}}}`, true},
		{`{"detail":{"nowhere":{"x":[{"exists":true}]}}}`, false},
		{`{"detail":{"level":{"x":[{"exists":false}]}}}`, true},
		{`{"detail":{"level":["clean"]},"vault":["prod"]}`, true},
		// AND of keys, OR within a leaf
		{`{"kind":[{"prefix":"backup."}],"vault":["prod"],"detail":{"level":["clean","suspicious"],"job":[{"numeric":[">",40]}]}}`, true},
		{`{"kind":[{"prefix":"backup."}],"vault":["prod"],"detail":{"level":["infected"],"job":[{"numeric":[">",40]}]}}`, false},
		{`{"kind":[{"prefix":"backup."}],"vault":["dev"]}`, false},
		{`{"time":[{"prefix":"2026-05"}],"source":["bunker-1"],"id":["e1"],"subject":[{"suffix":"a9"}]}`, true},
	} {
		p, err := Compile([]byte(tc.pattern))
		if err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
			continue
		}
		got, err := p.MatchJSON([]byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.pattern, got, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		pattern, want string
	}{
		{``, "pattern: invalid JSON"},
		{`{"kind":["a"]`, "pattern: invalid JSON"},
		{`{"kind":["a"]} {}`, "data after the value"},
		{`["a"]`, "pattern: want a JSON object"},
		{`{}`, "pattern: empty"},
		{`{"kinds":["a"]}`, `kinds: not a field of the event`},
		{`{"kind":"backup.completed"}`, `kind: want an array of values and matchers`},
		{`{"kind":[]}`, `kind: empty array`},
		{`{"kind":["a","a"],"kind":["b"]}`, `kind: given twice`},
		{`{"detail":{}}`, `detail: empty object`},
		{`{"detail":{"level":["a",{"prefixx":"b"}]}}`, `detail.level[1]: unknown matcher "prefixx"`},
		{`{"detail":{"level":[["a"]]}}`, `detail.level[0]: an array inside an array`},
		{`{"detail":{"level":[{}]}}`, `detail.level[0]: a matcher has exactly one key`},
		{`{"detail":{"level":[{"prefix":"a","suffix":"b"}]}}`, `detail.level[0]: a matcher has exactly one key`},
		{`{"detail":{"level":[{"prefix":1}]}}`, `detail.level[0].prefix: want a string; got a number`},
		{`{"detail":{"level":[{"suffix":null}]}}`, `detail.level[0].suffix: want a string; got null`},
		{`{"detail":{"level":[{"exists":"yes"}]}}`, `detail.level[0].exists: want true or false`},
		{`{"detail":{"level":[{"anything-but":[]}]}}`, `detail.level[0].anything-but: empty array`},
		{`{"detail":{"level":[{"anything-but":["a",{"prefix":"b"}]}]}}`, `detail.level[0].anything-but[1]: want a string, number, boolean or null; got an object`},
		{`{"detail":{"level":[{"anything-but":{"numeric":[">",1]}}]}}`, `detail.level[0].anything-but: want a value`},
		{`{"detail":{"level":[{"anything-but":{"prefix":2}}]}}`, `detail.level[0].anything-but.prefix: want a string`},
		{`{"detail":{"n":[{"numeric":">"}]}}`, `detail.n[0].numeric: want [OP, NUMBER]`},
		{`{"detail":{"n":[{"numeric":[">"]}]}}`, `detail.n[0].numeric: want [OP, NUMBER]`},
		{`{"detail":{"n":[{"numeric":[">",1,"<"]}]}}`, `detail.n[0].numeric: want [OP, NUMBER]`},
		{`{"detail":{"n":[{"numeric":["=>",1]}]}}`, `detail.n[0].numeric[0]: unknown operator "=>"`},
		{`{"detail":{"n":[{"numeric":[1,">"]}]}}`, `detail.n[0].numeric[0]: want an operator`},
		{`{"detail":{"n":[{"numeric":[">","1"]}]}}`, `detail.n[0].numeric[1]: want a number; got a string`},
		{`{"detail":{"n":[{"numeric":[">",1,">",2]}]}}`, `detail.n[0].numeric[2]: two lower or two upper bounds`},
		{`{"detail":{"n":[{"numeric":["=",1,"<",2]}]}}`, `detail.n[0].numeric[0]: = stands alone`},
		{`{"detail":{"n":[{"numeric":[">",5,"<",3]}]}}`, `detail.n[0].numeric: the range is empty`},
		{`{"detail":{"n":[{"numeric":[">",5,"<=",5]}]}}`, `detail.n[0].numeric: the range is empty`},
		{`{"detail":{"n":[{"numeric":[">",1e400]}]}}`, `detail.n[0].numeric[1]: number 1e400 is out of range`},
		{`{"detail":{"n":[1e999]}}`, `detail.n[0]: number 1e999 is out of range`},
		{`{"detail":{"a b":["x",{"nope":1}]}}`, `detail["a b"][1]: unknown matcher "nope"`},
		{`{"detail":{"x":5}}`, `detail.x: want an array of values and matchers`},
		{`{"detail":{"x":"` + strings.Repeat("s", MaxStringLen+1) + `"}}`, `detail.x: want an array`},
		{`{"detail":{"x":["` + strings.Repeat("s", MaxStringLen+1) + `"]}}`, `detail.x[0]: string of 1025 bytes`},
		{`{"detail":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":["x"]}}}}}}}}}`, `detail.a.b.c.d.e.f.g: objects nest more than 8 deep`},
		{`{"detail":` + strings.Repeat(`{"a":`, 30) + `["x"]` + strings.Repeat("}", 31), `nests more than`},
		{strings.Repeat(" ", MaxPatternBytes+1), "pattern: 16385 bytes"},
		{`{"kind":[` + strings.Repeat(`"a",`, MaxMatchers) + `"a"]}`, `kind[512]: more than 512 values`},
	} {
		_, err := Compile([]byte(tc.pattern))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.80s: %v, want %q", tc.pattern, err, tc.want)
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%.80s: %T is not an *Error", tc.pattern, err)
		}
	}
}

func TestMatchEnvelope(t *testing.T) {
	e := &event.Envelope{ID: event.NewID(), Version: event.Version, Kind: event.ScanVerdictChanged, Time: time.Now(), Source: "s",
		Vault: "prod", Subject: "p1", Detail: map[string]any{"from": "clean", "to": "infected", "score": 31.5, "paths": []string{"/srv"}}}
	for pat, want := range map[string]bool{
		`{"kind":["scan.verdict_changed"],"detail":{"to":["infected"],"score":[{"numeric":[">=",30]}]}}`: true,
		`{"detail":{"paths":["/srv"]}}`: true,
		`{"actor":[{"exists":false}]}`:  true,
		`{"actor":[{"exists":true}]}`:   false,
		`{"detail":{"to":["clean"]}}`:   false,
	} {
		if got := MustCompile(pat).Match(e); got != want {
			t.Errorf("%s: %v, want %v", pat, got, want)
		}
	}
	bad := &event.Envelope{Kind: "a.b", Detail: map[string]any{"f": func() {}}}
	if MustCompile(`{"kind":["a.b"]}`).Match(bad) {
		t.Error("an envelope that does not encode matched")
	}
}

func TestMatchJSONRefuses(t *testing.T) {
	p := MustCompile(`{"kind":[{"exists":false}]}`)
	for _, in := range []string{``, `[]`, `"x"`, `{"a":1}{}`, strings.Repeat(`{"a":`, 50) + `1` + strings.Repeat(`}`, 50), `{"a":` + strings.Repeat(" ", event.MaxBytes) + `1}`} {
		if ok, err := p.MatchJSON([]byte(in)); err == nil {
			t.Errorf("%.40q: matched %v without error", in, ok)
		}
	}
}

func TestPatternJSON(t *testing.T) {
	p := MustCompile("{\n  \"kind\": [ \"a.b\" ]\n}")
	if p.String() != `{"kind":["a.b"]}` {
		t.Errorf("String: %s", p)
	}
	var q Pattern
	if err := q.UnmarshalJSON([]byte(`{"vault":["x"]}`)); err != nil || q.String() != `{"vault":["x"]}` {
		t.Errorf("UnmarshalJSON: %v %s", err, q.String())
	}
	if err := q.UnmarshalJSON([]byte(`{"vault":[]}`)); err == nil {
		t.Error("UnmarshalJSON accepted an empty leaf")
	}
	b, _ := p.MarshalJSON()
	b[0] = 'X'
	if p.String()[0] != '{' {
		t.Error("MarshalJSON shares the pattern's text")
	}
}

func TestMatchIsBounded(t *testing.T) {
	// The largest pattern, against an event of many array elements:
	// the work is at most their product, well under a second.
	var sb strings.Builder
	sb.WriteString(`{"detail":{"a":[`)
	for i := range MaxMatchers - 1 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"prefix":"y"}`)
	}
	sb.WriteString(`],"b":[{"exists":true}]}}`)
	p := MustCompile(sb.String())
	var eb strings.Builder
	eb.WriteString(`{"detail":{"a":[`)
	for i := range 6000 {
		if i > 0 {
			eb.WriteString(",")
		}
		eb.WriteString(`"zz"`)
	}
	eb.WriteString(`]}}`)
	start := time.Now()
	ok, err := p.MatchJSON([]byte(eb.String()))
	if err != nil || ok {
		t.Fatalf("matched %v, %v", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("match took %v", d)
	}
}
