// Package score compares a ransomware scanner's findings with the ground
// truth of the evaluation set and checks bunker's detection targets.
//
// The scanner's output is taken in a neutral form (Results): per scenario
// a verdict (clean, suspicious or infected) and the set of flagged paths,
// relative to the scenario's tree.
package score

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/bunkerhq/bunker/eval/labels"
)

// Verdict is a scanner's point-level conclusion.
type Verdict string

// Verdicts.
const (
	Clean      Verdict = "clean"
	Suspicious Verdict = "suspicious"
	Infected   Verdict = "infected"
)

// Threshold is the number of attacked files from which a point must be
// infected.
const Threshold = 20

// PointResult is a scanner's finding for one scenario.
type PointResult struct {
	Scenario string   `json:"scenario"`
	Verdict  Verdict  `json:"verdict"`
	Flagged  []string `json:"flagged"`
}

// Results is a scanner's findings for an evaluation set.
type Results struct {
	Scanner string        `json:"scanner,omitempty"`
	Points  []PointResult `json:"points"`
}

// ReadResults loads Results from a JSON file.
func ReadResults(p string) (*Results, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("results %s: %w", p, err)
	}
	return &r, nil
}

// Counts are per-file confusion counts.
type Counts struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	FN int `json:"fn"`
}

// Add accumulates o into c.
func (c *Counts) Add(o Counts) { c.TP += o.TP; c.FP += o.FP; c.FN += o.FN }

// Precision is TP/(TP+FP); 1 when nothing was flagged.
func (c Counts) Precision() float64 {
	if c.TP+c.FP == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FP)
}

// Recall is TP/(TP+FN); 1 when nothing was attacked.
func (c Counts) Recall() float64 {
	if c.TP+c.FN == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FN)
}

// PointScore is the evaluation of one scenario.
type PointScore struct {
	Scenario string      `json:"scenario"`
	Kind     labels.Kind `json:"kind"`
	Probe    bool        `json:"probe,omitempty"`
	Touched  int         `json:"touched"`
	Verdict  Verdict     `json:"verdict"`
	Missing  bool        `json:"missing,omitempty"`
	Files    Counts      `json:"files"`
}

// Rate is k out of n.
type Rate struct {
	K int `json:"k"`
	N int `json:"n"`
}

// Value is K/N (0 when N is 0).
func (r Rate) Value() float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.K) / float64(r.N)
}

// String formats the rate as "k/n (p%)".
func (r Rate) String() string {
	return fmt.Sprintf("%d/%d (%.1f%%)", r.K, r.N, 100*r.Value())
}

// Report is the whole evaluation.
type Report struct {
	Scanner string       `json:"scanner,omitempty"`
	Points  []PointScore `json:"points"`
	// Detection: attack points touching ≥ Threshold files judged infected;
	// DetectionAny counts suspicious too.
	Detection    Rate `json:"detection"`
	DetectionAny Rate `json:"detection_any"`
	// Probes: attack points below the threshold judged infected or
	// suspicious (informational).
	Probes Rate `json:"probes"`
	// FalsePositive: benign points judged infected; Suspicious: benign
	// points judged suspicious.
	FalsePositive Rate              `json:"false_positive"`
	Suspicious    Rate              `json:"suspicious"`
	Files         Counts            `json:"files"`
	ByTechnique   map[string]Counts `json:"by_technique"` // TP/FN per attack technique
	ByFamily      map[string]Counts `json:"by_family"`    // TP/FN per technique family
	FPByCause     map[string]int    `json:"fp_by_cause"`  // flagged benign paths per benign technique ("unchanged" for untouched)
	Missing       []string          `json:"missing,omitempty"`
	Unknown       []string          `json:"unknown,omitempty"`
}

func norm(p string) string {
	p = path.Clean(strings.ReplaceAll(p, "\\", "/"))
	return strings.TrimPrefix(p, "./")
}

// Score evaluates res against the labels. Skipped scenarios are ignored.
func Score(ls []*labels.Labels, res *Results) *Report {
	rep := &Report{Scanner: res.Scanner, ByTechnique: map[string]Counts{}, ByFamily: map[string]Counts{}, FPByCause: map[string]int{}}
	byName := map[string]PointResult{}
	for _, p := range res.Points {
		byName[p.Scenario] = p
	}
	known := map[string]bool{}
	for _, l := range ls {
		known[l.Scenario] = true
		if l.Skipped != "" {
			continue
		}
		r, ok := byName[l.Scenario]
		ps := PointScore{Scenario: l.Scenario, Kind: l.Kind, Probe: l.Probe, Touched: l.Touched(), Verdict: r.Verdict}
		if !ok {
			ps.Missing = true
			rep.Missing = append(rep.Missing, l.Scenario)
			rep.Points = append(rep.Points, ps)
			continue
		}
		flagged := map[string]bool{}
		for _, f := range r.Flagged {
			flagged[norm(f)] = true
		}
		for p, f := range l.Files {
			if !f.Attacked || !f.Present() {
				continue
			}
			c := Counts{}
			if flagged[p] {
				c.TP = 1
			} else {
				c.FN = 1
			}
			ps.Files.Add(c)
			t := rep.ByTechnique[f.Technique]
			t.Add(c)
			rep.ByTechnique[f.Technique] = t
			fam := f.Family
			if fam == "" {
				fam = labels.FamilyFull
			}
			t = rep.ByFamily[fam]
			t.Add(c)
			rep.ByFamily[fam] = t
		}
		for p := range flagged {
			f, ok := l.Files[p]
			if ok && f.Attacked {
				continue
			}
			ps.Files.FP++
			cause := "unchanged"
			if ok {
				cause = f.Technique
			}
			rep.FPByCause[cause]++
		}
		rep.Files.Add(ps.Files)
		switch {
		case l.Kind == labels.Attack && !l.Probe && ps.Touched >= Threshold:
			rep.Detection.N++
			rep.DetectionAny.N++
			if r.Verdict == Infected {
				rep.Detection.K++
			}
			if r.Verdict != Clean {
				rep.DetectionAny.K++
			}
		case l.Kind == labels.Attack:
			rep.Probes.N++
			if r.Verdict != Clean {
				rep.Probes.K++
			}
		default:
			rep.FalsePositive.N++
			rep.Suspicious.N++
			if r.Verdict == Infected {
				rep.FalsePositive.K++
			}
			if r.Verdict == Suspicious {
				rep.Suspicious.K++
			}
		}
		rep.Points = append(rep.Points, ps)
	}
	for _, p := range res.Points {
		if !known[p.Scenario] {
			rep.Unknown = append(rep.Unknown, p.Scenario)
		}
	}
	sort.Slice(rep.Points, func(i, j int) bool {
		if rep.Points[i].Kind != rep.Points[j].Kind {
			return rep.Points[i].Kind < rep.Points[j].Kind
		}
		return rep.Points[i].Scenario < rep.Points[j].Scenario
	})
	sort.Strings(rep.Missing)
	sort.Strings(rep.Unknown)
	return rep
}

// Target is one of bunker's detection requirements and whether it holds.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// Targets checks the requirements: every attacked point touching 20 or
// more files infected; no benign point infected and at most one in twenty
// suspicious; per-file recall ≥ 99% (full encryption) and ≥ 95%
// (intermittent); per-file precision ≥ 99%; every scenario scored.
func (r *Report) Targets() []Target {
	full, inter := r.ByFamily[labels.FamilyFull], r.ByFamily[labels.FamilyIntermittent]
	return []Target{
		{"attacked points (≥20 files) infected", "100%", r.Detection.String(), r.Detection.K == r.Detection.N},
		{"benign points infected", "0", r.FalsePositive.String(), r.FalsePositive.K == 0},
		{"benign points suspicious", "≤ 5%", r.Suspicious.String(), r.Suspicious.Value() <= 0.05},
		{"per-file recall, full encryption", "≥ 99%", pct(full.Recall()), full.Recall() >= 0.99},
		{"per-file recall, intermittent encryption", "≥ 95%", pct(inter.Recall()), inter.Recall() >= 0.95},
		{"per-file precision", "≥ 99%", pct(r.Files.Precision()), r.Files.Precision() >= 0.99},
		{"every scenario scored", "0 missing", fmt.Sprint(len(r.Missing), " missing"), len(r.Missing) == 0},
	}
}

// OK reports whether every target holds.
func (r *Report) OK() bool {
	for _, t := range r.Targets() {
		if !t.OK {
			return false
		}
	}
	return true
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

// Markdown renders the report as Markdown tables.
func (r *Report) Markdown() string {
	var b strings.Builder
	title := "Ransomware scanner evaluation"
	if r.Scanner != "" {
		title += ": " + r.Scanner
	}
	fmt.Fprintf(&b, "# %s\n\n## Targets\n\n| target | want | got | |\n|---|---|---|---|\n", title)
	for _, t := range r.Targets() {
		mark := "ok"
		if !t.OK {
			mark = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, t.Got, mark)
	}
	fmt.Fprintf(&b, "\n## Points\n\n- detection rate (infected, ≥%d files): %s; infected or suspicious: %s\n", Threshold, r.Detection, r.DetectionAny)
	fmt.Fprintf(&b, "- threshold probes flagged (informational): %s\n", r.Probes)
	fmt.Fprintf(&b, "- false-positive rate (benign infected): %s; benign suspicious: %s\n", r.FalsePositive, r.Suspicious)
	fmt.Fprintf(&b, "- per-file precision %s, recall %s (TP %d, FP %d, FN %d)\n\n", pct(r.Files.Precision()), pct(r.Files.Recall()), r.Files.TP, r.Files.FP, r.Files.FN)
	b.WriteString("| scenario | kind | attacked files | verdict | TP | FP | FN | precision | recall |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Points {
		kind := string(p.Kind)
		if p.Probe {
			kind += " (probe)"
		}
		v := string(p.Verdict)
		if p.Missing {
			v = "_missing_"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %d | %d | %d | %s | %s |\n", p.Scenario, kind, p.Touched, v, p.Files.TP, p.Files.FP, p.Files.FN, pct(p.Files.Precision()), pct(p.Files.Recall()))
	}
	b.WriteString("\n## Recall by technique\n\n| family | technique | TP | FN | recall |\n|---|---|---|---|---|\n")
	var techs []string
	for t := range r.ByTechnique {
		techs = append(techs, t)
	}
	sort.Strings(techs)
	for _, fam := range []string{labels.FamilyFull, labels.FamilyIntermittent, labels.FamilyRename, labels.FamilyNote} {
		if c, ok := r.ByFamily[fam]; ok {
			fmt.Fprintf(&b, "| **%s** | (all) | %d | %d | %s |\n", fam, c.TP, c.FN, pct(c.Recall()))
		}
	}
	for _, t := range techs {
		c := r.ByTechnique[t]
		fmt.Fprintf(&b, "| | %s | %d | %d | %s |\n", t, c.TP, c.FN, pct(c.Recall()))
	}
	if len(r.FPByCause) > 0 {
		b.WriteString("\n## False positives by cause\n\n| cause | flagged files |\n|---|---|\n")
		var causes []string
		for c := range r.FPByCause {
			causes = append(causes, c)
		}
		sort.Strings(causes)
		for _, c := range causes {
			fmt.Fprintf(&b, "| %s | %d |\n", c, r.FPByCause[c])
		}
	}
	if len(r.Unknown) > 0 {
		fmt.Fprintf(&b, "\nResults for unknown scenarios (ignored): %s\n", strings.Join(r.Unknown, ", "))
	}
	return b.String()
}
