package suite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/eval/labels"
	"github.com/bunkerhq/bunker/eval/score"
)

// TestSmallRun is the CI-sized evaluation set: an 8 MiB corpus and every
// scenario, generated in a few seconds.
func TestSmallRun(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	m, err := Generate(dir, Options{Seed: 1, Budget: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("%d clean files (%d bytes), %d points in %v", len(m.Corpus.Entries), m.Corpus.Total, len(m.Points), took)
	if took > 60*time.Second {
		t.Errorf("small run took %v", took)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	ls, err := labels.ReadDir(filepath.Join(dir, "labels"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(m.Points)+1 {
		t.Fatalf("%d labels for %d points (+clean)", len(ls), len(m.Points))
	}
	// Labels live outside the trees.
	for _, p := range m.Points {
		if _, err := os.Stat(filepath.Join(dir, p.Dir, "labels")); err == nil {
			t.Errorf("%s: labels inside the scanned tree", p.Name)
		}
	}
	// An oracle scanner that flags exactly the attacked files and calls
	// every attacked point infected meets every target.
	res := &score.Results{Scanner: "oracle"}
	for _, l := range ls {
		v := score.Clean
		if l.Kind == labels.Attack {
			v = score.Infected
		}
		res.Points = append(res.Points, score.PointResult{Scenario: l.Scenario, Verdict: v, Flagged: l.AttackedPresent()})
	}
	rep := score.Score(ls, res)
	if !rep.OK() {
		t.Errorf("oracle misses targets:\n%s", rep.Markdown())
	}
	if rep.Detection.N < 10 || rep.FalsePositive.N < 10 {
		t.Errorf("too few points: %v attacked, %v benign", rep.Detection, rep.FalsePositive)
	}
}
