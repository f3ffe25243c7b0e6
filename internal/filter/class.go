package filter

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// charClass is a bracket expression such as [a-z], [!0-9] or [[:alpha:]].
type charClass struct {
	negate bool
	ranges []runeRange
	named  []func(rune) bool
	bytes  []string // invalid UTF-8 bytes, matched exactly
}

type runeRange struct{ lo, hi rune }

// namedClass returns the test for a POSIX class name such as "alpha".
func namedClass(name string) (func(rune) bool, bool) {
	switch name {
	case "alnum":
		return func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }, true
	case "alpha":
		return unicode.IsLetter, true
	case "blank":
		return func(r rune) bool { return r == ' ' || r == '\t' }, true
	case "cntrl":
		return unicode.IsControl, true
	case "digit":
		return func(r rune) bool { return '0' <= r && r <= '9' }, true
	case "graph":
		return func(r rune) bool { return unicode.IsGraphic(r) && !unicode.IsSpace(r) }, true
	case "lower":
		return unicode.IsLower, true
	case "print":
		return unicode.IsPrint, true
	case "punct":
		return unicode.IsPunct, true
	case "space":
		return unicode.IsSpace, true
	case "upper":
		return unicode.IsUpper, true
	case "xdigit":
		return func(r rune) bool { return unicode.Is(unicode.ASCII_Hex_Digit, r) }, true
	}
	return nil, false
}

// contains reports whether the class matches the character r, which was
// decoded from raw.
func (c *charClass) contains(r rune, raw string) bool {
	return c.has(r, raw) != c.negate
}

func (c *charClass) has(r rune, raw string) bool {
	if r == utf8.RuneError && len(raw) == 1 {
		for _, b := range c.bytes {
			if b == raw {
				return true
			}
		}
		return false
	}
	for _, rr := range c.ranges {
		if rr.lo <= r && r <= rr.hi {
			return true
		}
	}
	for _, f := range c.named {
		if f(r) {
			return true
		}
	}
	return false
}

var errUnterminatedClass = errors.New("unterminated [ bracket expression")

// parseClass parses a bracket expression; s starts just after the '['. It
// returns the class and the number of bytes of s it used, including the
// closing ']'.
func parseClass(s string) (*charClass, int, error) {
	c := &charClass{}
	i := 0
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		c.negate = true
		i++
	}
	for first := true; ; first = false {
		if i >= len(s) {
			return nil, 0, errUnterminatedClass
		}
		if s[i] == ']' && !first {
			return c, i + 1, nil
		}
		if s[i] == '[' && i+1 < len(s) && s[i+1] == ':' {
			n, err := c.addNamed(s[i:])
			if err != nil {
				return nil, 0, err
			}
			i += n
			continue
		}
		lo, raw, n, err := classChar(s[i:])
		if err != nil {
			return nil, 0, err
		}
		i += n
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			hi, _, m, err := classChar(s[i+1:])
			if err != nil {
				return nil, 0, err
			}
			if hi < lo {
				return nil, 0, fmt.Errorf("invalid range %q in bracket expression", s[i-n:i+1+m])
			}
			c.ranges = append(c.ranges, runeRange{lo, hi})
			i += 1 + m
			continue
		}
		if lo == utf8.RuneError && len(raw) == 1 {
			c.bytes = append(c.bytes, raw)
			continue
		}
		c.ranges = append(c.ranges, runeRange{lo, lo})
	}
}

// addNamed adds a [:name:] class; s starts at its '['.
func (c *charClass) addNamed(s string) (int, error) {
	for j := 2; j+1 < len(s); j++ {
		if s[j] == ':' && s[j+1] == ']' {
			f, ok := namedClass(s[2:j])
			if !ok {
				return 0, fmt.Errorf("unknown character class [:%s:]", s[2:j])
			}
			c.named = append(c.named, f)
			return j + 2, nil
		}
	}
	return 0, errUnterminatedClass
}

// classChar reads one possibly escaped character of a bracket expression
// and returns it, its raw bytes and the bytes used.
func classChar(s string) (rune, string, int, error) {
	start := 0
	if s[0] == '\\' {
		if len(s) == 1 {
			return 0, "", 0, errTrailingBackslash
		}
		start = 1
	}
	r, w := utf8.DecodeRuneInString(s[start:])
	return r, s[start : start+w], start + w, nil
}
