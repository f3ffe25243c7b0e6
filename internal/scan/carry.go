package scan

import "strings"

// Carry brings forward what the previous point of a source was judged
// for. A point is judged on what changed since the previous one, so a point
// that changes nothing after an attack would look clean while it still
// holds every encrypted file. Carry keeps the previous point's strong file
// findings whose files the changes do not touch (they are the same files,
// byte for byte), and returns the level they still support: the previous
// level while at least half of those files, or Options.InfectedFiles of
// them, are still there; suspicious while any is; clean once none is.
func Carry(prev Level, prevEvidence []Evidence, changes []Change, opts Options) (Level, []Evidence) {
	if prev == Clean {
		return Clean, nil
	}
	opts = opts.withDefaults()
	touched := make(map[string]bool, 2*len(changes))
	for _, c := range changes {
		if c.Old != nil {
			touched[c.Old.Path] = true
		}
		if c.New != nil {
			touched[c.New.Path] = true
		}
	}
	seen := map[string]bool{}
	var kept []Evidence
	strong := 0
	for _, e := range prevEvidence {
		if !e.Strong || e.Path == "" || strings.ContainsAny(e.Path, "*?[") || seen[e.Path] {
			continue
		}
		seen[e.Path] = true
		strong++
		if touched[e.Path] {
			continue
		}
		reason := carriedPrefix + strings.TrimPrefix(e.Reason, carriedPrefix)
		kept = append(kept, Evidence{Path: e.Path, Reason: reason, Weight: e.Weight, Strong: true})
	}
	switch {
	case len(kept) == 0:
		return Clean, nil
	case 2*len(kept) >= strong || len(kept) >= opts.InfectedFiles:
		return prev, kept
	}
	return Suspicious, kept
}

// carriedPrefix starts the reason of a carried finding.
const carriedPrefix = "unchanged since the previous point, judged then: "

// ParseLevel reads a level as Level.String writes it.
func ParseLevel(s string) (Level, bool) {
	for _, l := range []Level{Clean, Suspicious, Infected} {
		if l.String() == s {
			return l, true
		}
	}
	return Clean, false
}

// WithCarried adds carried findings to a verdict: the level is the higher
// of the two, the findings and their weights are added.
func (v Verdict) WithCarried(level Level, carried []Evidence) Verdict {
	v.Level = max(v.Level, level)
	for _, e := range carried {
		v.Evidence = append(v.Evidence, e)
		v.Score += e.Weight
	}
	return v
}
