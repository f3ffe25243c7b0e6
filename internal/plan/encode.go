package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bunkerhq/bunker/internal/policy"
	"github.com/bunkerhq/bunker/internal/schedule"
)

// The written form of a plan, as Encode and MarshalJSON write it and
// Decode reads it back: spans as text, empty fields left out.
type (
	planDoc struct {
		Name             string        `yaml:"name" json:"name"`
		Schedule         scheduleDoc   `yaml:"schedule" json:"schedule"`
		StartWindow      string        `yaml:"start_window,omitempty" json:"start_window,omitempty"`
		CompletionWindow string        `yaml:"completion_window,omitempty" json:"completion_window,omitempty"`
		Vault            string        `yaml:"vault" json:"vault"`
		Sources          []sourceDoc   `yaml:"sources" json:"sources"`
		Retention        *retentionDoc `yaml:"retention,omitempty" json:"retention,omitempty"`
		Lifecycle        *lifecycleDoc `yaml:"lifecycle,omitempty" json:"lifecycle,omitempty"`
		Copies           []copyDoc     `yaml:"copies,omitempty" json:"copies,omitempty"`
		Hooks            *hooksDoc     `yaml:"hooks,omitempty" json:"hooks,omitempty"`
	}
	scheduleDoc struct {
		Cron     string `yaml:"cron,omitempty" json:"cron,omitempty"`
		Timezone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
		Rate     string `yaml:"rate,omitempty" json:"rate,omitempty"`
	}
	sourceDoc struct {
		Host     string    `yaml:"host" json:"host"`
		Paths    []string  `yaml:"paths,omitempty" json:"paths,omitempty"`
		Excludes []string  `yaml:"excludes,omitempty" json:"excludes,omitempty"`
		Stdin    *stdinDoc `yaml:"stdin,omitempty" json:"stdin,omitempty"`
	}
	stdinDoc struct {
		Command []string `yaml:"command" json:"command"`
		Name    string   `yaml:"name,omitempty" json:"name,omitempty"`
	}
	retentionDoc struct {
		KeepLast    int    `yaml:"keep_last,omitempty" json:"keep_last,omitempty"`
		KeepHourly  int    `yaml:"keep_hourly,omitempty" json:"keep_hourly,omitempty"`
		KeepDaily   int    `yaml:"keep_daily,omitempty" json:"keep_daily,omitempty"`
		KeepWeekly  int    `yaml:"keep_weekly,omitempty" json:"keep_weekly,omitempty"`
		KeepMonthly int    `yaml:"keep_monthly,omitempty" json:"keep_monthly,omitempty"`
		KeepYearly  int    `yaml:"keep_yearly,omitempty" json:"keep_yearly,omitempty"`
		KeepWithin  string `yaml:"keep_within,omitempty" json:"keep_within,omitempty"`
		MaxAge      string `yaml:"max_age,omitempty" json:"max_age,omitempty"`
	}
	lifecycleDoc struct {
		ColdAfter    string `yaml:"cold_after,omitempty" json:"cold_after,omitempty"`
		StorageClass string `yaml:"storage_class,omitempty" json:"storage_class,omitempty"`
		ExpireAfter  string `yaml:"expire_after,omitempty" json:"expire_after,omitempty"`
	}
	copyDoc struct {
		To        string        `yaml:"to" json:"to"`
		Retention *retentionDoc `yaml:"retention,omitempty" json:"retention,omitempty"`
	}
	hooksDoc struct {
		Pre  []hookDoc `yaml:"pre,omitempty" json:"pre,omitempty"`
		Post []hookDoc `yaml:"post,omitempty" json:"post,omitempty"`
	}
	hookDoc struct {
		Argv      []string `yaml:"argv" json:"argv"`
		Timeout   string   `yaml:"timeout,omitempty" json:"timeout,omitempty"`
		OnFailure string   `yaml:"on_failure,omitempty" json:"on_failure,omitempty"`
	}
)

// doc returns p's written form.
func (p Plan) doc() planDoc {
	d := planDoc{
		Name:             p.Name,
		Schedule:         scheduleDoc{Cron: p.Schedule.Cron, Timezone: p.Schedule.Timezone},
		StartWindow:      interval(p.StartWindow),
		CompletionWindow: interval(p.CompletionWindow),
		Vault:            p.Vault,
		Retention:        retentionDocOf(p.Retention),
	}
	if p.Schedule.Rate > 0 {
		d.Schedule.Rate = schedule.Rate{Every: p.Schedule.Rate}.String()
	}
	for _, s := range p.Sources {
		sd := sourceDoc{Host: s.Host, Paths: s.Paths, Excludes: s.Excludes}
		if s.Stdin != nil {
			sd.Stdin = &stdinDoc{Command: s.Stdin.Command, Name: s.Stdin.Name}
		}
		d.Sources = append(d.Sources, sd)
	}
	if l := p.Lifecycle; l != (Lifecycle{}) {
		d.Lifecycle = &lifecycleDoc{ColdAfter: span(l.ColdAfter), StorageClass: l.StorageClass, ExpireAfter: span(l.ExpireAfter)}
	}
	for _, c := range p.Copies {
		d.Copies = append(d.Copies, copyDoc{To: c.To, Retention: retentionDocOf(c.Retention)})
	}
	if len(p.Hooks.Pre)+len(p.Hooks.Post) > 0 {
		d.Hooks = &hooksDoc{Pre: hookDocs(p.Hooks.Pre), Post: hookDocs(p.Hooks.Post)}
	}
	return d
}

func retentionDocOf(r Retention) *retentionDoc {
	if r.Empty() {
		return nil
	}
	return &retentionDoc{
		KeepLast: r.Keep.Last, KeepHourly: r.Keep.Hourly, KeepDaily: r.Keep.Daily, KeepWeekly: r.Keep.Weekly,
		KeepMonthly: r.Keep.Monthly, KeepYearly: r.Keep.Yearly, KeepWithin: span(r.Keep.Within), MaxAge: span(r.MaxAge),
	}
}

func hookDocs(hs []Hook) []hookDoc {
	var out []hookDoc
	for _, h := range hs {
		out = append(out, hookDoc{Argv: h.Argv, Timeout: interval(h.Timeout), OnFailure: string(h.OnFailure)})
	}
	return out
}

// interval writes a clock span; zero is left out.
func interval(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return schedule.FormatInterval(d)
}

// span writes a retention span; zero is left out.
func span(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return policy.FormatDuration(d)
}

// Encode writes plans as YAML, one document each, in the form Decode
// reads.
func Encode(w io.Writer, plans []Plan) error {
	if len(plans) == 0 {
		return nil
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, p := range plans {
		var n yaml.Node
		if err := n.Encode(p.doc()); err != nil {
			return fmt.Errorf("encode plan %q: %w", p.Name, err)
		}
		style(&n, "")
		if err := enc.Encode(&n); err != nil {
			return fmt.Errorf("encode plan %q: %w", p.Name, err)
		}
	}
	return enc.Close()
}

// style writes lists of values on one line, [a, b], and cron expressions
// quoted, as people write them.
func style(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.SequenceNode:
		if scalars(n) {
			n.Style = yaml.FlowStyle
			return
		}
	case yaml.ScalarNode:
		if key == "cron" {
			n.Style = yaml.DoubleQuotedStyle
		}
		return
	}
	for i, c := range n.Content {
		k := ""
		if n.Kind == yaml.MappingNode && i%2 == 1 {
			k = n.Content[i-1].Value
		}
		style(c, k)
	}
}

// MarshalJSON writes the plan in its written form, spans as text.
func (p Plan) MarshalJSON() ([]byte, error) { return json.Marshal(p.doc()) }

// UnmarshalJSON reads and checks a plan as DecodePlan does; JSON is YAML.
func (p *Plan) UnmarshalJSON(b []byte) error {
	out, err := DecodePlan(b)
	if err != nil {
		return err
	}
	*p = out
	return nil
}
