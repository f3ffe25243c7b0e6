package eventrule

import (
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/event"
)

// Match reports whether e matches the pattern. An envelope whose detail
// does not encode as JSON matches nothing.
func (p *Pattern) Match(e *event.Envelope) bool {
	doc, err := document(e)
	if err != nil {
		return false
	}
	return p.root.match(doc)
}

// MatchJSON reports whether the JSON object b, an envelope as
// event.Envelope encodes it, matches the pattern. It fails on anything
// but one JSON object of at most event.MaxBytes.
func (p *Pattern) MatchJSON(b []byte) (bool, error) {
	doc, err := decodeEvent(b)
	if err != nil {
		return false, err
	}
	return p.root.match(doc), nil
}

// document returns e as a pattern matches it: its JSON encoding, decoded.
func document(e *event.Envelope) (map[string]any, error) {
	b, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	return decodeEvent(b)
}

// decodeEvent decodes an event's JSON text, bounded.
func decodeEvent(b []byte) (map[string]any, error) {
	if len(b) > event.MaxBytes {
		return nil, fmt.Errorf("event of %d bytes, more than %d", len(b), event.MaxBytes)
	}
	v, err := decodeJSON(b, maxEventDepth, false)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("event: want a JSON object, got %s", typeName(v))
	}
	return doc, nil
}

// match reports whether every field of n matches doc; a nil doc has no
// fields.
func (n *node) match(doc map[string]any) bool {
	for i := range n.fields {
		f := &n.fields[i]
		v, present := doc[f.key]
		var ok bool
		if f.obj != nil {
			ok = f.obj.matchValue(v, present)
		} else {
			ok = matchLeaf(f.leaf, v, present)
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchValue matches a nested pattern object against a value: an object
// is matched field by field, an array when any element matches, and
// anything else (or nothing) as an object without fields.
func (n *node) matchValue(v any, present bool) bool {
	switch v := v.(type) {
	case map[string]any:
		return n.match(v)
	case []any:
		for _, e := range v {
			if n.matchValue(e, true) {
				return true
			}
		}
		return false
	}
	return n.match(nil)
}

// matchLeaf reports whether any matcher of a leaf matches the value.
func matchLeaf(ms []matcher, v any, present bool) bool {
	for i := range ms {
		m := &ms[i]
		if m.op == opExists {
			if m.exists == present {
				return true
			}
			continue
		}
		if present && m.matchAny(v) {
			return true
		}
	}
	return false
}

// matchAny matches a value, or any element of an array at any depth.
// Objects match nothing but exists.
func (m *matcher) matchAny(v any) bool {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if m.matchAny(e) {
				return true
			}
		}
		return false
	case map[string]any:
		return false
	}
	return m.matchScalar(v)
}

// matchScalar matches a string, float64, bool or nil.
func (m *matcher) matchScalar(v any) bool {
	switch m.op {
	case opExact:
		return v == m.val
	case opPrefix:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, m.s)
	case opSuffix:
		s, ok := v.(string)
		return ok && strings.HasSuffix(s, m.s)
	case opAnythingBut:
		for i := range m.not {
			if m.not[i].matchScalar(v) {
				return false
			}
		}
		return true
	case opNumeric:
		f, ok := v.(float64)
		return ok && m.lo.below(f) && m.hi.above(f)
	}
	return false
}

// below reports whether f is at or above the lower bound b.
func (b bound) below(f float64) bool {
	return !b.set || f > b.v || b.inclusive && f == b.v
}

// above reports whether f is at or below the upper bound b.
func (b bound) above(f float64) bool {
	return !b.set || f < b.v || b.inclusive && f == b.v
}
