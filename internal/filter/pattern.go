package filter

import (
	"errors"
	"strings"
)

// pattern is one compiled exclude pattern.
type pattern struct {
	negate   bool // "!": a match includes the path again
	dirOnly  bool // trailing "/": matches directories only
	anchored bool // matched against the whole path, not only the base name
	elems    []element
}

// element matches path elements: a glob matches exactly one, a "**"
// element any number, including none.
type element struct {
	anyDepth bool
	glob     glob
}

var (
	errTrailingBackslash = errors.New("trailing backslash escapes nothing")
	errEmptyPattern      = errors.New("pattern is empty")
	errEmptyElement      = errors.New("empty path element (double slash)")
)

// parsePattern compiles one line of patterns. skip is true for blank lines
// and comments.
func parsePattern(line string) (p pattern, skip bool, err error) {
	line = trimTrailingSpaces(line)
	if line == "" || line[0] == '#' {
		return pattern{}, true, nil
	}
	if line[0] == '!' {
		p.negate = true
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly = true
		line = line[:len(line)-1]
	}
	if strings.HasPrefix(line, "/") {
		p.anchored = true
		line = line[1:]
	}
	if line == "" {
		return pattern{}, false, errEmptyPattern
	}
	if p.elems, err = compileElements(line); err != nil {
		return pattern{}, false, err
	}
	if len(p.elems) > 1 {
		p.anchored = true
	}
	if !p.anchored && p.elems[0].anyDepth {
		// A lone "**" without a slash is a base-name glob like "*".
		p.elems[0] = element{glob: glob{{kind: tokStar}}}
	}
	if last := len(p.elems) - 1; p.elems[last].anyDepth {
		// A trailing "/**" matches everything inside, but not the
		// directory itself: it needs at least one more element.
		p.elems[last] = element{glob: glob{{kind: tokStar}}}
		p.elems = append(p.elems, element{anyDepth: true})
	}
	return p, false, nil
}

// trimTrailingSpaces drops trailing spaces that are not escaped with a
// backslash.
func trimTrailingSpaces(s string) string {
	for strings.HasSuffix(s, " ") {
		body := s[:len(s)-1]
		if trailingBackslashes(body)%2 == 1 {
			break
		}
		s = body
	}
	return s
}

func trailingBackslashes(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// compileElements splits a pattern at unescaped slashes outside bracket
// expressions and compiles each element.
func compileElements(s string) ([]element, error) {
	var elems []element
	var g glob
	start := 0
	for i := 0; ; {
		if i == len(s) || s[i] == '/' {
			if i == start {
				return nil, errEmptyElement
			}
			elems = append(elems, element{anyDepth: s[start:i] == "**", glob: g})
			if i == len(s) {
				return elems, nil
			}
			g, start = nil, i+1
			i++
			continue
		}
		n, err := g.add(s[i:])
		if err != nil {
			return nil, err
		}
		i += n
	}
}

// add appends the token at the start of s to the glob and returns how many
// bytes of s it used.
func (g *glob) add(s string) (int, error) {
	switch s[0] {
	case '*':
		if len(*g) == 0 || (*g)[len(*g)-1].kind != tokStar {
			*g = append(*g, token{kind: tokStar})
		}
		return 1, nil
	case '?':
		*g = append(*g, token{kind: tokAny})
		return 1, nil
	case '[':
		c, n, err := parseClass(s[1:])
		if err != nil {
			return 0, err
		}
		*g = append(*g, token{kind: tokClass, class: c})
		return 1 + n, nil
	case '\\':
		if len(s) == 1 {
			return 0, errTrailingBackslash
		}
		g.addLiteral(s[1:2])
		return 2, nil
	}
	g.addLiteral(s[:1])
	return 1, nil
}

// addLiteral appends text, merging it with a preceding literal.
func (g *glob) addLiteral(text string) {
	if n := len(*g); n > 0 && (*g)[n-1].kind == tokLiteral {
		(*g)[n-1].lit += text
		return
	}
	*g = append(*g, token{kind: tokLiteral, lit: text})
}

// matchElements reports whether elems match all of parts. A "**" element
// works like a star over whole path elements, with the same backtracking
// as glob.match.
func matchElements(elems []element, parts []string) bool {
	ei, pi := 0, 0
	starEi, starPi := -1, 0
	for {
		if ei < len(elems) {
			if elems[ei].anyDepth {
				starEi, starPi = ei, pi
				ei++
				continue
			}
			if pi < len(parts) && elems[ei].glob.match(parts[pi]) {
				ei++
				pi++
				continue
			}
		} else if pi == len(parts) {
			return true
		}
		if starEi < 0 || starPi >= len(parts) {
			return false
		}
		starPi++
		ei, pi = starEi+1, starPi
	}
}
