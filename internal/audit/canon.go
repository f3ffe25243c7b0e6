package audit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects in canonical JSON.
const maxDepth = 64

// maxExponentDigits bounds the significant digits of a number's exponent,
// so that exponent arithmetic cannot overflow.
const maxExponentDigits = 9

// CanonicalJSON returns the canonical form of one JSON value (see the
// package documentation). It refuses what JSON does not define one meaning
// for: duplicate object keys, invalid UTF-8 and unpaired surrogate escapes.
func CanonicalJSON(in []byte) ([]byte, error) {
	c := canonicalizer{in: in}
	c.space()
	out, err := c.value(0)
	if err != nil {
		return nil, err
	}
	c.space()
	if c.pos != len(c.in) {
		return nil, fmt.Errorf("JSON: unexpected %s after the value at offset %d", c.describe(), c.pos)
	}
	return out, nil
}

// canonicalDetail returns the canonical form of an entry's detail: nil for
// an absent, null or empty detail, otherwise a canonical JSON object.
func canonicalDetail(d []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(d)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	if trimmed[0] != '{' {
		return nil, errors.New("detail is not a JSON object")
	}
	out, err := CanonicalJSON(trimmed)
	if err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	if string(out) == "{}" {
		return nil, nil
	}
	return out, nil
}

type canonicalizer struct {
	in  []byte
	pos int
}

func (c *canonicalizer) space() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) describe() string {
	if c.pos >= len(c.in) {
		return "end of input"
	}
	return fmt.Sprintf("character %q", c.in[c.pos])
}

func (c *canonicalizer) fail(what string) error {
	return fmt.Errorf("JSON: %s at offset %d, found %s", what, c.pos, c.describe())
}

func (c *canonicalizer) value(depth int) ([]byte, error) {
	if c.pos >= len(c.in) {
		return nil, c.fail("expected a value")
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		s, err := c.str()
		if err != nil {
			return nil, err
		}
		return appendString(nil, s), nil
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(c.in[c.pos:], []byte(lit)) {
			c.pos += len(lit)
			return []byte(lit), nil
		}
	}
	return nil, c.fail("expected a value")
}

func (c *canonicalizer) object(depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, c.fail(fmt.Sprintf("more than %d levels of nesting", maxDepth))
	}
	c.pos++ // {
	type member struct {
		key   string
		value []byte
	}
	var members []member
	seen := map[string]bool{}
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		return []byte("{}"), nil
	}
	for {
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return nil, c.fail("expected an object key")
		}
		key, err := c.str()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("JSON: object key %q appears twice", key)
		}
		seen[key] = true
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return nil, c.fail("expected ':'")
		}
		c.pos++
		c.space()
		v, err := c.value(depth)
		if err != nil {
			return nil, err
		}
		members = append(members, member{key, v})
		c.space()
		if c.pos < len(c.in) && c.in[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.pos < len(c.in) && c.in[c.pos] == '}' {
			c.pos++
			break
		}
		return nil, c.fail("expected ',' or '}'")
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out := []byte{'{'}
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

func (c *canonicalizer) array(depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, c.fail(fmt.Sprintf("more than %d levels of nesting", maxDepth))
	}
	c.pos++ // [
	out := []byte{'['}
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		return append(out, ']'), nil
	}
	for first := true; ; first = false {
		c.space()
		v, err := c.value(depth)
		if err != nil {
			return nil, err
		}
		if !first {
			out = append(out, ',')
		}
		out = append(out, v...)
		c.space()
		if c.pos < len(c.in) && c.in[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.pos < len(c.in) && c.in[c.pos] == ']' {
			c.pos++
			return append(out, ']'), nil
		}
		return nil, c.fail("expected ',' or ']'")
	}
}

// str decodes a JSON string starting at the opening quote.
func (c *canonicalizer) str() (string, error) {
	c.pos++ // "
	var b strings.Builder
	for {
		if c.pos >= len(c.in) {
			return "", c.fail("unterminated string")
		}
		ch := c.in[c.pos]
		switch {
		case ch == '"':
			c.pos++
			return b.String(), nil
		case ch == '\\':
			r, err := c.escape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case ch < 0x20:
			return "", c.fail("control character in a string")
		case ch < utf8.RuneSelf:
			b.WriteByte(ch)
			c.pos++
		default:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", c.fail("invalid UTF-8 in a string")
			}
			b.WriteRune(r)
			c.pos += size
		}
	}
}

// escape decodes one escape sequence starting at the backslash.
func (c *canonicalizer) escape() (rune, error) {
	if c.pos+1 >= len(c.in) {
		return 0, c.fail("unterminated escape")
	}
	var r rune
	switch c.in[c.pos+1] {
	case '"':
		r = '"'
	case '\\':
		r = '\\'
	case '/':
		r = '/'
	case 'b':
		r = '\b'
	case 'f':
		r = '\f'
	case 'n':
		r = '\n'
	case 'r':
		r = '\r'
	case 't':
		r = '\t'
	case 'u':
		return c.unicodeEscape()
	default:
		return 0, c.fail("unknown escape")
	}
	c.pos += 2
	return r, nil
}

// unicodeEscape decodes a \uXXXX escape, or a surrogate pair of two.
func (c *canonicalizer) unicodeEscape() (rune, error) {
	r1, ok := c.hex4(c.pos + 2)
	if !ok {
		return 0, c.fail(`malformed \u escape`)
	}
	c.pos += 6
	if !utf16.IsSurrogate(r1) {
		return r1, nil
	}
	if r1 < 0xdc00 && c.pos+1 < len(c.in) && c.in[c.pos] == '\\' && c.in[c.pos+1] == 'u' {
		if r2, ok := c.hex4(c.pos + 2); ok {
			if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
				c.pos += 6
				return r, nil
			}
		}
	}
	return 0, c.fail("unpaired surrogate escape")
}

func (c *canonicalizer) hex4(at int) (rune, bool) {
	if at+4 > len(c.in) {
		return 0, false
	}
	var r rune
	for _, h := range c.in[at : at+4] {
		var v byte
		switch {
		case h >= '0' && h <= '9':
			v = h - '0'
		case h >= 'a' && h <= 'f':
			v = h - 'a' + 10
		case h >= 'A' && h <= 'F':
			v = h - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// number parses a JSON number and returns its canonical form.
func (c *canonicalizer) number() ([]byte, error) {
	start := c.pos
	neg := false
	if c.in[c.pos] == '-' {
		neg = true
		c.pos++
	}
	digitsFrom := func() string {
		from := c.pos
		for c.pos < len(c.in) && c.in[c.pos] >= '0' && c.in[c.pos] <= '9' {
			c.pos++
		}
		return string(c.in[from:c.pos])
	}
	intPart := digitsFrom()
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		c.pos = start
		return nil, c.fail("malformed number")
	}
	var frac string
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		if frac = digitsFrom(); frac == "" {
			return nil, c.fail("malformed number: no digits after the decimal point")
		}
	}
	var exp int64
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		c.pos++
		expNeg := false
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			expNeg = c.in[c.pos] == '-'
			c.pos++
		}
		raw := digitsFrom()
		if raw == "" {
			return nil, c.fail("malformed number: no digits in the exponent")
		}
		ed := strings.TrimLeft(raw, "0")
		if len(ed) > maxExponentDigits {
			return nil, fmt.Errorf("JSON: number exponent at offset %d is too large", start)
		}
		if ed != "" {
			exp, _ = strconv.ParseInt(ed, 10, 64)
		}
		if expNeg {
			exp = -exp
		}
	}
	return canonicalNumber(neg, intPart+frac, exp-int64(len(frac))), nil
}

// canonicalNumber formats the value ±digits×10^exp: the shortest digit
// string, laid out as ECMAScript prints numbers.
func canonicalNumber(neg bool, digits string, exp int64) []byte {
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return []byte("0")
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	digits = trimmed
	n := int64(len(digits))
	point := n + exp // digits before the decimal point
	var out []byte
	if neg {
		out = append(out, '-')
	}
	switch {
	case exp >= 0 && point <= 21:
		out = append(out, digits...)
		out = append(out, strings.Repeat("0", int(exp))...)
	case point > 0 && point <= 21:
		out = append(out, digits[:point]...)
		out = append(out, '.')
		out = append(out, digits[point:]...)
	case point > -6 && point <= 0:
		out = append(out, "0."...)
		out = append(out, strings.Repeat("0", int(-point))...)
		out = append(out, digits...)
	default:
		out = append(out, digits[0])
		if n > 1 {
			out = append(out, '.')
			out = append(out, digits[1:]...)
		}
		out = append(out, 'e')
		if point-1 >= 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, point-1, 10)
	}
	return out
}

// appendString appends s as a canonical JSON string: quote, backslash and
// control characters escaped (\b \f \n \r \t, others as \u00xx), all other
// characters as UTF-8.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '"':
			out = append(out, '\\', '"')
		case '\\':
			out = append(out, '\\', '\\')
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			if ch < 0x20 {
				out = append(out, fmt.Sprintf(`\u%04x`, ch)...)
			} else {
				out = append(out, ch)
			}
		}
	}
	return append(out, '"')
}
