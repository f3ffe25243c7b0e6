package eventrule

import (
	"fmt"
	"testing"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// FuzzCompileMatch feeds arbitrary patterns and events to Compile and
// Match: neither may panic, a compiled pattern's text must compile again
// to a pattern that decides alike, and an error must be an *Error.
func FuzzCompileMatch(f *testing.F) {
	seeds := [][2]string{
		{`{"kind":["backup.completed"]}`, ev},
		{`{"kind":[{"prefix":"backup."}],"vault":["prod","db"]}`, ev},
		{`{"kind":[{"suffix":".failed"}]}`, `{"kind":"copy.failed","detail":{}}`},
		{`{"vault":[{"anything-but":["test","dev"]}]}`, ev},
		{`{"vault":[{"anything-but":{"prefix":"te"}}]}`, ev},
		{`{"detail":{"score":[{"numeric":[">",0,"<=",5]}]}}`, ev},
		{`{"detail":{"job":[{"numeric":["=",42]}]}}`, ev},
		{`{"detail":{"error":[{"exists":false}]}}`, ev},
		{`{"detail":{"items":{"name":["b"],"n":[2]}}}`, ev},
		{`{"detail":{"grid":[4],"paths":[{"prefix":"/h"}]}}`, ev},
		{`{"detail":{"none":[null],"ok":[true]}}`, ev},
		{`{"detail":{"level":["a",{"prefixx":"b"}]}}`, ev},
		{`{"detail":{"n":[{"numeric":[">",5,"<",3]}]}}`, `{"detail":{"n":4}}`},
		{`{"kind":[]}`, `{}`},
		{`{"detail":{"a":{"b":{"c":["d"]}}}}`, `{"detail":{"a":[{"b":[{"c":"d"}]}]}}`},
		{`{"kind":["a"]`, `[1,2`},
	}
	if fuzzseed.Enabled() {
		for i, s := range seeds {
			fuzzseed.WriteEntry(f, "FuzzCompileMatch", fmt.Sprintf("seed-%02d", i),
				fmt.Sprintf("[]byte(%q)", s[0]), fmt.Sprintf("[]byte(%q)", s[1]))
		}
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, pattern, doc []byte) {
		p, err := Compile(pattern)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			return
		}
		again, err := Compile([]byte(p.String()))
		if err != nil {
			t.Fatalf("%s does not compile again: %v", p, err)
		}
		got, err := p.MatchJSON(doc)
		got2, err2 := again.MatchJSON(doc)
		if got != got2 || (err == nil) != (err2 == nil) {
			t.Fatalf("%s and its text decide %q differently: %v %v, %v %v", pattern, doc, got, err, got2, err2)
		}
		if e, err := event.Parse(doc); err == nil {
			p.Match(e)
		}
	})
}

// FuzzParseRule feeds arbitrary rule files to ParseRule: it may not panic,
// and a rule it accepts must encode to a file that parses back to the
// same encoding.
func FuzzParseRule(f *testing.F) {
	seeds := []string{
		fullRule,
		`{"name":"x","enabled":false,"pattern":{"kind":["a.b"]},"targets":[{"copy":{"action":"c"}}]}`,
		`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"http://127.0.0.1:9/h","secret":"s","timeout":"1m"}}]}`,
		`{"name":"x","pattern":{"kind":["a"]},"targets":[{"webhook":{"url":"https://h.example/x","secret":"s","fingerprint":"sha256:00"}}]}`,
		`{"name":"x","pattern":{"kind":["a"]},"targets":[{"email":{"smtp":"smtps://u@m.example:465?from=a@b.c&to=d@e.f"}}]}`,
		`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":["/bin/true"],"timeout":"0s"}}]}`,
		`{"name":"x","pattern":{"kind":["a"]},"targets":[{"copy":{"action":"c"},"email":{}}]}`,
		`{"name":"x","name":"y","pattern":{"kind":["a"]},"targets":[]}`,
		`{"name":"x","pattern":{"kind":["a"]},"targets":[{"command":{"argv":[],"timeout":"-1s"}}]}`,
		`{"name":"x","description":"\u0000","pattern":{"kind":["a"]},"targets":[{"copy":{"action":"c"}}]}`,
		`[]`, `null`, `{"name":"x"`,
	}
	if fuzzseed.Enabled() {
		for i, s := range seeds {
			fuzzseed.WriteEntry(f, "FuzzParseRule", fmt.Sprintf("seed-%02d", i), fmt.Sprintf("[]byte(%q)", s))
		}
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRule(b)
		if err != nil {
			if r != nil {
				t.Fatalf("ParseRule returned a rule with its error %v", err)
			}
			return
		}
		enc, err := r.Marshal()
		if err != nil {
			t.Fatalf("accepted rule does not encode: %v", err)
		}
		again, err := ParseRule(enc)
		if err != nil {
			t.Fatalf("%q parses, but its encoding %s does not: %v", b, enc, err)
		}
		enc2, err := again.Marshal()
		if err != nil || string(enc2) != string(enc) {
			t.Fatalf("encodings differ:\n%s\n%s (%v)", enc, enc2, err)
		}
	})
}
