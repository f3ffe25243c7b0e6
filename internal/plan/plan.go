// Package plan reads, checks and compares backup plans: when a plan runs
// (a cron expression in a time zone, or a rate), inside which start and
// completion windows, what it backs up on which agent host, into which
// vault, which points it keeps, when they move to a cold tier and expire,
// where they are copied, and which hooks quiesce applications around a
// run. Plans are written in YAML, several to a file, and applied
// declaratively: Decode reads and checks a file, CheckVaults checks plans
// against the locks of the vaults they write to, and Diff says what
// applying them would change.
package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/policy"
	"github.com/bunkerhq/bunker/internal/schedule"
)

// Plan is one backup plan.
type Plan struct {
	Name     string
	Schedule Schedule
	// StartWindow is how long after its scheduled time a run may still
	// start; later, it is reported missed.
	StartWindow time.Duration
	// CompletionWindow is how long a run may take from its start before
	// it is reported overdue.
	CompletionWindow time.Duration
	Sources          []Source
	Vault            string
	Retention        Retention
	Lifecycle        Lifecycle
	Copies           []Copy
	Hooks            Hooks

	// lines maps field paths ("schedule.cron", "sources[1]") to the lines
	// of the file they were read from; nil for plans built in code.
	lines map[string]int
	// copyAt holds, for a plan read from a file, the place in the file of
	// each of Copies, which Canonical sorts.
	copyAt []int
}

// copyField is the path of Copies[i] in the file the plan was read from.
func (p *Plan) copyField(i int) string {
	if i < len(p.copyAt) {
		i = p.copyAt[i]
	}
	return fmt.Sprintf("copies[%d]", i)
}

// Schedule says when a plan runs: Cron in Timezone, or every Rate.
type Schedule struct {
	Cron     string        // five fields: minute hour day-of-month month day-of-week
	Timezone string        // an IANA zone for Cron; "" is UTC
	Rate     time.Duration // run every Rate instead of by Cron
}

// Source is what a plan backs up on one agent host: Paths, less Excludes,
// or the standard output of a command as one file.
type Source struct {
	Host     string
	Paths    []string
	Excludes []string // gitignore-style patterns, as for bunker backup --exclude
	Stdin    *Stdin
}

// Stdin is a command whose standard output is backed up as one file.
type Stdin struct {
	Command []string // argv; Command[0] is an absolute path
	Name    string   // the file's name in the point
}

// Retention says which of a plan's points are kept. Keep holds the
// keep-last … keep-yearly and keep-within rules; tag rules are not part of
// plans, since the agent that makes a point chooses its tags. The rules
// count only verified points, per source, on the server's clock.
type Retention struct {
	Keep policy.Rules
	// MaxAge, when set, stops every rule from keeping a point older.
	MaxAge time.Duration
}

// Empty reports whether r has no rule.
func (r Retention) Empty() bool { return r.Keep.Empty() && r.MaxAge == 0 }

// Lifecycle moves a plan's points to a cold storage class after ColdAfter
// and gives them an expiry ExpireAfter after they were made.
type Lifecycle struct {
	ColdAfter    time.Duration
	StorageClass string // e.g. GLACIER on S3; needed with ColdAfter
	ExpireAfter  time.Duration
}

// Copy copies each new point of a plan to another vault, on this server
// ("central") or on a remote site ("site:vault"), where Retention applies.
type Copy struct {
	To        string
	Retention Retention
}

// Remote splits c.To into the remote site and its vault; site is "" for a
// vault on this server.
func (c Copy) Remote() (site, vault string) {
	if s, v, ok := strings.Cut(c.To, ":"); ok {
		return s, v
	}
	return "", c.To
}

// Hooks are commands run on each host of a plan before (Pre) and after
// (Post) that host's sources are backed up, in order.
type Hooks struct {
	Pre  []Hook
	Post []Hook
}

// Hook is one command of a plan's hooks.
type Hook struct {
	Argv      []string // Argv[0] is an absolute path; no shell is involved
	Timeout   time.Duration
	OnFailure OnFailure
}

// OnFailure says what a hook's failure (an exit status other than 0, or
// its timeout) does to the run. Every failure is reported.
type OnFailure string

// What a hook's failure does.
const (
	// Fail fails the run: after a pre hook, nothing is backed up.
	Fail OnFailure = "fail"
	// Skip skips the run, reported as skipped rather than failed; only for
	// pre hooks.
	Skip OnFailure = "skip"
	// Continue goes on as if the hook had succeeded.
	Continue OnFailure = "continue"
)

// Defaults filled in by Canonical.
const (
	// DefaultStartWindow, or the shortest time between two runs when that
	// is shorter.
	DefaultStartWindow = time.Hour
	// DefaultCompletionWindow, or the shortest time between two runs when
	// that is shorter.
	DefaultCompletionWindow = 24 * time.Hour
	// DefaultHookTimeout is the timeout of a hook that gives none.
	DefaultHookTimeout = 5 * time.Minute
	// DefaultStdinName is the file name of a stdin source that gives none.
	DefaultStdinName = "stdin"
)

// Spec returns the plan's schedule as the scheduler reads it.
func (p Plan) Spec() (schedule.Spec, error) { return p.Schedule.Spec() }

// Spec returns s as the scheduler reads it.
func (s Schedule) Spec() (schedule.Spec, error) {
	if s.Rate > 0 {
		return schedule.Rate{Every: s.Rate}, nil
	}
	var loc *time.Location
	if s.Timezone != "" {
		l, err := schedule.LoadZone(s.Timezone)
		if err != nil {
			return nil, err
		}
		loc = l
	}
	return schedule.ParseCron(s.Cron, loc)
}

// Entry returns the plan as the scheduler sees it, without the state of
// earlier runs: the caller fills in Last, Since and Run.
func (p Plan) Entry() (schedule.Entry, error) {
	spec, err := p.Spec()
	if err != nil {
		return schedule.Entry{}, err
	}
	return schedule.Entry{ID: p.Name, Spec: spec, StartWindow: p.StartWindow, CompletionWindow: p.CompletionWindow}, nil
}

// Hosts returns the agent hosts the plan's sources are on, sorted.
func (p Plan) Hosts() []string {
	var hosts []string
	for _, s := range p.Sources {
		hosts = append(hosts, s.Host)
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// ForHost returns the plans with a source on host, each with only the
// sources on that host: what an agent on host runs.
func ForHost(plans []Plan, host string) []Plan {
	var out []Plan
	for _, p := range plans {
		var mine []Source
		for _, s := range p.Sources {
			if s.Host == host {
				mine = append(mine, s)
			}
		}
		if len(mine) > 0 {
			p.Sources = mine
			out = append(out, p)
		}
	}
	return out
}
