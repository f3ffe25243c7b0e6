package fsmeta

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRel(t *testing.T) {
	for _, rel := range []string{".", "a", "a/b", "a/b/c", "...", "a/..b", "..a/b", "a b/c\\d"} {
		if err := checkRel(rel); err != nil {
			t.Errorf("checkRel(%q) = %v", rel, err)
		}
	}
	for _, rel := range []string{"", "..", "../a", "a/../b", "a/..", "/a", "./a", "a/", "a//b", "a/./b", "a\x00"} {
		if err := checkRel(rel); !errors.Is(err, ErrBadPath) {
			t.Errorf("checkRel(%q) = %v, want ErrBadPath", rel, err)
		}
	}
}

func FuzzCheckRel(f *testing.F) {
	for _, s := range []string{".", "a/b", "../a", "a/../b", "/etc", "a//b", "a\x00b", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if checkRel(rel) != nil {
			return
		}
		if !filepath.IsLocal(rel) {
			t.Fatalf("checkRel accepted %q, which is not local", rel)
		}
		for elem := range strings.SplitSeq(rel, "/") {
			if elem == ".." || elem == "" || (elem == "." && rel != ".") {
				t.Fatalf("checkRel accepted %q with element %q", rel, elem)
			}
		}
	})
}
