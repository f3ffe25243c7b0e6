package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestParseGrouping(t *testing.T) {
	tests := []struct {
		in      string
		want    Grouping
		wantErr string
	}{
		{in: "", want: Grouping{Host: true, Paths: true}},
		{in: "host", want: Grouping{Host: true}},
		{in: "paths", want: Grouping{Paths: true}},
		{in: "host,paths", want: Grouping{Host: true, Paths: true}},
		{in: "paths, host", want: Grouping{Host: true, Paths: true}},
		{in: "host,paths,tags", want: Grouping{Host: true, Paths: true, Tags: true}},
		{in: "none", want: Grouping{}},
		{in: "host,", wantErr: "empty field"},
		{in: ",", wantErr: "empty field"},
		{in: "Host", wantErr: `unknown field "Host"`},
		{in: "host,none", wantErr: `unknown field "none"`},
		{in: "host,host", wantErr: `"host" given twice`},
	}
	for _, tt := range tests {
		got, err := ParseGrouping(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseGrouping(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseGrouping(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, err := ParseGrouping(got.String()); err != nil || back != got {
			t.Errorf("ParseGrouping(%q) does not round-trip: %+v, %v", got.String(), back, err)
		}
	}
}

func TestGroupByDefault(t *testing.T) {
	points := []Point{
		{ID: "1", Host: "web1", Paths: []string{"/etc", "/home"}},
		{ID: "2", Host: "web1", Paths: []string{"/home", "/etc", "/etc"}},
		{ID: "3", Host: "web1", Paths: []string{"/etc"}},
		{ID: "4", Host: "web2", Paths: []string{"/etc", "/home"}},
		{ID: "5", Host: "web1", Paths: []string{"/etc", "/home"}},
	}
	groups, err := GroupBy(points, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		`host="web1" paths=["/etc","/home"]`: {"1", "2", "5"},
		`host="web1" paths=["/etc"]`:         {"3"},
		`host="web2" paths=["/etc","/home"]`: {"4"},
	}
	if len(groups) != len(want) {
		t.Fatalf("got %d groups %v, want %d", len(groups), groups, len(want))
	}
	for k, wantIDs := range want {
		var got []string
		for _, p := range groups[k] {
			got = append(got, p.ID)
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("group %s = %v, want %v", k, got, wantIDs)
		}
	}
}

func TestGroupByFields(t *testing.T) {
	points := []Point{
		{ID: "1", Host: "a", Paths: []string{"/x"}, Tags: []string{"t"}},
		{ID: "2", Host: "b", Paths: []string{"/x"}},
		{ID: "3", Host: "a", Paths: []string{"/y"}, Tags: []string{"t"}},
	}
	tests := []struct {
		by   string
		want int
	}{
		{"host", 2}, {"paths", 2}, {"tags", 2}, {"host,tags", 2}, {"host,paths", 3}, {"none", 1},
	}
	for _, tt := range tests {
		groups, err := GroupBy(points, tt.by)
		if err != nil {
			t.Fatalf("GroupBy(%q): %v", tt.by, err)
		}
		if len(groups) != tt.want {
			t.Errorf("GroupBy(%q) made %d groups, want %d: %v", tt.by, len(groups), tt.want, groups)
		}
	}
	if _, err := GroupBy(points, "hostname"); err == nil {
		t.Error("GroupBy with an unknown field succeeded")
	}
}

// Hosts and paths are chosen by whoever names a machine or a directory; a
// crafted name must not merge its points into another group, where the
// rules of that group would forget them.
func TestGroupKeysDoNotCollide(t *testing.T) {
	pairs := [][2]Point{
		{{Host: "a,b", Paths: []string{"c"}}, {Host: "a", Paths: []string{"b,c"}}},
		{{Host: "a", Paths: []string{"/x,/y"}}, {Host: "a", Paths: []string{"/x", "/y"}}},
		{{Host: `a" paths=["/x`, Paths: []string{"/y"}}, {Host: "a", Paths: []string{"/x", "/y"}}},
		{{Host: "a b", Paths: nil}, {Host: "a", Paths: []string{"b"}}},
		{{Host: "a", Paths: []string{""}}, {Host: "a", Paths: nil}},
		{{Host: "a\x00", Paths: nil}, {Host: "a", Paths: nil}},
	}
	g := Grouping{Host: true, Paths: true}
	for _, p := range pairs {
		if k0, k1 := g.Key(p[0]), g.Key(p[1]); k0 == k1 {
			t.Errorf("points %+v and %+v share key %s", p[0], p[1], k0)
		}
	}
}
