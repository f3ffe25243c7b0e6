package filter

import (
	"errors"
	"strings"
	"testing"
)

type matchCase struct {
	path  string
	isDir bool
	want  bool
}

func TestMatch(t *testing.T) {
	tests := []struct {
		patterns []string
		cases    []matchCase
	}{
		// Examples from gitignore(5).
		{[]string{"hello.*"}, []matchCase{
			{"hello.c", false, true}, {"a/b/hello.txt", true, true}, {"hello", false, false}, {"ahello.c", false, false},
		}},
		{[]string{"foo/"}, []matchCase{
			{"foo", true, true}, {"a/foo", true, true}, {"foo", false, false}, {"a/foo", false, false},
		}},
		{[]string{"doc/frotz/"}, []matchCase{
			{"doc/frotz", true, true}, {"a/doc/frotz", true, false}, {"doc/frotz", false, false},
		}},
		{[]string{"frotz/"}, []matchCase{{"frotz", true, true}, {"a/frotz", true, true}}},
		{[]string{"/bar"}, []matchCase{{"bar", false, true}, {"bar", true, true}, {"a/bar", false, false}}},
		{[]string{"doc/frotz"}, []matchCase{{"doc/frotz", false, true}, {"doc/frotz", true, true}, {"a/doc/frotz", false, false}}},
		{[]string{"/doc/frotz"}, []matchCase{{"doc/frotz", false, true}, {"a/doc/frotz", false, false}}},
		{[]string{"foo/*"}, []matchCase{
			{"foo/test.json", false, true}, {"foo/bar", true, true}, {"foo/bar/hello.c", false, false}, {"foo", true, false},
		}},
		{[]string{"**/foo"}, []matchCase{{"foo", false, true}, {"a/foo", true, true}, {"a/b/foo", false, true}, {"foo/a", false, false}}},
		{[]string{"**/foo/bar"}, []matchCase{
			{"foo/bar", false, true}, {"x/foo/bar", false, true}, {"x/y/foo/bar", true, true}, {"foo/x/bar", false, false},
		}},
		{[]string{"abc/**"}, []matchCase{
			{"abc/x", false, true}, {"abc/x/y", false, true}, {"abc", true, false}, {"x/abc/y", false, false},
		}},
		{[]string{"a/**/b"}, []matchCase{
			{"a/b", false, true}, {"a/x/b", false, true}, {"a/x/y/b", false, true}, {"a/x/y/c", false, false}, {"b", false, false},
		}},
		{[]string{"**"}, []matchCase{{"a", false, true}, {"a/b/c", true, true}}},
		{[]string{"/**"}, []matchCase{{"a", false, true}, {"a/b/c", true, true}}},
		{[]string{"a**b"}, []matchCase{{"axyb", false, true}, {"x/ab", false, true}, {"a/x/b", false, false}}},
		{[]string{"a/**/**/b"}, []matchCase{{"a/b", false, true}, {"a/1/2/3/b", false, true}}},
		{[]string{"**/x/**"}, []matchCase{{"x/1", false, true}, {"p/x/1/2", false, true}, {"p/x", true, false}}},
		{[]string{"a/*/c"}, []matchCase{{"a/b/c", false, true}, {"a/c", false, false}, {"a/b/b/c", false, false}}},
		// Negation: the last matching pattern wins.
		{[]string{"*.html", "!foo.html"}, []matchCase{{"a.html", false, true}, {"foo.html", false, false}, {"d/foo.html", false, false}}},
		{[]string{"!foo.html", "*.html"}, []matchCase{{"foo.html", false, true}}},
		{[]string{"/*", "!/foo", "/foo/*", "!/foo/bar"}, []matchCase{
			{"x", false, true}, {"foo", true, false}, {"foo/baz", false, true}, {"foo/bar", true, false},
		}},
		{[]string{"*.log", "!important/", "!keep.log"}, []matchCase{
			{"a.log", false, true}, {"keep.log", false, false}, {"important", true, false}, {"important", false, false},
		}},
		// Comments, blank lines, spaces and escapes.
		{[]string{"# comment", "", "   ", "\\#hash", "\\!bang", "trail  ", "esc\\ "}, []matchCase{
			{"# comment", false, false}, {"#hash", false, true}, {"!bang", false, true},
			{"trail", false, true}, {"trail  ", false, false}, {"esc ", false, true}, {"esc", false, false},
		}},
		{[]string{"\\*", "q\\?", "\\[x]", "back\\\\slash"}, []matchCase{
			{"*", false, true}, {"a", false, false}, {"q?", false, true}, {"qa", false, false},
			{"[x]", false, true}, {"x", false, false}, {"back\\slash", false, true},
		}},
		{[]string{"!\\!x"}, []matchCase{{"!x", false, false}}},
		// Wildcards and bracket expressions.
		{[]string{"?.c"}, []matchCase{{"a.c", false, true}, {"ab.c", false, false}, {".c", false, false}}},
		{[]string{"caf?"}, []matchCase{{"café", false, true}, {"cafés", false, false}}},
		{[]string{"[abc].txt"}, []matchCase{{"b.txt", false, true}, {"d.txt", false, false}}},
		{[]string{"[!abc].txt", "[^xyz].md"}, []matchCase{{"b.txt", false, false}, {"d.txt", false, true}, {"x.md", false, false}, {"a.md", false, true}}},
		{[]string{"file[0-9][0-9]"}, []matchCase{{"file42", false, true}, {"file4x", false, false}}},
		{[]string{"[]]", "[a-]"}, []matchCase{{"]", false, true}, {"-", false, true}, {"a", false, true}, {"b", false, false}}},
		{[]string{"[[:digit:]][[:upper:]]"}, []matchCase{{"1A", false, true}, {"1a", false, false}, {"AA", false, false}}},
		{[]string{"[\\]x]"}, []matchCase{{"]", false, true}, {"x", false, true}, {"\\", false, false}}},
		{[]string{"[ä-ö]"}, []matchCase{{"ö", false, true}, {"ü", false, false}}},
		{[]string{"*.o"}, []matchCase{{".o", false, true}, {"a/b.o", false, true}, {"a.o/x", false, false}}},
		{[]string{"a*b*c"}, []matchCase{{"abc", false, true}, {"aXbYbZc", false, true}, {"acb", false, false}}},
		// Path forms that Match tolerates.
		{[]string{"/a/b"}, []matchCase{{"/a/b/", false, true}, {"a//b", false, true}, {"", true, false}, {".", true, false}}},
	}
	for _, tt := range tests {
		m, err := New(tt.patterns)
		if err != nil {
			t.Fatalf("New(%q): %v", tt.patterns, err)
		}
		for _, c := range tt.cases {
			if got := m.Match(c.path, c.isDir); got != c.want {
				t.Errorf("patterns %q: Match(%q, dir=%v) = %v, want %v", tt.patterns, c.path, c.isDir, got, c.want)
			}
		}
	}
}

func TestNilAndEmptyMatcher(t *testing.T) {
	var m *Matcher
	if m.Match("a", false) {
		t.Error("nil matcher excluded a path")
	}
	m, err := New([]string{"# only a comment", ""})
	if err != nil {
		t.Fatal(err)
	}
	if m.Match("a", true) {
		t.Error("comment-only matcher excluded a path")
	}
}

func TestInvalidPatterns(t *testing.T) {
	for _, c := range []struct {
		pattern string
		problem string
	}{
		{"[abc", "unterminated"},
		{"a/[b/c", "unterminated"},
		{"foo\\", "trailing backslash"},
		{"[a\\", "trailing backslash"},
		{"!", "empty"},
		{"/", "empty"},
		{"!/", "empty"},
		{"a//b", "empty path element"},
		{"//a", "empty path element"},
		{"[z-a]", "invalid range"},
		{"[[:nope:]]", "unknown character class"},
		{"[[:alpha", "unterminated"},
	} {
		_, err := New([]string{"ok", "# fine", c.pattern})
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("New(%q) = %v, want a PatternError", c.pattern, err)
			continue
		}
		if pe.Line != 3 || pe.Pattern != c.pattern || !strings.Contains(err.Error(), c.problem) ||
			!strings.Contains(err.Error(), "line 3") {
			t.Errorf("New(%q) error %q (line %d)", c.pattern, err, pe.Line)
		}
	}
}
