package filter

import (
	"strings"
	"unicode/utf8"
)

// tokenKind is the kind of one element of a compiled glob.
type tokenKind uint8

const (
	tokLiteral tokenKind = iota // a run of characters matched exactly
	tokAny                      // ?: any one character
	tokStar                     // *: any run of characters, possibly empty
	tokClass                    // [...]: one character in (or not in) a set
)

// token is one element of a glob that matches within a single path element.
type token struct {
	kind  tokenKind
	lit   string
	class *charClass
}

// glob is a compiled pattern for one path element.
type glob []token

// match reports whether the glob matches the whole of s. It runs in
// O(len(g)·len(s)): on a mismatch it retries from the most recent star,
// letting that star take one more character.
func (g glob) match(s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(g) {
			if g[ti].kind == tokStar {
				starTi, starSi = ti, si
				ti++
				continue
			}
			if n, ok := g[ti].match(s[si:]); ok {
				ti++
				si += n
				continue
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starSi:])
		starSi += w
		ti, si = starTi+1, starSi
	}
}

// match matches a non-star token at the start of s and returns how many
// bytes it consumed.
func (t token) match(s string) (int, bool) {
	switch t.kind {
	case tokLiteral:
		return len(t.lit), strings.HasPrefix(s, t.lit)
	case tokAny, tokClass:
		if s == "" {
			return 0, false
		}
		r, w := utf8.DecodeRuneInString(s)
		if t.kind == tokClass && !t.class.contains(r, s[:w]) {
			return 0, false
		}
		return w, true
	}
	return 0, false
}
