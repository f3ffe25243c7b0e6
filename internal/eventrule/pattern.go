package eventrule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Limits of a pattern. Patterns come from users through the API: these
// bound the work of compiling one and of matching it against an event.
const (
	MaxPatternBytes = 16 << 10 // the pattern's JSON text
	MaxDepth        = 8        // objects nested in the pattern, the top one included
	MaxMatchers     = 512      // values and matchers in all its arrays
	MaxStringLen    = 1024     // bytes of one key or string value
	maxJSONDepth    = 2*MaxDepth + 4
	maxEventDepth   = 40
)

// envelopeFields are the top-level keys a pattern may have: the fields of
// an event.Envelope.
const envelopeFields = "id, version, kind, time, source, vault, subject, actor, detail"

// isEnvelopeField reports whether key is one of envelopeFields.
func isEnvelopeField(key string) bool {
	switch key {
	case "id", "version", "kind", "time", "source", "vault", "subject", "actor", "detail":
		return true
	}
	return false
}

// Error is a pattern that does not compile: Path names the offending field
// ("detail.level[1]", empty for the pattern as a whole) and Msg says what is
// wrong with it.
type Error struct {
	Path string
	Msg  string
}

// Error returns "PATH: MSG", or "pattern: MSG" without a path.
func (e *Error) Error() string {
	if e.Path == "" {
		return "pattern: " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Pattern is a compiled event pattern. It is immutable and safe for use by
// several goroutines at once.
type Pattern struct {
	src  []byte // the pattern's compact JSON text
	root *node
}

// node is a compiled object of a pattern: every field must match.
type node struct {
	fields []field // sorted by key
}

// field is one key of a pattern object: a nested object or a leaf.
type field struct {
	key  string
	obj  *node
	leaf []matcher // any may match
}

// op is the kind of a matcher.
type op uint8

const (
	opExact op = iota
	opPrefix
	opSuffix
	opAnythingBut
	opNumeric
	opExists
)

// matcher is one element of a leaf array.
type matcher struct {
	op     op
	val    any       // opExact: string, float64, bool or nil
	s      string    // opPrefix, opSuffix
	not    []matcher // opAnythingBut: exact values, or one prefix or suffix
	lo, hi bound     // opNumeric
	exists bool      // opExists
}

// bound is one end of a numeric range.
type bound struct {
	set       bool
	v         float64
	inclusive bool
}

// Compile reads a pattern. It refuses anything it does not understand,
// with an *Error naming the field, and never panics.
func Compile(src []byte) (*Pattern, error) {
	if len(src) > MaxPatternBytes {
		return nil, &Error{Msg: fmt.Sprintf("%d bytes, at most %d", len(src), MaxPatternBytes)}
	}
	v, err := decodeJSON(src, maxJSONDepth, true)
	if err != nil {
		if pe, ok := err.(*Error); ok {
			return nil, pe
		}
		return nil, &Error{Msg: err.Error()}
	}
	o, ok := v.(*jsonObject)
	if !ok {
		return nil, &Error{Msg: "want a JSON object, as {\"kind\": [\"backup.failed\"]}"}
	}
	c := &compiler{}
	root, err := c.object(o, "", 1)
	if err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, src); err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	return &Pattern{src: compact.Bytes(), root: root}, nil
}

// MustCompile is Compile for patterns known to be valid, in tests and
// constants; it panics if src does not compile.
func MustCompile(src string) *Pattern {
	p, err := Compile([]byte(src))
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern's JSON text, compacted.
func (p *Pattern) String() string { return string(p.src) }

// MarshalJSON returns the pattern's JSON text, compacted.
func (p *Pattern) MarshalJSON() ([]byte, error) { return bytes.Clone(p.src), nil }

// UnmarshalJSON compiles b into p.
func (p *Pattern) UnmarshalJSON(b []byte) error {
	c, err := Compile(b)
	if err != nil {
		return err
	}
	*p = *c
	return nil
}

// compiler turns a decoded pattern into nodes, counting matchers.
type compiler struct {
	matchers int
}

func (c *compiler) object(o *jsonObject, path string, depth int) (*node, error) {
	if depth > MaxDepth {
		return nil, &Error{path, fmt.Sprintf("objects nest more than %d deep", MaxDepth)}
	}
	if len(o.keys) == 0 {
		if path == "" {
			return nil, &Error{Msg: "empty: give at least one field; {\"kind\": [{\"exists\": true}]} matches every event"}
		}
		return nil, &Error{path, "empty object: give at least one field"}
	}
	n := &node{}
	seen := map[string]bool{}
	for i, key := range o.keys {
		p := joinKey(path, key)
		switch {
		case len(key) > MaxStringLen:
			return nil, &Error{p, fmt.Sprintf("key of %d bytes, at most %d", len(key), MaxStringLen)}
		case seen[key]:
			return nil, &Error{p, "given twice"}
		case path == "" && !isEnvelopeField(key):
			return nil, &Error{p, "not a field of the event (" + envelopeFields + ")"}
		}
		seen[key] = true
		f := field{key: key}
		var err error
		switch v := o.vals[i].(type) {
		case *jsonObject:
			f.obj, err = c.object(v, p, depth+1)
		case []any:
			f.leaf, err = c.leaf(v, p)
		default:
			err = &Error{p, "want an array of values and matchers, as [\"a\", {\"prefix\": \"b\"}], or an object of fields; got " + typeName(v)}
		}
		if err != nil {
			return nil, err
		}
		n.fields = append(n.fields, f)
	}
	slices.SortFunc(n.fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	return n, nil
}

func (c *compiler) leaf(a []any, path string) ([]matcher, error) {
	if len(a) == 0 {
		return nil, &Error{path, "empty array: give at least one value or matcher"}
	}
	ms := make([]matcher, 0, len(a))
	for i, v := range a {
		p := path + "[" + strconv.Itoa(i) + "]"
		if c.matchers++; c.matchers > MaxMatchers {
			return nil, &Error{p, fmt.Sprintf("more than %d values and matchers in the pattern", MaxMatchers)}
		}
		var m matcher
		var err error
		switch v := v.(type) {
		case *jsonObject:
			m, err = c.matcher(v, p)
		case []any:
			err = &Error{p, "an array inside an array: give values and matchers"}
		default:
			m.val, err = scalar(v, p)
		}
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// matcher compiles a matcher object: exactly one key, a known one.
func (c *compiler) matcher(o *jsonObject, path string) (matcher, error) {
	if len(o.keys) != 1 {
		return matcher{}, &Error{path, fmt.Sprintf("a matcher has exactly one key, as {\"prefix\": \"backup.\"}; this has %d", len(o.keys))}
	}
	key, v := o.keys[0], o.vals[0]
	p := joinKey(path, key)
	switch key {
	case "prefix", "suffix":
		return affix(key, v, p)
	case "anything-but":
		return c.anythingBut(v, p)
	case "numeric":
		return numeric(v, p)
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return matcher{}, &Error{p, "want true or false; got " + typeName(v)}
		}
		return matcher{op: opExists, exists: b}, nil
	}
	return matcher{}, &Error{path, fmt.Sprintf("unknown matcher %s (want prefix, suffix, anything-but, numeric or exists)", quote(key))}
}

// affix compiles {"prefix": "…"} and {"suffix": "…"}.
func affix(key string, v any, path string) (matcher, error) {
	s, ok := v.(string)
	if !ok {
		return matcher{}, &Error{path, "want a string; got " + typeName(v)}
	}
	if len(s) > MaxStringLen {
		return matcher{}, &Error{path, fmt.Sprintf("string of %d bytes, at most %d", len(s), MaxStringLen)}
	}
	if key == "prefix" {
		return matcher{op: opPrefix, s: s}, nil
	}
	return matcher{op: opSuffix, s: s}, nil
}

// anythingBut compiles {"anything-but": …}: one value, an array of
// values, or a prefix or suffix matcher.
func (c *compiler) anythingBut(v any, path string) (matcher, error) {
	m := matcher{op: opAnythingBut}
	switch v := v.(type) {
	case *jsonObject:
		if len(v.keys) != 1 || v.keys[0] != "prefix" && v.keys[0] != "suffix" {
			return m, &Error{path, "want a value, an array of values, or {\"prefix\": …} or {\"suffix\": …}"}
		}
		inner, err := affix(v.keys[0], v.vals[0], joinKey(path, v.keys[0]))
		if err != nil {
			return m, err
		}
		m.not = []matcher{inner}
	case []any:
		if len(v) == 0 {
			return m, &Error{path, "empty array: give at least one value"}
		}
		for i, e := range v {
			p := path + "[" + strconv.Itoa(i) + "]"
			if c.matchers++; c.matchers > MaxMatchers {
				return m, &Error{p, fmt.Sprintf("more than %d values and matchers in the pattern", MaxMatchers)}
			}
			val, err := scalar(e, p)
			if err != nil {
				return m, err
			}
			m.not = append(m.not, matcher{op: opExact, val: val})
		}
	default:
		val, err := scalar(v, path)
		if err != nil {
			return m, err
		}
		m.not = []matcher{{op: opExact, val: val}}
	}
	return m, nil
}

// numeric compiles {"numeric": [OP, N]} and {"numeric": [OP, N, OP, N]}.
func numeric(v any, path string) (matcher, error) {
	m := matcher{op: opNumeric}
	a, ok := v.([]any)
	if !ok || len(a) != 2 && len(a) != 4 {
		return m, &Error{path, "want [OP, NUMBER] or [OP, NUMBER, OP, NUMBER], as [\">\", 0, \"<=\", 5]"}
	}
	for i := 0; i < len(a); i += 2 {
		opText, ok := a[i].(string)
		pi := path + "[" + strconv.Itoa(i) + "]"
		if !ok {
			return m, &Error{pi, "want an operator (=, <, <=, >, >=); got " + typeName(a[i])}
		}
		n, ok := a[i+1].(json.Number)
		if !ok {
			return m, &Error{path + "[" + strconv.Itoa(i+1) + "]", "want a number; got " + typeName(a[i+1])}
		}
		f, err := number(n, path+"["+strconv.Itoa(i+1)+"]")
		if err != nil {
			return m, err
		}
		var b *bound
		switch opText {
		case ">", ">=":
			b = &m.lo
		case "<", "<=":
			b = &m.hi
		case "=":
			if len(a) != 2 {
				return m, &Error{pi, "= stands alone: [\"=\", N]"}
			}
			m.lo, m.hi = bound{true, f, true}, bound{true, f, true}
			continue
		default:
			return m, &Error{pi, fmt.Sprintf("unknown operator %s (want =, <, <=, >, >=)", quote(opText))}
		}
		if b.set {
			return m, &Error{pi, "two lower or two upper bounds: give one of each, as [\">\", 0, \"<=\", 5]"}
		}
		*b = bound{true, f, opText == ">=" || opText == "<="}
	}
	if m.lo.set && m.hi.set && (m.lo.v > m.hi.v || m.lo.v == m.hi.v && !(m.lo.inclusive && m.hi.inclusive)) {
		return m, &Error{path, "the range is empty: no number is in it"}
	}
	return m, nil
}

// scalar checks an exact value: a string, number, boolean or null.
func scalar(v any, path string) (any, error) {
	switch v := v.(type) {
	case string:
		if len(v) > MaxStringLen {
			return nil, &Error{path, fmt.Sprintf("string of %d bytes, at most %d", len(v), MaxStringLen)}
		}
		return v, nil
	case json.Number:
		return number(v, path)
	case bool, nil:
		return v, nil
	}
	return nil, &Error{path, "want a string, number, boolean or null; got " + typeName(v)}
}

// number converts a JSON number, refusing one out of float64's range.
func number(n json.Number, path string) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, &Error{path, fmt.Sprintf("number %.40s is out of range", n)}
	}
	return f, nil
}

// typeName names a decoded value's JSON type.
func typeName(v any) string {
	switch v.(type) {
	case *jsonObject, map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// joinKey extends a field path with a key: "detail.level", or
// `detail["odd key"]` for a key that is not letters, digits, '_' and '-'.
func joinKey(path, key string) string {
	if !simpleKey(key) {
		return path + "[" + quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func simpleKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// quote quotes s for an error message, shortened to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "…"
	}
	return strconv.Quote(s)
}
