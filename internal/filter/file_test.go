package filter

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "excludes")
	content := "\uFEFF# caches\r\n*.tmp\r\n\r\n!keep.tmp\nbuild/\n[broken\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"# caches", "*.tmp", "", "!keep.tmp", "build/", "[broken"}
	if !slices.Equal(lines, want) {
		t.Fatalf("ReadFile = %q, want %q", lines, want)
	}
	_, err = New(lines)
	var pe *PatternError
	if !errors.As(err, &pe) || pe.Line != 6 {
		t.Errorf("error %v does not point at line 6", err)
	}
	m, err := New(lines[:5])
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match("x/a.tmp", false) || m.Match("keep.tmp", false) || !m.Match("build", true) {
		t.Error("patterns from the file do not match as written")
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}

func TestSplitLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", []string{""}},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"a\rb", []string{"a\rb"}},
		{"a\n\n", []string{"a", ""}},
	} {
		if got := splitLines(c.in); !slices.Equal(got, c.want) {
			t.Errorf("splitLines(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
