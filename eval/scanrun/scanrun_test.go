package scanrun

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/eval/suite"
	"github.com/bunkerhq/bunker/internal/scan"
)

// TestEvaluationSmall builds the CI-sized evaluation set (8 MiB, every
// scenario), runs bunker's scanner over it and requires every detection
// target: it fails when the scanner regresses.
func TestEvaluationSmall(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	if _, err := suite.Generate(dir, suite.Options{Seed: 1, Budget: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	gen := time.Since(start)
	run, err := Scan(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := Score(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated in %v, scanned in %v", gen, time.Since(start)-gen)
	if !rep.OK() {
		t.Errorf("targets missed:\n%s\n%s", rep.Markdown(), run.Summary())
	}
	if rep.Detection.N < 10 || rep.FalsePositive.N < 10 {
		t.Errorf("too few points: %v attacked, %v benign", rep.Detection, rep.FalsePositive)
	}
	// The clean point has no change and is judged without reading.
	if p := run.Points[0]; p.Scenario != "clean" || p.Changes != 0 || p.Stats.BytesRead != 0 || p.Level != "clean" {
		t.Errorf("clean point: %+v", p)
	}
}

// TestDiff checks the changes between two small trees: hard links and
// identical copies are unchanged, a touched copy is modified with equal
// IDs, and a rename shows as a deletion and an addition of one content ID.
func TestDiff(t *testing.T) {
	base, cur := t.TempDir(), t.TempDir()
	write := func(root, rel, body string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base, "a/same.txt", "same")
	write(base, "a/link.txt", "link")
	write(base, "a/edit.txt", "before")
	write(base, "a/gone.txt", "gone")
	write(base, "a/moved.txt", "moved body")
	write(base, "a/touched.txt", "touched")
	write(cur, "a/same.txt", "same")
	if err := os.MkdirAll(filepath.Join(cur, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(base, "a/link.txt"), filepath.Join(cur, "a/link.txt")); err != nil {
		t.Fatal(err)
	}
	write(cur, "a/edit.txt", "after!")
	write(cur, "b/moved.txt", "moved body")
	write(cur, "a/touched.txt", "touched")
	write(cur, "a/new.txt", "new")
	old := time.Unix(1_700_000_000, 0)
	for _, root := range []string{base, cur} {
		if err := os.Chtimes(filepath.Join(root, "a/same.txt"), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(base, "a/touched.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	b, err := NewBase(base)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := b.Diff(cur)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]scan.ChangeKind{}
	for _, c := range ch {
		got[c.Path()] = c.Kind
	}
	want := map[string]scan.ChangeKind{"a/edit.txt": scan.Modified, "a/gone.txt": scan.Deleted, "a/moved.txt": scan.Deleted,
		"b/moved.txt": scan.Added, "a/new.txt": scan.Added, "a/touched.txt": scan.Modified}
	if len(got) != len(want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	for p, k := range want {
		if got[p] != k {
			t.Errorf("%s: %v, want %v", p, got[p], k)
		}
	}
	ids := map[string]string{}
	for _, c := range ch {
		if c.Old != nil {
			ids["old:"+c.Old.Path] = c.Old.ID
		}
		if c.New != nil {
			ids["new:"+c.New.Path] = c.New.ID
		}
	}
	if ids["old:a/moved.txt"] != ids["new:b/moved.txt"] || ids["old:a/touched.txt"] != ids["new:a/touched.txt"] || ids["old:a/edit.txt"] == ids["new:a/edit.txt"] {
		t.Errorf("content IDs: %v", ids)
	}
	v, err := scan.Judge(context.Background(), ch, scan.Options{PreviousFiles: b.Files()})
	if err != nil {
		t.Fatal(err)
	}
	if v.Level != scan.Clean || len(Flagged(v)) != 0 || v.Stats.Renamed != 1 {
		t.Errorf("verdict %+v", v)
	}
}

// TestFlagged checks the per-file decision: strong file findings and the
// files of strong point findings, nothing weak.
func TestFlagged(t *testing.T) {
	v := scan.Verdict{Evidence: []scan.Evidence{
		{Path: "a.txt", Weight: 1, Strong: true},
		{Path: "b.txt", Weight: 0.3},
		{Path: "*.lockd", Weight: 5, Strong: true, Files: []string{"c.lockd", "a.txt"}},
		{Path: "(deletions)", Weight: 3},
		{Path: "n/README.txt", Weight: 1, Files: []string{"n/README.txt"}},
	}}
	got := Flagged(v)
	want := []string{"a.txt", "c.lockd"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("flagged %v, want %v", got, want)
	}
}
