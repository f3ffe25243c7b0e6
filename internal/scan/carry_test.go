package scan

import "testing"

func TestCarry(t *testing.T) {
	var prev []Evidence
	for i := range 20 {
		prev = append(prev, Evidence{Path: "/data/f" + string(rune('a'+i)), Reason: "text turned random", Weight: 1, Strong: true})
	}
	prev = append(prev, Evidence{Path: "*.lockd", Reason: "mass rename", Weight: 3, Strong: true},
		Evidence{Path: "/data/new", Reason: "a new random file", Weight: 0.1})
	touch := func(n int) []Change {
		var cs []Change
		for i := range n {
			p := prev[i].Path
			cs = append(cs, Change{Kind: Modified, Old: &FileRef{Path: p}, New: &FileRef{Path: p}})
		}
		return cs
	}
	for _, c := range []struct {
		prev    Level
		touched int
		want    Level
		kept    int
	}{
		{Infected, 0, Infected, 20},     // nothing changed: as infected as before
		{Infected, 10, Infected, 10},    // half still there
		{Infected, 15, Suspicious, 5},   // a few left
		{Infected, 20, Clean, 0},        // every file replaced
		{Suspicious, 0, Suspicious, 20}, // a suspicious point stays so
		{Clean, 0, Clean, 0},
	} {
		lvl, kept := Carry(c.prev, prev, touch(c.touched), Options{})
		if lvl != c.want || len(kept) != c.kept {
			t.Errorf("previous %s, %d files touched: got %s with %d findings, want %s with %d", c.prev, c.touched, lvl, len(kept), c.want, c.kept)
		}
		for _, e := range kept {
			if !e.Strong || e.Path == "*.lockd" || e.Path == "/data/new" {
				t.Errorf("carried %+v: only strong file findings carry", e)
			}
		}
	}
	v := Verdict{Level: Clean, Score: 0.5}.WithCarried(Infected, prev[:3])
	if v.Level != Infected || v.Score != 3.5 || len(v.Evidence) != 3 {
		t.Errorf("WithCarried: %+v", v)
	}
}
