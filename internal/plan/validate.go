package plan

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bunkerhq/bunker/internal/filter"
	"github.com/bunkerhq/bunker/internal/ident"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/schedule"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Limits of one plan.
const (
	maxSources = 1000
	maxPaths   = 1000
	maxCopies  = 16
	maxHooks   = 16
	maxArgs    = 256
	maxArgLen  = 4096
	// MinRate is the shortest time between two runs of a plan.
	MinRate = time.Minute
	// minWindow is the shortest start or completion window.
	minWindow = time.Minute
)

// The schedule is sampled from a fixed time, so that a plan checks the same
// whenever it is checked, over a leap year, to meet every day of the week
// and of the month.
var sampleFrom = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	sampleSpan  = 367 * 24 * time.Hour
	sampleSlots = 5000
)

// intervals returns the shortest and longest time between two runs of
// spec, and the runs sampled; a spec due once in the sampled year is
// followed to its next run.
func intervals(spec schedule.Spec) (shortest, longest time.Duration, n int) {
	shortest, longest, n = schedule.Intervals(spec, sampleFrom, sampleSpan, sampleSlots)
	if n == 1 {
		first := spec.Next(sampleFrom)
		if second := spec.Next(first); !second.IsZero() {
			gap := second.Sub(first)
			return gap, gap, 2
		}
	}
	return shortest, longest, n
}

// Canonical checks every field of p and returns it in canonical form:
// defaults filled in, the cron expression single-spaced with its zone in
// Timezone, paths sorted, sources and copies in order. Plans equal in
// meaning have equal canonical forms. The error is Errors.
func (p Plan) Canonical() (Plan, error) {
	c := &checker{p: p.clone()}
	c.check()
	if err := c.errs.err(); err != nil {
		return Plan{}, err
	}
	return c.p, nil
}

// checker checks one plan, canonicalizing it as it goes.
type checker struct {
	p    Plan
	errs Errors
	// shortest and longest are the times between two runs.
	shortest, longest time.Duration
}

func (c *checker) fail(field, format string, args ...any) {
	c.errs = append(c.errs, fieldError(&c.p, field, nil, format, args...))
}

// fieldError makes a refusal of a field of p.
func fieldError(p *Plan, field string, cause error, format string, args ...any) *FieldError {
	name := p.Name
	if !ident.Name(name) {
		name = "#?"
	}
	return &FieldError{Plan: name, Field: field, Line: lineOf(p.lines, field), Msg: fmt.Sprintf(format, args...), Err: cause}
}

func (c *checker) check() {
	p := &c.p
	switch {
	case p.Name == "":
		c.fail("name", "a plan needs a name")
	case !ident.Name(p.Name):
		c.fail("name", "invalid plan name %q: %s", clip(p.Name), ident.NameRule)
	}
	c.schedule()
	c.windows()
	c.sources()
	switch {
	case p.Vault == "":
		c.fail("vault", "a plan needs the vault its points go to")
	case !ident.Name(p.Vault):
		c.fail("vault", "invalid vault name %q: %s", clip(p.Vault), ident.NameRule)
	}
	c.retention(p.Retention, "retention")
	c.lifecycle()
	c.copies()
	p.Hooks.Pre = c.hooks(p.Hooks.Pre, "hooks.pre")
	p.Hooks.Post = c.hooks(p.Hooks.Post, "hooks.post")
}

func (c *checker) schedule() {
	s := &c.p.Schedule
	switch {
	case s.Cron == "" && s.Rate == 0:
		c.fail("schedule", "give cron (with an optional timezone) or rate, e.g. cron: \"0 3 * * *\" or rate: every 6h")
		return
	case s.Cron != "" && s.Rate != 0:
		c.fail("schedule", "give cron or rate, not both")
		return
	case s.Rate != 0 && s.Timezone != "":
		c.fail("schedule.timezone", "a rate follows real time and takes no time zone; use cron for times of day")
		return
	case s.Rate < 0 || s.Rate > schedule.MaxInterval:
		c.fail("schedule.rate", "out of range")
		return
	case s.Rate != 0 && s.Rate < MinRate:
		c.fail("schedule.rate", "every %s is too often: a plan runs at most once every %s", schedule.FormatInterval(s.Rate), schedule.FormatInterval(MinRate))
		return
	}
	var spec schedule.Spec = schedule.Rate{Every: s.Rate}
	if s.Cron != "" {
		var loc *time.Location
		if s.Timezone != "" {
			l, err := schedule.LoadZone(s.Timezone)
			if err != nil {
				c.fail("schedule.timezone", "%v", err)
				return
			}
			loc = l
		}
		cr, err := schedule.ParseCron(s.Cron, loc)
		if err != nil {
			c.fail("schedule.cron", "%v", err)
			return
		}
		s.Cron, s.Timezone, spec = cr.Expr(), cr.Location().String(), cr
	}
	var n int
	c.shortest, c.longest, n = intervals(spec)
	field := "schedule.cron"
	if s.Rate != 0 {
		field = "schedule.rate"
	}
	switch {
	case n < 2 || c.longest > 366*24*time.Hour:
		c.fail(field, "due less than once a year; a plan runs at least once a year")
	case c.shortest < MinRate:
		c.fail(field, "due every %s at times: a plan runs at most once every %s", schedule.FormatInterval(c.shortest), schedule.FormatInterval(MinRate))
	}
}

func (c *checker) windows() {
	p := &c.p
	if c.shortest == 0 {
		return // the schedule was refused
	}
	gap := schedule.FormatInterval(c.shortest)
	switch {
	case p.StartWindow == 0:
		p.StartWindow = min(DefaultStartWindow, c.shortest)
	case p.StartWindow < minWindow:
		c.fail("start_window", "at least %s", schedule.FormatInterval(minWindow))
	case p.StartWindow > c.shortest:
		c.fail("start_window", "%s is longer than the %s between two runs, so that a late run would meet the next one", schedule.FormatInterval(p.StartWindow), gap)
	}
	switch {
	case p.CompletionWindow == 0:
		p.CompletionWindow = min(DefaultCompletionWindow, c.shortest)
	case p.CompletionWindow < minWindow:
		c.fail("completion_window", "at least %s", schedule.FormatInterval(minWindow))
	}
}

func (c *checker) sources() {
	p := &c.p
	switch {
	case len(p.Sources) == 0:
		c.fail("sources", "a plan needs at least one source: a host and its paths, or a host and a stdin command")
		return
	case len(p.Sources) > maxSources:
		c.fail("sources", "at most %d sources", maxSources)
		return
	}
	seen := make(map[string]int)
	for i := range p.Sources {
		field := fmt.Sprintf("sources[%d]", i)
		s := &p.Sources[i]
		c.source(s, field)
		key := sourceKey(*s)
		if j, dup := seen[key]; dup {
			c.fail(field, "the same source as sources[%d]", j)
		}
		seen[key] = i
	}
	slices.SortStableFunc(p.Sources, func(a, b Source) int { return cmp.Compare(sourceKey(a), sourceKey(b)) })
}

// sourceKey identifies a source and orders sources canonically.
func sourceKey(s Source) string {
	if s.Stdin != nil {
		return s.Host + "\x00stdin\x00" + s.Stdin.Name
	}
	return s.Host + "\x00paths\x00" + strings.Join(s.Paths, "\x00")
}

func (c *checker) source(s *Source, field string) {
	if s.Host == "" {
		c.fail(field+".host", "a source needs the agent host it is on")
	} else if len(s.Host) > 253 || !printable(s.Host) {
		c.fail(field+".host", "invalid host name %q: 1 to 253 printable characters", clip(s.Host))
	}
	switch {
	case s.Stdin != nil && len(s.Paths) > 0:
		c.fail(field, "give paths or stdin, not both")
		return
	case s.Stdin == nil && len(s.Paths) == 0:
		c.fail(field, "give paths to back up, or a stdin command")
		return
	case s.Stdin != nil:
		c.stdin(s, field)
		return
	case len(s.Paths) > maxPaths:
		c.fail(field+".paths", "at most %d paths", maxPaths)
		return
	}
	for j, pth := range s.Paths {
		if !strings.HasPrefix(pth, "/") || len(pth) > 4096 || path.Clean(pth) != pth || !printable(pth) {
			c.fail(fmt.Sprintf("%s.paths[%d]", field, j), "invalid path %q: give absolute, clean paths", clip(pth))
		}
	}
	slices.Sort(s.Paths)
	s.Paths = slices.Compact(s.Paths)
	if _, err := filter.New(s.Excludes); err != nil {
		var pe *filter.PatternError
		if errors.As(err, &pe) {
			c.fail(fmt.Sprintf("%s.excludes[%d]", field, pe.Line-1), "pattern %q: %v", clip(pe.Pattern), pe.Err)
		} else {
			c.fail(field+".excludes", "%v", err)
		}
	}
}

func (c *checker) stdin(s *Source, field string) {
	if len(s.Excludes) > 0 {
		c.fail(field+".excludes", "excludes apply to paths, not to a stdin command")
	}
	c.argv(s.Stdin.Command, field+".stdin.command")
	if s.Stdin.Name == "" {
		s.Stdin.Name = DefaultStdinName
	}
	if err := tree.ValidName(s.Stdin.Name); err != nil || len(s.Stdin.Name) > 255 || !printable(s.Stdin.Name) {
		c.fail(field+".stdin.name", "invalid file name %q: one path component, without '/'", clip(s.Stdin.Name))
	}
}

// argv checks a command line run without a shell.
func (c *checker) argv(argv []string, field string) {
	switch {
	case len(argv) == 0:
		c.fail(field, "a command needs its argv, e.g. [/usr/bin/pg_dump, shop]")
		return
	case len(argv) > maxArgs:
		c.fail(field, "at most %d arguments", maxArgs)
		return
	case !path.IsAbs(argv[0]) || path.Clean(argv[0]) != argv[0]:
		c.fail(field+"[0]", "%q: give the program's absolute path; hooks and commands run without a shell or a PATH search", clip(argv[0]))
	}
	for i, a := range argv {
		if len(a) > maxArgLen || strings.ContainsRune(a, 0) || !utf8.ValidString(a) {
			c.fail(fmt.Sprintf("%s[%d]", field, i), "arguments are valid UTF-8 without NUL, up to %d bytes", maxArgLen)
		}
	}
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func (c *checker) retention(r Retention, field string) {
	for _, n := range []struct {
		name string
		v    int
	}{{"keep_last", r.Keep.Last}, {"keep_hourly", r.Keep.Hourly}, {"keep_daily", r.Keep.Daily}, {"keep_weekly", r.Keep.Weekly},
		{"keep_monthly", r.Keep.Monthly}, {"keep_yearly", r.Keep.Yearly}} {
		if n.v < 0 || n.v > maxCount {
			c.fail(field+"."+n.name, "%d is out of range: 0 to %d", n.v, maxCount)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"keep_within", r.Keep.Within}, {"max_age", r.MaxAge}} {
		if d.v < 0 || d.v > retention.MaxSpan {
			c.fail(field+"."+d.name, "out of range: 0 to %s", retention.Format(retention.MaxSpan))
		}
	}
	if len(r.Keep.Tags) > 0 {
		c.fail(field, "plans keep no points by tag: the agent that makes a point chooses its tags")
	}
}

func (c *checker) lifecycle() {
	p := &c.p
	l := p.Lifecycle
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"cold_after", l.ColdAfter}, {"expire_after", l.ExpireAfter}} {
		if d.v < 0 || d.v > retention.MaxSpan {
			c.fail("lifecycle."+d.name, "out of range: 0 to %s", retention.Format(retention.MaxSpan))
			return
		}
	}
	switch {
	case l.ColdAfter > 0 && l.StorageClass == "":
		c.fail("lifecycle.storage_class", "needed with cold_after: the storage class points move to, e.g. GLACIER")
	case l.StorageClass != "" && l.ColdAfter == 0:
		c.fail("lifecycle.cold_after", "needed with storage_class: how long after it is made a point moves, e.g. 30d")
	case l.StorageClass != "" && !ident.StorageClass(l.StorageClass):
		c.fail("lifecycle.storage_class", "invalid storage class %q: upper-case letters, digits and '_', as in GLACIER_IR", clip(l.StorageClass))
	case l.ExpireAfter > 0 && l.ColdAfter >= l.ExpireAfter:
		c.fail("lifecycle.cold_after", "%s is not before expire_after %s", retention.Format(l.ColdAfter), retention.Format(l.ExpireAfter))
	}
	if l.ExpireAfter == 0 || c.longest == 0 {
		return
	}
	for _, s := range keepSpans(p.Retention, c.longest) {
		if s.d > l.ExpireAfter {
			c.fail("retention."+s.field, "keeps points up to %s, past their expiry: lifecycle.expire_after is %s", retention.Format(s.d), retention.Format(l.ExpireAfter))
		}
	}
}

func (c *checker) copies() {
	p := &c.p
	if len(p.Copies) > maxCopies {
		c.fail("copies", "at most %d copies", maxCopies)
		return
	}
	seen := make(map[string]int)
	for i, cp := range p.Copies {
		field := fmt.Sprintf("copies[%d]", i)
		site, vault := cp.Remote()
		switch {
		case cp.To == "":
			c.fail(field+".to", "a copy needs the vault it goes to: a vault on this server, or site:vault")
		case strings.Contains(cp.To, ":") && (!ident.Name(site) || !ident.Name(vault)):
			c.fail(field+".to", "invalid copy target %q: a vault name, or a site name and a vault name as site:vault; %s", clip(cp.To), ident.NameRule)
		case !ident.Name(vault):
			c.fail(field+".to", "invalid vault name %q: %s", clip(cp.To), ident.NameRule)
		case site == "" && vault == p.Vault:
			c.fail(field+".to", "a copy goes to another vault than the plan's own %q", p.Vault)
		}
		if j, dup := seen[cp.To]; dup {
			c.fail(field+".to", "also the target of copies[%d]", j)
		}
		seen[cp.To] = i
		c.retention(cp.Retention, field+".retention")
	}
	if len(p.Copies) == 0 {
		return
	}
	order := make([]int, len(p.Copies))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(p.Copies[a].To, p.Copies[b].To) })
	sorted, at := make([]Copy, len(order)), make([]int, len(order))
	for k, i := range order {
		sorted[k] = p.Copies[i]
		at[k] = i
		if i < len(p.copyAt) {
			at[k] = p.copyAt[i]
		}
	}
	p.Copies = sorted
	if p.lines != nil {
		p.copyAt = at
	}
}

func (c *checker) hooks(hs []Hook, field string) []Hook {
	if len(hs) > maxHooks {
		c.fail(field, "at most %d hooks", maxHooks)
		return hs
	}
	for i := range hs {
		h := &hs[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		c.argv(h.Argv, f+".argv")
		switch {
		case h.Timeout == 0:
			h.Timeout = DefaultHookTimeout
		case h.Timeout < time.Second:
			c.fail(f+".timeout", "at least 1s")
		case c.p.CompletionWindow > 0 && h.Timeout > c.p.CompletionWindow:
			c.fail(f+".timeout", "%s is longer than the completion window %s", schedule.FormatInterval(h.Timeout), schedule.FormatInterval(c.p.CompletionWindow))
		}
		switch h.OnFailure {
		case "":
			h.OnFailure = Fail
		case Fail, Continue:
		case Skip:
			if field == "hooks.post" {
				c.fail(f+".on_failure", "skip applies to pre hooks only: a post hook runs after the backup; use fail or continue")
			}
		default:
			c.fail(f+".on_failure", "%q: want fail, skip or continue", clip(string(h.OnFailure)))
		}
	}
	return hs
}

// clone returns a copy of p that shares no slices with it, empty lists
// made nil.
func (p Plan) clone() Plan {
	out := p
	out.Sources = nil
	for _, s := range p.Sources {
		s.Paths, s.Excludes = cloneList(s.Paths), cloneList(s.Excludes)
		if s.Stdin != nil {
			in := *s.Stdin
			in.Command = cloneList(in.Command)
			s.Stdin = &in
		}
		out.Sources = append(out.Sources, s)
	}
	out.Retention.Keep.Tags = cloneList(p.Retention.Keep.Tags)
	out.Copies = cloneList(p.Copies)
	out.copyAt = cloneList(p.copyAt)
	for i := range out.Copies {
		out.Copies[i].Retention.Keep.Tags = cloneList(out.Copies[i].Retention.Keep.Tags)
	}
	out.Hooks.Pre, out.Hooks.Post = cloneHooks(p.Hooks.Pre), cloneHooks(p.Hooks.Post)
	return out
}

func cloneHooks(hs []Hook) []Hook {
	out := cloneList(hs)
	for i := range out {
		out[i].Argv = cloneList(out[i].Argv)
	}
	return out
}

// cloneList copies a list; an empty one becomes nil.
func cloneList[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
