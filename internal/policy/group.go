package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultGroupBy is the grouping used when none is given.
const DefaultGroupBy = "host,paths"

// Grouping says which fields of a point separate forget groups: the rules
// are applied to each group on its own.
type Grouping struct {
	Host  bool
	Paths bool
	Tags  bool
}

// ParseGrouping parses a comma-separated list of "host", "paths" and "tags",
// or "none" for a single group. The empty string means DefaultGroupBy.
func ParseGrouping(s string) (Grouping, error) {
	if s == "" {
		s = DefaultGroupBy
	}
	if strings.TrimSpace(s) == "none" {
		return Grouping{}, nil
	}
	var g Grouping
	for _, field := range strings.Split(s, ",") {
		var flag *bool
		switch f := strings.TrimSpace(field); f {
		case "host":
			flag = &g.Host
		case "paths":
			flag = &g.Paths
		case "tags":
			flag = &g.Tags
		case "":
			return Grouping{}, fmt.Errorf("group by %q: empty field", s)
		default:
			return Grouping{}, fmt.Errorf("group by %q: unknown field %q (want host, paths, tags or none)", s, f)
		}
		if *flag {
			return Grouping{}, fmt.Errorf("group by %q: field %q given twice", s, strings.TrimSpace(field))
		}
		*flag = true
	}
	return g, nil
}

// String returns g in the form ParseGrouping accepts.
func (g Grouping) String() string {
	var fields []string
	if g.Host {
		fields = append(fields, "host")
	}
	if g.Paths {
		fields = append(fields, "paths")
	}
	if g.Tags {
		fields = append(fields, "tags")
	}
	if len(fields) == 0 {
		return "none"
	}
	return strings.Join(fields, ",")
}

// Key returns the group that p belongs to, e.g.
// `host="web1" paths=["/etc","/home"]`. Paths and tags are compared as
// sets: their order and duplicates do not matter. Every value is quoted, so
// distinct groups never share a key whatever their names contain.
func (g Grouping) Key(p Point) string {
	var parts []string
	if g.Host {
		parts = append(parts, "host="+strconv.Quote(p.Host))
	}
	if g.Paths {
		parts = append(parts, "paths="+quoteSet(p.Paths))
	}
	if g.Tags {
		parts = append(parts, "tags="+quoteSet(p.Tags))
	}
	return strings.Join(parts, " ")
}

func quoteSet(values []string) string {
	set := slices.Compact(slices.Sorted(slices.Values(values)))
	quoted := make([]string, len(set))
	for i, v := range set {
		quoted[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}

// GroupBy splits points into groups by the fields named in by (see
// ParseGrouping). Each group keeps the input order of its points.
func GroupBy(points []Point, by string) (map[string][]Point, error) {
	g, err := ParseGrouping(by)
	if err != nil {
		return nil, err
	}
	groups := make(map[string][]Point)
	for _, p := range points {
		k := g.Key(p)
		groups[k] = append(groups[k], p)
	}
	return groups, nil
}
