package audit

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

func TestCanonicalJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{}`, `{}`},
		{` { "b" : 1 , "a" : [ 1 , 2 , { } ] } `, `{"a":[1,2,{}],"b":1}`},
		{`{"b":{"d":1,"c":2},"a":null}`, `{"a":null,"b":{"c":2,"d":1}}`},
		{`{"é":1,"z":2,"Z":3,"":4}`, `{"":4,"Z":3,"z":2,"é":1}`},
		{`["\u00e9\u0041\/\"\\\b\f\n\r\t\u0001\u001F\u007f"]`, "[\"éA/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u007f\"]"},
		{`["<>&\u2028\ud83d\ude00😀"]`, "[\"<>&\u2028😀😀\"]"},
		{`[true,false,null]`, `[true,false,null]`},
		{`[0,-0,0.0,-0.0e5,0e-99]`, `[0,0,0,0,0]`},
		{`[1,1.0,1.50,15e-1,0.15E1,150E-2]`, `[1,1,1.5,1.5,1.5,1.5]`},
		{`[100,1E2,1e+2,10e1,1000e-1]`, `[100,100,100,100,100]`},
		{`[-12.5,-1.25e1]`, `[-12.5,-12.5]`},
		{`[123456789012345678901,1e20,1e21,12e20]`, `[123456789012345678901,100000000000000000000,1e+21,1.2e+21]`},
		{`[12345678901234567890123]`, `[1.2345678901234567890123e+22]`},
		{`[0.000001,0.0000001,1.5e-7,0.00001234]`, `[0.000001,1e-7,1.5e-7,0.00001234]`},
		{`[18446744073709551615,9007199254740993]`, `[18446744073709551615,9007199254740993]`},
		{`[1e999999999,-1e-999999999]`, `[1e+999999999,-1e-999999999]`},
		{`[1e0000000000000000005]`, `[100000]`},
		{`"x"`, `"x"`},
		{` 5 `, `5`},
	} {
		got, err := CanonicalJSON([]byte(c.in))
		if err != nil {
			t.Errorf("CanonicalJSON(%s): %v", c.in, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("CanonicalJSON(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestCanonicalJSONRefuses(t *testing.T) {
	deep := strings.Repeat("[", 65) + strings.Repeat("]", 65)
	for _, in := range []string{
		``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{a:1}`, `{'a':1}`,
		`[1,]`, `[,1]`, `[1 2]`, `{"a":1}{}`, `{} x`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`,
		`01`, `-`, `+1`, `.5`, `1.`, `1e`, `1e+`, `0x10`, `NaN`, `Infinity`, `-01`, `1.e5`,
		`1e1234567890`, `tru`, `nul`, `truex`,
		`"\x"`, `"\u12"`, `"\u12g4"`, `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800x"`, `"\ud83d\ude0"`,
		"\"\x01\"", "\"\n\"", "\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", `"abc`,
		deep,
	} {
		if got, err := CanonicalJSON([]byte(in)); err == nil {
			t.Errorf("CanonicalJSON(%q) = %s, want an error", in, got)
		}
	}
	if _, err := CanonicalJSON([]byte(strings.Repeat("[", 64) + strings.Repeat("]", 64))); err != nil {
		t.Errorf("64 levels of nesting: %v", err)
	}
}

func TestCanonicalDetail(t *testing.T) {
	for _, in := range []string{"", "null", " null ", "{}", " { } "} {
		got, err := canonicalDetail([]byte(in))
		if err != nil || got != nil {
			t.Errorf("canonicalDetail(%q) = %q, %v; want nil", in, got, err)
		}
	}
	for _, in := range []string{"[]", `"x"`, "1", "true", "[{}]", "{} {}"} {
		if _, err := canonicalDetail([]byte(in)); err == nil {
			t.Errorf("canonicalDetail(%q) accepted", in)
		}
	}
}

// FuzzCanonicalJSON: CanonicalJSON accepts nothing that encoding/json
// refuses, its output means the same as its input (encoding/json decodes
// both alike), and its output is its own canonical form.
func FuzzCanonicalJSON(f *testing.F) {
	seeds := [][]byte{
		[]byte(`{"b":[1,2.50,-0,1e21,"\u00e9\ud83d\ude00"],"a":{"y":null,"x":true}}`),
		[]byte(` { "k" : "v\n\t\"" } `),
		[]byte(`[1e999999999, 0.0000001, 123456789012345678901234567890]`),
		[]byte(`{"a":1,"a":2}`),
		[]byte(`"\ud800"`),
		[]byte("\"\xff\""),
		[]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		[]byte(`01`),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzCanonicalJSON", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := CanonicalJSON(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		again, err := CanonicalJSON(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("canonical form %q is not canonical: %q, %v", out, again, err)
		}
		var a, b any
		errA, errB := json.Unmarshal(data, &a), json.Unmarshal(out, &b)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("encoding/json decodes %q (%v) and its canonical form %q (%v) differently", data, errA, out, errB)
		}
		if errA == nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("%q and its canonical form %q mean different things: %#v, %#v", data, out, a, b)
		}
	})
}
