package ident

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// The rules as regular expressions: what the checks must agree with.
var (
	nameRE         = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	principalRE    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$`)
	storageClassRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	tagRE          = regexp.MustCompile(`^[^\x00-\x1f\x7f,]{1,128}$`)
)

var seeds = []string{
	"", "a", "0", "prod", "prod-eu.1_b", "-prod", ".x", "_x", "Prod", "prod!", "pro d",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65),
	"alice@example.com", "@alice", "Alice.Smith", "GLACIER", "DEEP_ARCHIVE", "1A", "A-B",
	"nightly", "tag,with,commas", "tab\there", "del\x7f", "line\nbreak", "naïve", "\xff\xfe",
	"日本語のタグ", strings.Repeat("é", 128), strings.Repeat("é", 129), strings.Repeat("x", 129),
	"trailing\n", "x\x00",
}

// agree fails t wherever a check and its regular expression differ on s.
func agree(t *testing.T, s string) {
	t.Helper()
	for _, c := range []struct {
		name string
		got  bool
		re   *regexp.Regexp
	}{
		{"Name", Name(s), nameRE},
		{"Principal", Principal(s), principalRE},
		{"StorageClass", StorageClass(s), storageClassRE},
		{"Tag", Tag(s), tagRE},
	} {
		if want := c.re.MatchString(s); c.got != want {
			t.Errorf("%s(%q) = %v, want %v", c.name, s, c.got, want)
		}
	}
}

func TestRulesMatchTheirExpressions(t *testing.T) {
	for _, s := range seeds {
		agree(t, s)
	}
}

func TestRules(t *testing.T) {
	for _, c := range []struct {
		s    string
		ok   func(string) bool
		want bool
	}{
		{"prod-eu.1_b", Name, true},
		{strings.Repeat("a", 63), Name, true},
		{strings.Repeat("a", 64), Name, false},
		{"Prod", Name, false},
		{"-prod", Name, false},
		{"", Name, false},
		{"alice@example.com", Principal, true},
		{strings.Repeat("A", 64), Principal, true},
		{strings.Repeat("A", 65), Principal, false},
		{"@alice", Principal, false},
		{"DEEP_ARCHIVE", StorageClass, true},
		{"1A", StorageClass, false},
		{"glacier", StorageClass, false},
		{"日本語のタグ", Tag, true},
		{strings.Repeat("é", MaxTagRunes), Tag, true},
		{strings.Repeat("é", MaxTagRunes+1), Tag, false},
		{"a,b", Tag, false},
		{"a\tb", Tag, false},
		{"", Tag, false},
	} {
		if got := c.ok(c.s); got != c.want {
			t.Errorf("%q: got %v, want %v", c.s, got, c.want)
		}
	}
}

// FuzzRules checks the hand-written rules against their regular
// expressions on any input.
func FuzzRules(f *testing.F) {
	fuzzseed.AddStrings(f, "FuzzRules", seeds)
	f.Fuzz(func(t *testing.T, s string) { agree(t, s) })
}
