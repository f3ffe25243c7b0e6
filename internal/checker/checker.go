// Package checker proves a vault sound: every point's trees load, every blob
// they need is indexed and its pack present, and, with ReadData, every pack
// hashes to its name and every blob authenticates and hashes to its id.
// Damage is reported naming the object and the files and points it affects.
package checker

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/bufpool"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Options configure a check.
type Options struct {
	ReadData bool // read and authenticate every pack
	// Progress, if set, is told of each pack read.
	Progress func(done, total int)
	// SkipPack, if set, is asked of each stored pack before ReadData reads
	// it: a pack it names is not read, so damage inside it goes unseen
	// (a missing pack is still reported). An incremental verification
	// skips the packs it verified recently.
	SkipPack func(id blob.ID) bool
	// PackDone, if set, is told of each pack read with whether it was
	// sound: complete, hashing to its name, every blob authentic.
	PackDone func(id blob.ID, ok bool)
}

// Affected is a file or directory whose data is damaged.
type Affected struct {
	Point blob.ID `json:"point"`
	Path  string  `json:"path"`
}

// Problem is one defect found.
type Problem struct {
	Kind     string     `json:"kind"`   // e.g. "pack-missing", "pack-damaged", "blob-damaged", "blob-missing", "tree-damaged", "index-damaged", "point-damaged"
	Object   string     `json:"object"` // the stored object or blob concerned
	Detail   string     `json:"detail"`
	Affected []Affected `json:"affected,omitempty"`
}

// Report is the result of a check.
type Report struct {
	Points        int       `json:"points"`
	Packs         int       `json:"packs"`
	Blobs         int       `json:"blobs"`
	PacksRead     int       `json:"packs_read"`
	PacksSkipped  int       `json:"packs_skipped,omitempty"` // not read: SkipPack named them
	BytesRead     int64     `json:"bytes_read"`
	UnindexedPack []string  `json:"unindexed_packs,omitempty"` // left by interrupted backups; harmless, removed by prune
	Problems      []Problem `json:"problems"`
}

// OK reports whether the check found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

type checker struct {
	r       *repo.Repository
	opts    Options
	rep     Report
	mu      sync.Mutex
	damaged map[blob.Handle]int // blob → index of its problem in rep.Problems
	bufs    bufpool.Pool        // sealed blobs read from packs
}

// Check examines the vault behind r. r's index must not be loaded yet: Check
// loads each index object itself to report damaged ones.
//
// Backups may commit while Check runs. A backup stores its packs, then its
// index, then its point, so Check lists the points before it reads the
// index: every point it checks has its index already stored.
func Check(ctx context.Context, r *repo.Repository, opts Options) (*Report, error) {
	c := &checker{r: r, opts: opts, damaged: map[blob.Handle]int{}}
	pointIDs, err := c.listPoints(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.loadIndex(ctx); err != nil {
		return nil, err
	}
	stored, err := c.listPacks(ctx)
	if err != nil {
		return nil, err
	}
	c.checkPacksPresent(stored)
	if opts.ReadData {
		if err := c.readPacks(ctx, stored); err != nil {
			return nil, err
		}
	}
	points, err := c.loadPoints(ctx, pointIDs)
	if err != nil {
		return nil, err
	}
	if err := c.checkPoints(ctx, points); err != nil {
		return nil, err
	}
	c.rep.Blobs = r.Index().Len()
	return &c.rep, nil
}

func (c *checker) problem(p Problem) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.Problems = append(c.rep.Problems, p)
	return len(c.rep.Problems) - 1
}

func (c *checker) loadIndex(ctx context.Context) error {
	var ids []blob.ID
	err := c.r.Backend().List(ctx, storage.KindIndex, func(fi storage.Info) error {
		id, err := blob.ParseID(fi.Handle.Name)
		if err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list index: %w", err)
	}
	for _, id := range ids {
		packs, err := c.r.ReadIndexObject(ctx, id)
		if err != nil {
			c.problem(Problem{Kind: "index-damaged", Object: "index/" + id.String(), Detail: err.Error()})
			continue
		}
		for _, p := range packs {
			c.r.Index().AddPack(p.Pack, p.Salt, p.Entries)
		}
	}
	return nil
}

func (c *checker) listPacks(ctx context.Context) (map[blob.ID]int64, error) {
	stored := map[blob.ID]int64{}
	err := c.r.Backend().List(ctx, storage.KindPack, func(fi storage.Info) error {
		if id, err := blob.ParseID(fi.Handle.Name); err == nil {
			stored[id] = fi.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return stored, nil
}

// checkPacksPresent reports indexed packs that are missing, marking their
// blobs damaged, and notes stored packs that no index names.
func (c *checker) checkPacksPresent(stored map[blob.ID]int64) {
	contents := c.r.Index().PackContents()
	c.rep.Packs = len(contents)
	for id, pe := range contents {
		if _, ok := stored[id]; ok {
			continue
		}
		i := c.problem(Problem{Kind: "pack-missing", Object: "packs/" + id.String(),
			Detail: fmt.Sprintf("indexed pack with %d blobs is missing from storage", len(pe.Entries))})
		c.markDamaged(pe.Entries, i)
	}
	for id := range stored {
		if contents[id] == nil {
			c.rep.UnindexedPack = append(c.rep.UnindexedPack, id.String())
		}
	}
	slices.Sort(c.rep.UnindexedPack)
}

func (c *checker) markDamaged(entries []pack.Entry, problem int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		h := blob.Handle{ID: e.ID, Type: e.Type}
		// A blob with an intact copy elsewhere is not lost.
		if len(c.r.Index().LookupAll(h)) > 1 {
			continue
		}
		c.damaged[h] = problem
	}
}

func (c *checker) listPoints(ctx context.Context) ([]blob.ID, error) {
	var ids []blob.ID
	err := c.r.Backend().List(ctx, storage.KindPoint, func(fi storage.Info) error {
		if id, err := blob.ParseID(fi.Handle.Name); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list points: %w", err)
	}
	return ids, nil
}

// loadPoints loads the points listed before the index was read. A point
// forgotten since it was listed is not checked.
func (c *checker) loadPoints(ctx context.Context, ids []blob.ID) ([]*repo.Point, error) {
	var points []*repo.Point
	for _, id := range ids {
		p, err := c.r.LoadPoint(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			c.problem(Problem{Kind: "point-damaged", Object: "points/" + id.String(), Detail: err.Error()})
			continue
		}
		points = append(points, p)
	}
	c.rep.Points = len(points)
	return points, nil
}

// checkPoints walks every point, reporting unloadable trees and missing
// blobs, and names the files that need damaged blobs. Points share most of
// their listings: a subtree found whole once (every listing below it loads,
// every blob its files need is indexed and undamaged) is whole in every
// point, so it is not walked again.
func (c *checker) checkPoints(ctx context.Context, points []*repo.Point) error {
	whole := map[blob.ID]bool{}
	for _, p := range points {
		if _, err := c.walkTree(ctx, p, p.Tree, "/", whole); err != nil {
			return err
		}
	}
	return nil
}

// walkTree checks the listing id at dir and everything below it, and
// reports whether all of it is whole.
func (c *checker) walkTree(ctx context.Context, p *repo.Point, id blob.ID, dir string, whole map[blob.ID]bool) (bool, error) {
	if whole[id] {
		return true, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	t, err := c.r.LoadTree(ctx, id)
	if err != nil {
		c.treeDamaged(p, dir, &TreeError{ID: id, Err: err})
		return false, nil
	}
	ok := true
	for _, n := range t.Nodes {
		np := path.Join(dir, n.Name)
		switch {
		case n.Type == tree.TypeFile:
			ok = c.checkContent(p, np, n) && ok
		case n.Type == tree.TypeDir && n.Subtree != nil:
			sub, err := c.walkTree(ctx, p, *n.Subtree, np, whole)
			if err != nil {
				return false, err
			}
			ok = sub && ok
		}
	}
	if ok {
		whole[id] = true
	}
	return ok, nil
}

// treeDamaged attributes an unloadable listing to the damaged pack that
// holds it, or reports it on its own.
func (c *checker) treeDamaged(p *repo.Point, np string, err error) {
	var te *TreeError
	if errors.As(err, &te) {
		if i, ok := c.damaged[blob.Handle{ID: te.ID, Type: blob.TreeBlob}]; ok {
			c.affect(i, Affected{Point: p.ID, Path: np})
			return
		}
	}
	c.problem(Problem{Kind: "tree-damaged", Object: np, Detail: err.Error(),
		Affected: []Affected{{Point: p.ID, Path: np}}})
}

// checkContent names the file in the problem of its first damaged or
// missing blob, and reports whether it has none.
func (c *checker) checkContent(p *repo.Point, np string, n *tree.Node) bool {
	for _, id := range n.Content {
		h := blob.Handle{ID: id, Type: blob.DataBlob}
		if i, ok := c.damaged[h]; ok {
			c.affect(i, Affected{Point: p.ID, Path: np})
			return false
		}
		if !c.r.Index().Has(h) {
			i := c.problem(Problem{Kind: "blob-missing", Object: "blob " + id.String(), Detail: "no index names this blob"})
			c.damaged[h] = i
			c.affect(i, Affected{Point: p.ID, Path: np})
			return false
		}
	}
	return true
}

func (c *checker) affect(i int, a Affected) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pr := &c.rep.Problems[i]
	if len(pr.Affected) > 0 && pr.Affected[len(pr.Affected)-1] == a {
		return
	}
	pr.Affected = append(pr.Affected, a)
}
