package score

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/eval/labels"
)

func attackLabels(name string, n int, tech, fam string) *labels.Labels {
	l := &labels.Labels{Scenario: name, Kind: labels.Attack, Files: map[string]labels.File{}}
	for i := 0; i < n; i++ {
		l.Files[fmt.Sprintf("d/f%02d.txt", i)] = labels.File{Attacked: true, Technique: tech, Family: fam, Change: labels.Modified}
	}
	l.Files["d/gone.txt"] = labels.File{Attacked: true, Technique: tech, Family: fam, Change: labels.Deleted}
	return l
}

func paths(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("d/f%02d.txt", i))
	}
	return out
}

func fixture() []*labels.Labels {
	full := attackLabels("attack-full", 25, "full-aes-ctr", labels.FamilyFull)
	inter := attackLabels("attack-inter", 20, "intermittent-first-64k", labels.FamilyIntermittent)
	probe := attackLabels("attack-probe", 5, "full-aes-ctr", labels.FamilyFull)
	probe.Probe = true
	ben := &labels.Labels{Scenario: "benign-gzip", Kind: labels.Benign, Files: map[string]labels.File{
		"a.txt.gz": {Technique: "gzip", Change: labels.Renamed, From: "a.txt"},
	}}
	ben2 := &labels.Labels{Scenario: "benign-edit", Kind: labels.Benign, Files: map[string]labels.File{}}
	skipped := &labels.Labels{Scenario: "benign-xz", Kind: labels.Benign, Skipped: "no xz", Files: map[string]labels.File{}}
	return []*labels.Labels{full, inter, probe, ben, ben2, skipped}
}

func TestPerfectScanner(t *testing.T) {
	res := &Results{Scanner: "oracle", Points: []PointResult{
		{"attack-full", Infected, paths(25)},
		{"attack-inter", Infected, append(paths(20), "./d/f00.txt")},
		{"attack-probe", Suspicious, paths(5)},
		{"benign-gzip", Clean, nil},
		{"benign-edit", Clean, nil},
	}}
	rep := Score(fixture(), res)
	if !rep.OK() {
		t.Fatalf("perfect scanner misses targets:\n%s", rep.Markdown())
	}
	if rep.Detection != (Rate{2, 2}) || rep.Probes != (Rate{1, 1}) || rep.FalsePositive != (Rate{0, 2}) {
		t.Errorf("rates: det %v probes %v fp %v", rep.Detection, rep.Probes, rep.FalsePositive)
	}
	if rep.Files != (Counts{TP: 50}) {
		t.Errorf("files %+v", rep.Files)
	}
	if len(rep.Points) != 5 {
		t.Errorf("skipped scenario scored: %d points", len(rep.Points))
	}
}

func TestImperfectScanner(t *testing.T) {
	res := &Results{Points: []PointResult{
		{"attack-full", Infected, paths(24)},              // one FN
		{"attack-inter", Suspicious, paths(18)},           // two FN, not infected
		{"benign-gzip", Suspicious, []string{"a.txt.gz"}}, // FP on a gzip output
		{"benign-edit", Infected, []string{"x/unchanged"}},
		{"nope", Clean, nil},
	}}
	rep := Score(fixture(), res)
	if rep.OK() {
		t.Fatal("imperfect scanner meets targets")
	}
	if rep.Detection != (Rate{1, 2}) || rep.DetectionAny != (Rate{2, 2}) {
		t.Errorf("detection %v any %v", rep.Detection, rep.DetectionAny)
	}
	if rep.FalsePositive != (Rate{1, 2}) || rep.Suspicious != (Rate{1, 2}) {
		t.Errorf("fp %v susp %v", rep.FalsePositive, rep.Suspicious)
	}
	if rep.Files != (Counts{TP: 42, FP: 2, FN: 3}) {
		t.Errorf("files %+v", rep.Files)
	}
	if got := rep.ByFamily[labels.FamilyFull].Recall(); got != 24.0/25 {
		t.Errorf("full recall %v", got)
	}
	if got := rep.ByFamily[labels.FamilyIntermittent].Recall(); got != 18.0/20 {
		t.Errorf("intermittent recall %v", got)
	}
	if rep.FPByCause["gzip"] != 1 || rep.FPByCause["unchanged"] != 1 {
		t.Errorf("fp causes %v", rep.FPByCause)
	}
	if strings.Join(rep.Missing, ",") != "attack-probe" || strings.Join(rep.Unknown, ",") != "nope" {
		t.Errorf("missing %v unknown %v", rep.Missing, rep.Unknown)
	}
	md := rep.Markdown()
	for _, want := range []string{"| attacked points (≥20 files) infected | 100% | 1/2 (50.0%) | **FAIL** |", "| benign-gzip | benign | 0 | suspicious | 0 | 1 | 0 |", "_missing_", "| gzip | 1 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestCountsEdges(t *testing.T) {
	var c Counts
	if c.Precision() != 1 || c.Recall() != 1 {
		t.Error("empty counts should be perfect")
	}
	if (Rate{}).Value() != 0 {
		t.Error("empty rate")
	}
}
