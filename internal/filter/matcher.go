package filter

import (
	"fmt"
	"strings"
)

// Matcher decides which paths exclude patterns leave out of a backup.
//
// Patterns follow gitignore(5):
//   - Blank lines and lines starting with "#" are ignored; trailing spaces
//     are dropped unless escaped with a backslash.
//   - A leading "!" negates a pattern: a path it matches is included again.
//     The last pattern that matches a path decides.
//   - A trailing "/" makes a pattern match directories only.
//   - A pattern with a slash at its start or in its middle is anchored: it
//     matches the path relative to the backup root. Any other pattern
//     matches the base name at any depth.
//   - "*" matches any run of characters except "/", "?" any one character
//     except "/", and "[...]" one character of a set, with ranges such as
//     "a-z", negation by a leading "!" or "^", and POSIX classes such as
//     "[:digit:]".
//   - "**" as a whole path element matches any number of directories:
//     "**/x" matches x anywhere, "a/**/b" matches a/b, a/x/b and a/x/y/b,
//     and "a/**" matches everything inside a, but not a itself. Other runs
//     of asterisks act like a single "*".
//   - A backslash makes the next character literal, as in "\#", "\!",
//     "\*" or "\ ".
//
// Match answers for one path at a time. As in gitignore, a path inside an
// excluded directory cannot be included again; a walker gets this by never
// descending into a directory that Match excludes.
//
// A nil *Matcher excludes nothing.
type Matcher struct {
	patterns []pattern
}

// PatternError reports an invalid pattern and its line, counted from 1.
type PatternError struct {
	Line    int
	Pattern string
	Err     error
}

// Error implements error.
func (e *PatternError) Error() string {
	return fmt.Sprintf("exclude pattern %q on line %d: %v", e.Pattern, e.Line, e.Err)
}

// Unwrap returns the underlying problem.
func (e *PatternError) Unwrap() error { return e.Err }

// New compiles patterns, one per element, as lines of a gitignore file.
// Line numbers in errors count elements from 1, so the lines returned by
// ReadFile give errors that point into the file.
func New(patterns []string) (*Matcher, error) {
	m := &Matcher{}
	for i, line := range patterns {
		p, skip, err := parsePattern(line)
		if err != nil {
			return nil, &PatternError{Line: i + 1, Pattern: line, Err: err}
		}
		if !skip {
			m.patterns = append(m.patterns, p)
		}
	}
	return m, nil
}

// Match reports whether the path rel is excluded. rel is slash-separated and
// relative to the backup root; isDir tells whether it names a directory.
// The backup root itself ("" or ".") is never excluded.
func (m *Matcher) Match(rel string, isDir bool) bool {
	if m == nil {
		return false
	}
	rel = strings.Trim(rel, "/")
	if rel == "" || rel == "." {
		return false
	}
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	var parts []string
	for i := len(m.patterns) - 1; i >= 0; i-- {
		p := &m.patterns[i]
		if p.dirOnly && !isDir {
			continue
		}
		var ok bool
		if p.anchored {
			if parts == nil {
				parts = splitPath(rel)
			}
			ok = matchElements(p.elems, parts)
		} else {
			ok = p.elems[0].glob.match(base)
		}
		if ok {
			return !p.negate
		}
	}
	return false
}

// splitPath splits a slash-separated path into its non-empty elements.
func splitPath(rel string) []string {
	parts := make([]string, 0, strings.Count(rel, "/")+1)
	for part := range strings.SplitSeq(rel, "/") {
		if part != "" {
			parts = append(parts, part)
		}
	}
	return parts
}
