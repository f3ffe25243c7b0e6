package plan

import (
	"cmp"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Action is what applying a file does to one plan.
type Action string

// Actions.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Change is one field that applying a file changes, in its written form.
// Old is empty for a field added, New for a field removed.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
}

// PlanChange is what applying a file does to one plan: the fields it
// gives a created plan, the fields it changes in an updated one; none for
// a deleted one.
type PlanChange struct {
	Action  Action   `json:"action"`
	Plan    string   `json:"plan"`
	Changes []Change `json:"changes,omitempty"`
}

// Diff returns what turns the plans current into desired, by name: plans
// only in desired are created, plans in both that differ are updated,
// plans only in current are deleted. Plans are compared in canonical
// form, so that applying the same file twice changes nothing. The result
// is sorted by name.
func Diff(current, desired []Plan) []PlanChange {
	cur, des := byName(current), byName(desired)
	var out []PlanChange
	for name, d := range des {
		c, ok := cur[name]
		switch {
		case !ok:
			out = append(out, PlanChange{Action: Create, Plan: name, Changes: fieldChanges(nil, flatten(d))})
		default:
			if ch := fieldChanges(flatten(c), flatten(d)); len(ch) > 0 {
				out = append(out, PlanChange{Action: Update, Plan: name, Changes: ch})
			}
		}
	}
	for name := range cur {
		if _, ok := des[name]; !ok {
			out = append(out, PlanChange{Action: Delete, Plan: name})
		}
	}
	slices.SortFunc(out, func(a, b PlanChange) int { return cmp.Compare(a.Plan, b.Plan) })
	return out
}

// byName indexes plans by name, each in canonical form when it has one.
func byName(plans []Plan) map[string]Plan {
	m := make(map[string]Plan, len(plans))
	for _, p := range plans {
		if c, err := p.Canonical(); err == nil {
			p = c
		}
		m[p.Name] = p
	}
	return m
}

// field is one leaf of a plan's written form.
type field struct{ path, value string }

// flatten lists the leaves of p's written form in its order: a list of
// values (paths, argv) is one leaf, a list of mappings gives a path per
// item, as in sources[0].host.
func flatten(p Plan) []field {
	var n yaml.Node
	if err := n.Encode(p.doc()); err != nil {
		return []field{{"", fmt.Sprintf("unencodable: %v", err)}}
	}
	var out []field
	walk(&n, "", &out)
	return out
}

func walk(n *yaml.Node, path string, out *[]field) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], join(path, n.Content[i].Value), out)
		}
	case yaml.SequenceNode:
		if scalars(n) {
			vals := make([]string, len(n.Content))
			for i, c := range n.Content {
				vals[i] = show(c.Value)
			}
			*out = append(*out, field{path, "[" + strings.Join(vals, ", ") + "]"})
			return
		}
		for i, c := range n.Content {
			walk(c, fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		*out = append(*out, field{path, show(n.Value)})
	}
}

func scalars(n *yaml.Node) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

// show quotes a value that would otherwise be hard to read: empty, with
// spaces or punctuation.
func show(v string) string {
	if v == "" || strings.ContainsAny(v, " ,[]{}:#\"'\\*&!|>%@`") || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
		return strconv.Quote(v)
	}
	return v
}

// fieldChanges lists the leaves that differ between old and new, in the
// order of the written form.
func fieldChanges(old, new []field) []Change {
	was := make(map[string]string, len(old))
	for _, f := range old {
		was[f.path] = f.value
	}
	var out []Change
	seen := make(map[string]bool, len(new))
	for _, f := range new {
		seen[f.path] = true
		if w, ok := was[f.path]; !ok || w != f.value {
			out = append(out, Change{Field: f.path, Old: was[f.path], New: f.value})
		}
	}
	for _, f := range old {
		if !seen[f.path] {
			out = append(out, Change{Field: f.path, Old: f.value})
		}
	}
	slices.SortStableFunc(out, func(a, b Change) int { return comparePaths(a.Field, b.Field) })
	return out
}

// fieldRanks orders the fields of each mapping of the written form.
var fieldRanks = func() map[string]int {
	ranks := make(map[string]int)
	for _, t := range []reflect.Type{
		reflect.TypeFor[planDoc](), reflect.TypeFor[scheduleDoc](), reflect.TypeFor[sourceDoc](), reflect.TypeFor[stdinDoc](),
		reflect.TypeFor[retentionDoc](), reflect.TypeFor[lifecycleDoc](), reflect.TypeFor[copyDoc](), reflect.TypeFor[hooksDoc](), reflect.TypeFor[hookDoc](),
	} {
		for i, name := range fieldNames(t) {
			if _, ok := ranks[name]; !ok {
				ranks[name] = i
			}
		}
	}
	return ranks
}()

// comparePaths orders two field paths as the written form lists them:
// fields by their place in their mapping, list items by index.
func comparePaths(a, b string) int {
	as, bs := splitPath(a), splitPath(b)
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := as[i], bs[i]
		if c := cmp.Compare(x.index, y.index); c != 0 {
			return c
		}
		if c := cmp.Compare(fieldRanks[x.name], fieldRanks[y.name]); c != 0 {
			return c
		}
		if c := cmp.Compare(x.name, y.name); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

// segment is a field name, or a list index when index is not -1.
type segment struct {
	name  string
	index int
}

func splitPath(p string) []segment {
	var out []segment
	for _, part := range strings.Split(p, ".") {
		name, rest, _ := strings.Cut(part, "[")
		out = append(out, segment{name: name, index: -1})
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			n, _ := strconv.Atoi(num)
			out = append(out, segment{index: n})
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}

// WriteDiff writes changes as bunker apply --dry-run shows them: a line
// per plan marked + (create), ~ (update) or - (delete), the fields below
// it, and a count at the end.
func WriteDiff(w io.Writer, changes []PlanChange) error {
	var b strings.Builder
	counts := map[Action]int{}
	for _, pc := range changes {
		counts[pc.Action]++
		mark := map[Action]string{Create: "+", Update: "~", Delete: "-"}[pc.Action]
		fmt.Fprintf(&b, "%s plan %q (%s)\n", mark, pc.Plan, pc.Action)
		for _, c := range pc.Changes {
			switch {
			case pc.Action == Create:
				fmt.Fprintf(&b, "    %s: %s\n", c.Field, c.New)
			case c.Old == "":
				fmt.Fprintf(&b, "    + %s: %s\n", c.Field, c.New)
			case c.New == "":
				fmt.Fprintf(&b, "    - %s: %s\n", c.Field, c.Old)
			default:
				fmt.Fprintf(&b, "    ~ %s: %s → %s\n", c.Field, c.Old, c.New)
			}
		}
	}
	if len(changes) == 0 {
		b.WriteString("no changes: the plans are as the file says\n")
	} else {
		fmt.Fprintf(&b, "%d to create, %d to update, %d to delete\n", counts[Create], counts[Update], counts[Delete])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
