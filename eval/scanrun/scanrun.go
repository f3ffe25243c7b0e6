// Package scanrun runs bunker's ransomware scanner (internal/scan) over the
// evaluation set written by eval/suite and turns its verdicts into the
// neutral results eval/score reads.
//
// Every scenario tree is compared with the clean point as the recovery
// point code compares two points: only what differs becomes a
// [scan.Change] (a path in both trees with different content or metadata
// is Modified, a path only in the clean tree Deleted, a path only in the
// scenario Added; renames are left to [scan.Judge] to infer). A file's
// content ID is its size and SHA-256, so identical content pairs across
// paths. The number of files in the clean point is passed as
// [scan.Options.PreviousFiles], so deletion and change spikes are relative
// to the point.
//
// The per-file decision is [Flagged]: the files with strong evidence of
// their own, and the files named by a strong point finding (ransom notes,
// files renamed to one new extension, new random files replacing deleted
// ones).
package scanrun

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/bunkerhq/bunker/eval/score"
	"github.com/bunkerhq/bunker/eval/suite"
	"github.com/bunkerhq/bunker/internal/scan"
)

// ScannerName names bunker's scanner in the results.
const ScannerName = "bunker internal/scan"

// entry is one regular file of a tree.
type entry struct {
	abs  string
	info fs.FileInfo
}

// walk lists the regular files of a tree by slash-separated relative path.
func walk(root string) (map[string]entry, error) {
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = entry{abs: p, info: info}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	return out, nil
}

// contentID is the size and SHA-256 of a file.
func contentID(p string, size int64) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return fmt.Sprintf("%d-%x", size, h.Sum(nil)), nil
}

// Base is a point that others are compared with: its files and, computed
// when first needed, their content IDs. A Base is not safe for concurrent
// use.
type Base struct {
	root  string
	files map[string]entry
	ids   map[string]string
}

// NewBase lists the files of the point at root.
func NewBase(root string) (*Base, error) {
	files, err := walk(root)
	if err != nil {
		return nil, err
	}
	return &Base{root: root, files: files, ids: map[string]string{}}, nil
}

// Files is the number of files in the point.
func (b *Base) Files() int { return len(b.files) }

func (b *Base) id(rel string) (string, error) {
	if id, ok := b.ids[rel]; ok {
		return id, nil
	}
	e := b.files[rel]
	id, err := contentID(e.abs, e.info.Size())
	if err != nil {
		return "", err
	}
	b.ids[rel] = id
	return id, nil
}

func ref(rel string, e entry, id string) *scan.FileRef {
	abs := e.abs
	return &scan.FileRef{Path: rel, Size: e.info.Size(), ID: id,
		Open: func(context.Context) (io.ReaderAt, error) { return os.Open(abs) }}
}

// Diff returns the changes from the base point to the point at root, in
// path order. Files that are the same inode as in the base (hard links),
// or have the same content, mode and modification time, are unchanged and
// left out.
func (b *Base) Diff(root string) ([]scan.Change, error) {
	cur, err := walk(root)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(cur)+len(b.files))
	for p := range cur {
		paths = append(paths, p)
	}
	for p := range b.files {
		if _, ok := cur[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var out []scan.Change
	for _, p := range paths {
		ne, inNew := cur[p]
		oe, inOld := b.files[p]
		switch {
		case inNew && inOld:
			if os.SameFile(ne.info, oe.info) {
				continue
			}
			oid, err := b.id(p)
			if err != nil {
				return nil, err
			}
			nid, err := contentID(ne.abs, ne.info.Size())
			if err != nil {
				return nil, err
			}
			if oid == nid && ne.info.Mode() == oe.info.Mode() && ne.info.ModTime().Equal(oe.info.ModTime()) {
				continue
			}
			out = append(out, scan.Change{Kind: scan.Modified, Old: ref(p, oe, oid), New: ref(p, ne, nid)})
		case inNew:
			nid, err := contentID(ne.abs, ne.info.Size())
			if err != nil {
				return nil, err
			}
			out = append(out, scan.Change{Kind: scan.Added, New: ref(p, ne, nid)})
		default:
			oid, err := b.id(p)
			if err != nil {
				return nil, err
			}
			out = append(out, scan.Change{Kind: scan.Deleted, Old: ref(p, oe, oid)})
		}
	}
	return out, nil
}

// Flagged returns the files a verdict holds to be attacked, sorted: the
// paths of strong file findings and the files of strong point findings.
// Weak findings (a broken structure without ciphertext, malformed or
// random new files alone) and point findings that do not corroborate an
// attack (deletion and change spikes) flag nothing.
func Flagged(v scan.Verdict) []string {
	set := map[string]bool{}
	for _, e := range v.Evidence {
		if !e.Strong {
			continue
		}
		if e.Files != nil {
			for _, f := range e.Files {
				set[f] = true
			}
			continue
		}
		set[e.Path] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Level maps a scan level to a score verdict.
func Level(l scan.Level) score.Verdict {
	switch l {
	case scan.Infected:
		return score.Infected
	case scan.Suspicious:
		return score.Suspicious
	}
	return score.Clean
}

// Point is the scan of one scenario.
type Point struct {
	Scenario string        `json:"scenario"`
	Verdict  scan.Verdict  `json:"-"`
	Changes  int           `json:"changes"`
	Stats    scan.Stats    `json:"stats"`
	Score    float64       `json:"score"`
	Level    string        `json:"level"`
	Changed  int64         `json:"changed_bytes"` // sizes of the new versions of added and modified files
	Judge    time.Duration `json:"judge_ns"`      // time spent in scan.Judge
}

// Run is the scan of a whole evaluation set.
type Run struct {
	Results     score.Results `json:"results"`
	Points      []Point       `json:"points"`
	Parallelism int           `json:"parallelism"`
}

// Options controls Scan.
type Options struct {
	// Scan are the scanner's options; PreviousFiles is set from the
	// clean point and MaxEvidence raised so that every finding is kept.
	Scan scan.Options
	// Progress, when set, is called after each point.
	Progress func(Point)
}

// Scan judges every point of the evaluation set in dir (as written by
// eval/suite) against its clean point, the clean point included.
func Scan(ctx context.Context, dir string, opt Options) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("scanrun: %w", err)
	}
	var m suite.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("scanrun: manifest: %w", err)
	}
	base, err := NewBase(filepath.Join(dir, m.Clean))
	if err != nil {
		return nil, fmt.Errorf("scanrun: %w", err)
	}
	so := opt.Scan
	so.PreviousFiles = base.Files()
	if so.MaxEvidence <= 0 {
		so.MaxEvidence = 1 << 30
	}
	run := &Run{Results: score.Results{Scanner: ScannerName}, Parallelism: scan.DefaultOptions().Parallelism}
	if so.Parallelism > 0 {
		run.Parallelism = so.Parallelism
	}
	names := []string{m.Clean}
	dirs := []string{m.Clean}
	for _, p := range m.Points {
		names = append(names, p.Name)
		dirs = append(dirs, p.Dir)
	}
	for i, name := range names {
		ch, err := base.Diff(filepath.Join(dir, dirs[i]))
		if err != nil {
			return nil, fmt.Errorf("scanrun: %s: %w", name, err)
		}
		pt, err := JudgePoint(ctx, name, ch, so)
		if err != nil {
			return nil, fmt.Errorf("scanrun: %w", err)
		}
		run.Points = append(run.Points, pt)
		run.Results.Points = append(run.Results.Points, score.PointResult{
			Scenario: name, Verdict: Level(pt.Verdict.Level), Flagged: Flagged(pt.Verdict)})
		if opt.Progress != nil {
			opt.Progress(pt)
		}
	}
	return run, nil
}

// JudgePoint judges one point's changes and times the judgement.
func JudgePoint(ctx context.Context, name string, ch []scan.Change, so scan.Options) (Point, error) {
	pt := Point{Scenario: name, Changes: len(ch)}
	for _, c := range ch {
		if c.New != nil && (c.Old == nil || c.Old.ID != c.New.ID) {
			pt.Changed += c.New.Size
		}
	}
	start := time.Now()
	v, err := scan.Judge(ctx, ch, so)
	pt.Judge = time.Since(start)
	if err != nil {
		return pt, fmt.Errorf("%s: %w", name, err)
	}
	pt.Verdict = v
	pt.Stats = v.Stats
	pt.Score = v.Score
	pt.Level = v.Level.String()
	return pt, nil
}
