package filter

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzMatcher(f *testing.F) {
	seeds := []struct {
		patterns, path string
		isDir          bool
	}{
		{"*.o\n!keep.o", "a/keep.o", false},
		{"/build/\n**/cache/**", "x/cache/y/z", false},
		{"a/**/b", "a/x/y/b", true},
		{"[!a-c][[:digit:]]?\\*", "d1x*", false},
		{"# c\r\n\\#x \\ \n", "#x  ", false},
		{"[", "[", false},
		{"**/**/**/**/**/**/a*a*a*a*a*b", strings.Repeat("a/", 30) + strings.Repeat("a", 40), false},
		{"[]-]\n[^]]", "]", true},
	}
	for _, s := range seeds {
		f.Add(s.patterns, s.path, s.isDir)
	}
	f.Fuzz(func(t *testing.T, patterns, rel string, isDir bool) {
		lines := splitLines(patterns)
		m, err := New(lines)
		if err != nil {
			var pe *PatternError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Line > len(lines) || lines[pe.Line-1] != pe.Pattern {
				t.Fatalf("New error %v does not name a line of the input", err)
			}
		} else {
			m.Match(rel, isDir)
		}
		checkLiteral(t, rel, isDir)
		checkAgainstPathMatch(t, patterns, rel)
	})
}

// checkLiteral asserts that a path written as a fully escaped pattern
// matches itself, anchored and, by its base name, unanchored. The root
// itself is never excluded.
func checkLiteral(t *testing.T, rel string, isDir bool) {
	parts := splitPath(rel)
	if len(parts) == 0 || strings.Trim(rel, "/") == "." || strings.ContainsAny(rel, "\r\n") {
		return
	}
	for i, p := range parts {
		parts[i] = escape(p)
	}
	for _, pat := range []string{"/" + strings.Join(parts, "/"), parts[len(parts)-1]} {
		m, err := New([]string{pat})
		if err != nil {
			t.Fatalf("escaped pattern %q: %v", pat, err)
		}
		if !m.Match(rel, isDir) {
			t.Fatalf("escaped pattern %q does not match %q", pat, rel)
		}
	}
}

func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte('\\')
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkAgainstPathMatch compares a single base-name pattern with path.Match
// where both define the same language: no gitignore syntax ('!', '#',
// trailing spaces, slashes), no POSIX classes and valid UTF-8.
func checkAgainstPathMatch(t *testing.T, pat, name string) {
	if pat == "" || name == "" || name == "." || strings.ContainsAny(pat, "/!#\r\n:") || strings.Contains(name, "/") ||
		strings.HasSuffix(pat, " ") || !utf8.ValidString(pat) || !utf8.ValidString(name) {
		return
	}
	want, err := path.Match(pat, name)
	if err != nil {
		return
	}
	m, err := New([]string{pat})
	if err != nil {
		return
	}
	if got := m.Match(name, false); got != want {
		t.Fatalf("pattern %q, name %q: Match = %v, path.Match = %v", pat, name, got, want)
	}
}
