package scanrun

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/eval/labels"
	"github.com/bunkerhq/bunker/eval/score"
)

// Score scores a run against the labels in dir/labels.
func Score(dir string, run *Run) (*score.Report, error) {
	ls, err := labels.ReadDir(filepath.Join(dir, "labels"))
	if err != nil {
		return nil, fmt.Errorf("scanrun: %w", err)
	}
	return score.Score(ls, &run.Results), nil
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
