package eventrule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonObject is a JSON object with its keys in the order of the text, as
// a pattern is read: so that errors name the first offending field, and
// duplicate keys are seen.
type jsonObject struct {
	keys []string
	vals []any
}

// decoder reads one JSON value, bounded in depth. Patterns are read with
// ordered objects and numbers as json.Number; events with maps and
// float64 numbers.
type decoder struct {
	dec      *json.Decoder
	maxDepth int
	ordered  bool
	depth    int
}

// decodeJSON decodes b, which must hold exactly one JSON value nesting at
// most maxDepth objects and arrays deep.
func decodeJSON(b []byte, maxDepth int, ordered bool) (any, error) {
	d := &decoder{dec: json.NewDecoder(bytes.NewReader(b)), maxDepth: maxDepth, ordered: ordered}
	d.dec.UseNumber()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid JSON: data after the value, at byte %d", d.dec.InputOffset())
	}
	return v, nil
}

func (d *decoder) value() (any, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t != '{' && t != '[' {
			return nil, fmt.Errorf("invalid JSON: unexpected %q", rune(t))
		}
		if d.depth++; d.depth > d.maxDepth {
			return nil, fmt.Errorf("nests more than %d objects and arrays deep", d.maxDepth)
		}
		defer func() { d.depth-- }()
		if t == '{' {
			return d.object()
		}
		return d.array()
	case json.Number:
		if d.ordered {
			return t, nil
		}
		f, _ := t.Float64() // out of range: ±Inf, still a number
		return f, nil
	default: // string, bool, nil
		return t, nil
	}
}

func (d *decoder) object() (any, error) {
	var o jsonObject // duplicate keys are kept, for the compiler to refuse
	m := map[string]any{}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("invalid JSON: an object key is not a string")
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		if !d.ordered {
			m[key] = v
			continue
		}
		o.keys = append(o.keys, key)
		o.vals = append(o.vals, v)
	}
	if _, err := d.dec.Token(); err != nil { // '}'
		return nil, syntaxError(err)
	}
	if d.ordered {
		return &o, nil
	}
	return m, nil
}

func (d *decoder) array() (any, error) {
	a := []any{}
	for d.dec.More() {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if _, err := d.dec.Token(); err != nil { // ']'
		return nil, syntaxError(err)
	}
	return a, nil
}

// syntaxError words a decoding error.
func syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}
