package scanrun

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/eval/attack"
	"github.com/bunkerhq/bunker/eval/labels"
	"github.com/bunkerhq/bunker/eval/score"
)

// Score scores a run against the labels in dir/labels, which it returns
// too.
func Score(dir string, run *Run) (*score.Report, []*labels.Labels, error) {
	ls, err := labels.ReadDir(filepath.Join(dir, "labels"))
	if err != nil {
		return nil, nil, fmt.Errorf("scanrun: %w", err)
	}
	return score.Score(ls, &run.Results), ls, nil
}

// Summary renders, per point, what the scanner saw and how long it took,
// as a Markdown table.
func (r *Run) Summary() string {
	var b strings.Builder
	b.WriteString("| point | changes | examined | strong | weak | renamed | deleted | score | verdict | changed MiB | read MiB | judge |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var changed, read int64
	var took time.Duration
	for _, p := range r.Points {
		s := p.Stats
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %.2f | %s | %.2f | %.2f | %v |\n", p.Scenario, p.Changes, s.Examined, s.Strong, s.Weak,
			s.Renamed, s.Deleted, p.Score, p.Level, float64(p.Changed)/(1<<20), float64(s.BytesRead)/(1<<20), p.Judge.Round(time.Microsecond))
		changed += p.Changed
		read += s.BytesRead
		took += p.Judge
	}
	if took > 0 {
		fmt.Fprintf(&b, "\nJudged %.1f MiB of changed data (read %.1f MiB) in %v on %d worker(s): %.1f MB/s per worker.\n",
			float64(changed)/(1<<20), float64(read)/(1<<20), took.Round(time.Millisecond), r.Parallelism,
			float64(changed)/1e6/took.Seconds()/float64(max(r.Parallelism, 1)))
	}
	return b.String()
}

// Table renders the evaluation in one Markdown table: point-level
// detection and false positives, per-file precision overall, and per
// technique family and technique the recall and the precision (a
// technique's false positives are the flagged unattacked files of the
// attacked points that use it), each with its target.
func Table(rep *score.Report, ls []*labels.Labels) string {
	fp := map[string]int{}
	benignFP, benignChanged := 0, 0
	for _, l := range ls {
		if l.Kind != labels.Attack {
			for _, p := range rep.Points {
				if p.Scenario == l.Scenario && l.Skipped == "" {
					benignFP += p.Files.FP
					for _, f := range l.Files {
						if f.Present() {
							benignChanged++
						}
					}
				}
			}
			continue
		}
		techs := map[string]bool{}
		for _, f := range l.Files {
			if f.Attacked {
				techs[f.Technique] = true
				techs["family:"+attack.Family(f.Technique)] = true
			}
		}
		for _, p := range rep.Points {
			if p.Scenario == l.Scenario {
				for t := range techs {
					fp[t] += p.Files.FP
				}
			}
		}
	}
	var b strings.Builder
	b.WriteString("| measure | result | rate | precision | target |\n|---|---|---|---|---|\n")
	prec := func(tp, fp int) string {
		if tp+fp == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f%%", 100*float64(tp)/float64(tp+fp))
	}
	rowp := func(m string, k, n int, p, target string) {
		rate := "–"
		if n > 0 {
			rate = fmt.Sprintf("%.2f%%", 100*float64(k)/float64(n))
		}
		fmt.Fprintf(&b, "| %s | %d/%d | %s | %s | %s |\n", m, k, n, rate, p, target)
	}
	row := func(m string, k, n int, target string) { rowp(m, k, n, "", target) }
	row("attacked points (≥ 20 files) judged infected", rep.Detection.K, rep.Detection.N, "100%")
	row("attacked points (≥ 20 files) infected or suspicious", rep.DetectionAny.K, rep.DetectionAny.N, "")
	row("probes (< 20 files or content intact) flagged", rep.Probes.K, rep.Probes.N, "informational")
	row("benign points judged infected (false-positive rate)", rep.FalsePositive.K, rep.FalsePositive.N, "0")
	row("benign points judged suspicious", rep.Suspicious.K, rep.Suspicious.N, "≤ 5%")
	row("changed files of benign points flagged", benignFP, benignChanged, "")
	f := rep.Files
	rowp("per-file recall and precision, all attacked files", f.TP, f.TP+f.FN, prec(f.TP, f.FP), "precision ≥ 99%")
	targets := map[string]string{labels.FamilyFull: "recall ≥ 99%", labels.FamilyIntermittent: "recall ≥ 95%"}
	for _, fam := range []string{labels.FamilyFull, labels.FamilyIntermittent, labels.FamilyRename, labels.FamilyNote} {
		c, ok := rep.ByFamily[fam]
		if !ok {
			continue
		}
		t := targets[fam]
		if fam == labels.FamilyRename {
			t = "probe"
		}
		rowp("per-file, **"+fam+"**", c.TP, c.TP+c.FN, prec(c.TP, fp["family:"+fam]), t)
		for _, tech := range sortedTechniques(rep, fam) {
			c := rep.ByTechnique[tech]
			rowp("per-file, "+fam+": "+tech, c.TP, c.TP+c.FN, prec(c.TP, fp[tech]), "")
		}
	}
	return b.String()
}

// sortedTechniques lists the techniques of a family seen in the report.
func sortedTechniques(rep *score.Report, fam string) []string {
	var out []string
	for t := range rep.ByTechnique {
		if attack.Family(t) == fam {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}
