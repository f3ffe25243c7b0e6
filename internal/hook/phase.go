package hook

import (
	"context"

	"github.com/bunkerhq/bunker/internal/plan"
)

// Verdict is what a phase's hooks decide for the run.
type Verdict int

// Verdicts, from the mildest.
const (
	// Proceed: every hook succeeded, or failed with on_failure continue.
	Proceed Verdict = iota
	// Skip: a pre hook with on_failure skip failed; the run backs up
	// nothing and is reported skipped.
	Skip
	// Fail: a hook with on_failure fail (the default) failed.
	Fail
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Skip:
		return "skip"
	case Fail:
		return "fail"
	}
	return "proceed"
}

// verdictOf returns what the failure of hook h decides.
func verdictOf(h plan.Hook) Verdict {
	switch h.OnFailure {
	case plan.Continue:
		return Proceed
	case plan.Skip:
		return Skip
	}
	return Fail
}

// Pre runs pre hooks in order until one fails with on_failure fail or
// skip, and returns that verdict and every failure, those that continued
// included.
func Pre(ctx context.Context, hooks []plan.Hook, env []string) (Verdict, []Result) {
	var failures []Result
	for _, h := range hooks {
		r := Run(ctx, h, env)
		if !r.Failed() {
			continue
		}
		failures = append(failures, r)
		if v := verdictOf(h); v != Proceed {
			return v, failures
		}
	}
	return Proceed, failures
}

// Post runs every post hook in order, whatever fails, since they undo what
// the pre hooks did (an unfreeze after a freeze); it returns Fail when a
// hook with on_failure fail failed, and every failure.
func Post(ctx context.Context, hooks []plan.Hook, env []string) (Verdict, []Result) {
	v := Proceed
	var failures []Result
	for _, h := range hooks {
		r := Run(ctx, h, env)
		if !r.Failed() {
			continue
		}
		failures = append(failures, r)
		if verdictOf(h) != Proceed {
			v = Fail // skip is for pre hooks; after the backup it fails the run
		}
	}
	return v, failures
}
