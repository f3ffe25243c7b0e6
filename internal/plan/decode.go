package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bunkerhq/bunker/internal/ident"
	"github.com/bunkerhq/bunker/internal/policy"
	"github.com/bunkerhq/bunker/internal/schedule"
)

// Limits on what Decode reads, so that its work is bounded whatever the
// input.
const (
	// MaxFileSize bounds a plan file.
	MaxFileSize = 4 << 20
	// MaxPlans bounds the plans of one file.
	MaxPlans = 5000
)

// The file's shape. Every value is a yaml.Node, so that the decoder checks
// only the structure (and refuses unknown fields), and each value is read
// here with its path and line.
type (
	planYAML struct {
		Kind             yaml.Node      `yaml:"kind"`
		Name             yaml.Node      `yaml:"name"`
		Schedule         *scheduleYAML  `yaml:"schedule"`
		StartWindow      yaml.Node      `yaml:"start_window"`
		CompletionWindow yaml.Node      `yaml:"completion_window"`
		Sources          []sourceYAML   `yaml:"sources"`
		Vault            yaml.Node      `yaml:"vault"`
		Retention        *retentionYAML `yaml:"retention"`
		Lifecycle        *lifecycleYAML `yaml:"lifecycle"`
		Copies           []copyYAML     `yaml:"copies"`
		Hooks            *hooksYAML     `yaml:"hooks"`
	}
	scheduleYAML struct {
		Cron     yaml.Node `yaml:"cron"`
		Timezone yaml.Node `yaml:"timezone"`
		Rate     yaml.Node `yaml:"rate"`
	}
	sourceYAML struct {
		Host     yaml.Node  `yaml:"host"`
		Paths    yaml.Node  `yaml:"paths"`
		Excludes yaml.Node  `yaml:"excludes"`
		Stdin    *stdinYAML `yaml:"stdin"`
	}
	stdinYAML struct {
		Command yaml.Node `yaml:"command"`
		Name    yaml.Node `yaml:"name"`
	}
	retentionYAML struct {
		KeepLast    yaml.Node `yaml:"keep_last"`
		KeepHourly  yaml.Node `yaml:"keep_hourly"`
		KeepDaily   yaml.Node `yaml:"keep_daily"`
		KeepWeekly  yaml.Node `yaml:"keep_weekly"`
		KeepMonthly yaml.Node `yaml:"keep_monthly"`
		KeepYearly  yaml.Node `yaml:"keep_yearly"`
		KeepWithin  yaml.Node `yaml:"keep_within"`
		MaxAge      yaml.Node `yaml:"max_age"`
	}
	lifecycleYAML struct {
		ColdAfter    yaml.Node `yaml:"cold_after"`
		StorageClass yaml.Node `yaml:"storage_class"`
		ExpireAfter  yaml.Node `yaml:"expire_after"`
	}
	copyYAML struct {
		To        yaml.Node      `yaml:"to"`
		Retention *retentionYAML `yaml:"retention"`
	}
	hooksYAML struct {
		Pre  []hookYAML `yaml:"pre"`
		Post []hookYAML `yaml:"post"`
	}
	hookYAML struct {
		Argv      yaml.Node `yaml:"argv"`
		Timeout   yaml.Node `yaml:"timeout"`
		OnFailure yaml.Node `yaml:"on_failure"`
	}
)

// sections names the file's mappings by their types, for messages about
// fields they do not have.
var sections = map[string]reflect.Type{
	"plan.planYAML": reflect.TypeFor[planYAML](), "plan.scheduleYAML": reflect.TypeFor[scheduleYAML](),
	"plan.sourceYAML": reflect.TypeFor[sourceYAML](), "plan.stdinYAML": reflect.TypeFor[stdinYAML](),
	"plan.retentionYAML": reflect.TypeFor[retentionYAML](), "plan.lifecycleYAML": reflect.TypeFor[lifecycleYAML](),
	"plan.copyYAML": reflect.TypeFor[copyYAML](), "plan.hooksYAML": reflect.TypeFor[hooksYAML](),
	"plan.hookYAML": reflect.TypeFor[hookYAML](),
}

// Decode reads a file of plans, one YAML document each (JSON is read as
// well), checks every field and returns the plans in canonical form. The
// error, when some plan is refused, is Errors: every refusal with its plan,
// field and line. A file may hold no plan at all.
func Decode(r io.Reader) ([]Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read plan file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("plan file is larger than %d MiB", MaxFileSize>>20)
	}
	return decode(data)
}

func decode(data []byte) ([]Plan, error) {
	// Two decoders read the same documents in step: one into nodes, for
	// the lines of every field, one into the file's shape, refusing
	// unknown fields.
	nodes := yaml.NewDecoder(bytes.NewReader(data))
	shapes := yaml.NewDecoder(bytes.NewReader(data))
	shapes.KnownFields(true)
	var (
		plans []Plan
		errs  Errors
		names = make(map[string]int)
	)
	for doc := 1; ; doc++ {
		var root yaml.Node
		err := nodes.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("plan file: %v", err)
		}
		if doc > MaxPlans {
			return nil, fmt.Errorf("plan file holds more than %d plans", MaxPlans)
		}
		var shape planYAML
		shapeErr := shapes.Decode(&shape)
		if empty(&root) {
			continue
		}
		r := newReader(doc, &root)
		switch {
		case r.top == nil:
			r.errs = append(r.errs, r.fieldError("", "a plan is a mapping of fields such as name, schedule and sources"))
		case shapeErr != nil:
			r.errs = append(r.errs, r.shapeErrors(shapeErr)...)
		default:
			p, ok := r.check(&shape, names)
			if ok {
				plans = append(plans, p)
			}
		}
		if errs = append(errs, r.errs...); len(errs) >= maxErrors {
			return nil, errs[:maxErrors]
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return plans, nil
}

// check reads and checks the plan of a document whose shape is right.
func (r *reader) check(shape *planYAML, names map[string]int) (Plan, bool) {
	p := r.plan(shape)
	if len(r.errs) > 0 {
		return Plan{}, false
	}
	if first, dup := names[p.Name]; dup {
		r.fail("name", "plan %q is also defined in document %d of the file", p.Name, first)
		return Plan{}, false
	}
	names[p.Name] = r.doc
	canon, err := p.Canonical()
	if err != nil {
		var es Errors
		errors.As(err, &es)
		for _, e := range es {
			e.Plan = r.planLabel()
		}
		r.errs = append(r.errs, es...)
		return Plan{}, false
	}
	return canon, true
}

// DecodePlan reads a single plan, as Decode reads a file.
func DecodePlan(data []byte) (Plan, error) {
	if len(data) > MaxFileSize {
		return Plan{}, fmt.Errorf("plan is larger than %d MiB", MaxFileSize>>20)
	}
	plans, err := decode(data)
	if err != nil {
		return Plan{}, err
	}
	if len(plans) != 1 {
		return Plan{}, fmt.Errorf("expected one plan, got %d", len(plans))
	}
	return plans[0], nil
}

// empty reports whether a document holds nothing, as after a trailing
// "---" or in a file of comments.
func empty(root *yaml.Node) bool {
	if root.Kind == 0 {
		return true
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return root.Kind == yaml.DocumentNode
	}
	n := root.Content[0]
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// reader turns one document into a Plan, collecting refusals.
type reader struct {
	doc   int
	name  string
	top   *yaml.Node // the document's mapping
	lines map[string]int
	errs  Errors
}

func newReader(doc int, root *yaml.Node) *reader {
	r := &reader{doc: doc, lines: make(map[string]int)}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	r.lines[""] = n.Line
	if n.Kind != yaml.MappingNode {
		return r
	}
	r.top = n
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && ident.Name(v.Value) {
			r.name = v.Value
		}
	}
	recordLines(n, "", r.lines, 0)
	return r
}

// recordLines maps the path of every field and list item below n to its
// line.
func recordLines(n *yaml.Node, path string, lines map[string]int, depth int) {
	if depth > 16 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			if _, seen := lines[p]; !seen {
				lines[p] = n.Content[i].Line
			}
			recordLines(n.Content[i+1], p, lines, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			recordLines(c, p, lines, depth+1)
		}
	}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// planLabel names the plan in messages.
func (r *reader) planLabel() string {
	if r.name != "" {
		return r.name
	}
	return "#" + strconv.Itoa(r.doc)
}

func (r *reader) fieldError(path, format string, args ...any) *FieldError {
	return &FieldError{Plan: r.planLabel(), Field: path, Line: lineOf(r.lines, path), Msg: fmt.Sprintf(format, args...)}
}

func (r *reader) fail(path, format string, args ...any) {
	r.errs = append(r.errs, r.fieldError(path, format, args...))
}

// lineOf returns the line of path or, when it is not in the file, of the
// nearest enclosing field that is.
func lineOf(lines map[string]int, path string) int {
	for {
		if l, ok := lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		if i := strings.LastIndexAny(path, ".["); i >= 0 {
			path = path[:i]
		} else {
			path = ""
		}
	}
}

var (
	unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.*) not found in type (\S+)$`)
	duplicateKeyRE = regexp.MustCompile(`^line (\d+): mapping key "(.*)" already defined at line (\d+)$`)
	alreadySetRE   = regexp.MustCompile(`^line (\d+): field (.*) already set in type \S+$`)
	wrongShapeRE   = regexp.MustCompile(`^line (\d+): cannot unmarshal (\S+)(?: .*)? into (\S+)$`)
)

// shapeErrors turns what the YAML decoder refused into field errors.
func (r *reader) shapeErrors(err error) Errors {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Errors{r.fieldError("", "%v", err)}
	}
	var out Errors
	for _, msg := range te.Errors {
		out = append(out, r.shapeError(msg))
	}
	return out
}

func (r *reader) shapeError(msg string) *FieldError {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		path := findPath(r.top, "", line, m[2])
		known := ""
		if t, ok := sections[m[3]]; ok {
			known = "; known fields: " + strings.Join(fieldNames(t), ", ")
		}
		return &FieldError{Plan: r.planLabel(), Field: path, Line: line, Msg: fmt.Sprintf("unknown field %q%s", clip(m[2]), known)}
	}
	if m := duplicateKeyRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{Plan: r.planLabel(), Field: findPath(r.top, "", line, m[2]), Line: line, Msg: fmt.Sprintf("given twice; first at line %s", m[3])}
	}
	if m := alreadySetRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{Plan: r.planLabel(), Field: findPath(r.top, "", line, m[2]), Line: line, Msg: "given twice"}
	}
	if m := wrongShapeRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		want := "a mapping of fields"
		if strings.HasPrefix(m[3], "[]") {
			want = "a list"
		}
		return &FieldError{Plan: r.planLabel(), Field: findPath(r.top, "", line, ""), Line: line, Msg: "expected " + want}
	}
	return r.fieldError("", "%s", msg)
}

// findPath returns the path of the field at line below n, of the key named
// key when key is not empty.
func findPath(n *yaml.Node, path string, line int, key string) string {
	if n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if k.Line == line && (key == "" || k.Value == key) {
				if key == "" && v.Line == line && v.Kind != yaml.ScalarNode {
					if sub := findPath(v, p, line, key); sub != "" {
						return sub
					}
				}
				return p
			}
			if sub := findPath(v, p, line, key); sub != "" {
				return sub
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if c.Line == line && key == "" && c.Kind == yaml.ScalarNode {
				return p
			}
			if sub := findPath(c, p, line, key); sub != "" {
				return sub
			}
		}
	}
	return ""
}

// fieldNames returns the YAML names of a section's fields.
func fieldNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		names = append(names, name)
	}
	return names
}

// The plan, field by field.

func (r *reader) plan(y *planYAML) Plan {
	if kind := r.str(&y.Kind, "kind"); kind != "" && kind != "plan" {
		r.fail("kind", "this file is read as plans; a document of kind %q belongs elsewhere", clip(kind))
	}
	p := Plan{
		Name:             r.str(&y.Name, "name"),
		StartWindow:      r.interval(&y.StartWindow, "start_window"),
		CompletionWindow: r.interval(&y.CompletionWindow, "completion_window"),
		Vault:            r.str(&y.Vault, "vault"),
		lines:            r.lines,
	}
	if y.Schedule != nil {
		p.Schedule = Schedule{
			Cron:     r.str(&y.Schedule.Cron, "schedule.cron"),
			Timezone: r.str(&y.Schedule.Timezone, "schedule.timezone"),
		}
		if rate := r.str(&y.Schedule.Rate, "schedule.rate"); rate != "" {
			if parsed, err := schedule.ParseRate(rate); err != nil {
				r.fail("schedule.rate", "%v", err)
			} else {
				p.Schedule.Rate = parsed.Every
			}
		}
	}
	for i := range y.Sources {
		p.Sources = append(p.Sources, r.source(&y.Sources[i], fmt.Sprintf("sources[%d]", i)))
	}
	if y.Retention != nil {
		p.Retention = r.retention(y.Retention, "retention")
	}
	if y.Lifecycle != nil {
		p.Lifecycle = Lifecycle{
			ColdAfter:    r.span(&y.Lifecycle.ColdAfter, "lifecycle.cold_after"),
			StorageClass: r.str(&y.Lifecycle.StorageClass, "lifecycle.storage_class"),
			ExpireAfter:  r.span(&y.Lifecycle.ExpireAfter, "lifecycle.expire_after"),
		}
	}
	for i := range y.Copies {
		path := fmt.Sprintf("copies[%d]", i)
		c := Copy{To: r.str(&y.Copies[i].To, path+".to")}
		if y.Copies[i].Retention != nil {
			c.Retention = r.retention(y.Copies[i].Retention, path+".retention")
		}
		p.Copies = append(p.Copies, c)
	}
	if y.Hooks != nil {
		p.Hooks.Pre = r.hooks(y.Hooks.Pre, "hooks.pre")
		p.Hooks.Post = r.hooks(y.Hooks.Post, "hooks.post")
	}
	return p
}

func (r *reader) source(y *sourceYAML, path string) Source {
	s := Source{
		Host:     r.str(&y.Host, path+".host"),
		Paths:    r.strs(&y.Paths, path+".paths"),
		Excludes: r.strs(&y.Excludes, path+".excludes"),
	}
	if y.Stdin != nil {
		s.Stdin = &Stdin{
			Command: r.strs(&y.Stdin.Command, path+".stdin.command"),
			Name:    r.str(&y.Stdin.Name, path+".stdin.name"),
		}
	}
	return s
}

func (r *reader) retention(y *retentionYAML, path string) Retention {
	return Retention{
		Keep: policy.Rules{
			Last:    r.count(&y.KeepLast, path+".keep_last"),
			Hourly:  r.count(&y.KeepHourly, path+".keep_hourly"),
			Daily:   r.count(&y.KeepDaily, path+".keep_daily"),
			Weekly:  r.count(&y.KeepWeekly, path+".keep_weekly"),
			Monthly: r.count(&y.KeepMonthly, path+".keep_monthly"),
			Yearly:  r.count(&y.KeepYearly, path+".keep_yearly"),
			Within:  r.span(&y.KeepWithin, path+".keep_within"),
		},
		MaxAge: r.span(&y.MaxAge, path+".max_age"),
	}
}

func (r *reader) hooks(ys []hookYAML, path string) []Hook {
	var out []Hook
	for i := range ys {
		p := fmt.Sprintf("%s[%d]", path, i)
		out = append(out, Hook{
			Argv:      r.strs(&ys[i].Argv, p+".argv"),
			Timeout:   r.interval(&ys[i].Timeout, p+".timeout"),
			OnFailure: OnFailure(r.str(&ys[i].OnFailure, p+".on_failure")),
		})
	}
	return out
}

// Values.

// value returns the node behind n, nil when n is absent or null.
func value(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	return n
}

// scalar returns the text of a single value.
func (r *reader) scalar(n *yaml.Node, path string) (string, bool) {
	v := value(n)
	if v == nil {
		return "", false
	}
	if v.Kind != yaml.ScalarNode {
		r.fail(path, "expected a single value, not a list or mapping")
		return "", false
	}
	return v.Value, true
}

func (r *reader) str(n *yaml.Node, path string) string {
	s, _ := r.scalar(n, path)
	return s
}

// maxCount bounds the counts of keep rules.
const maxCount = 100000

func (r *reader) count(n *yaml.Node, path string) int {
	s, ok := r.scalar(n, path)
	if !ok {
		return 0
	}
	i, err := strconv.Atoi(s)
	if err != nil || value(n).Tag != "!!int" {
		r.fail(path, "expected a whole number, got %q", clip(s))
		return 0
	}
	if i < 0 || i > maxCount {
		r.fail(path, "%d is out of range: 0 to %d", i, maxCount)
		return 0
	}
	return i
}

func (r *reader) strs(n *yaml.Node, path string) []string {
	v := value(n)
	if v == nil {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		r.fail(path, "expected a list, e.g. [a, b]")
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for i, c := range v.Content {
		s, ok := r.scalar(c, fmt.Sprintf("%s[%d]", path, i))
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// interval reads a clock span: windows, timeouts.
func (r *reader) interval(n *yaml.Node, path string) time.Duration {
	s, ok := r.scalar(n, path)
	if !ok {
		return 0
	}
	d, err := schedule.ParseInterval(s)
	if err != nil {
		r.fail(path, "%v", err)
	}
	return d
}

// span reads a retention span, where m is months.
func (r *reader) span(n *yaml.Node, path string) time.Duration {
	s, ok := r.scalar(n, path)
	if !ok {
		return 0
	}
	d, err := policy.ParseDuration(s)
	if err != nil {
		r.fail(path, "%v", err)
	}
	return d
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
