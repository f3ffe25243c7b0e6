// Package prune removes data that no recovery point needs: packs whose blobs
// are all unused are deleted, and packs holding mostly unused blobs are
// rewritten with only the live ones. Callers hold the vault's exclusive lock.
package prune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Options configure a prune.
type Options struct {
	DryRun bool
	// MaxUnused is the fraction of a pack's bytes that may be unused before
	// the pack is rewritten; 0 rewrites every pack with any unused blob.
	MaxUnused float64
	// Keep names blobs that are live although no point names them yet: what
	// backups in progress rely on.
	Keep map[blob.Handle]bool
	// MinAge leaves packs younger than this (at Now) untouched, indexed or
	// not: a backup in progress may still be writing or indexing them.
	MinAge time.Duration
	Now    time.Time
	// Deletable, when set, says whether a pack may be deleted now (its
	// storage retention has passed); packs it refuses are kept whole, not
	// rewritten.
	Deletable func(pack blob.ID) bool
	// Delete, when set, deletes an object in place of the backend's Delete
	// (a vault server uses the governance bypass where its policy allows).
	Delete func(ctx context.Context, h storage.Handle) error
	// Deleted, when set, is told of every object deleted.
	Deleted func(h storage.Handle)
}

// Stats says what a prune did, or would do.
type Stats struct {
	Points          int   `json:"points"`
	PacksKept       int   `json:"packs_kept"`
	PacksDeleted    int   `json:"packs_deleted"`
	PacksRepacked   int   `json:"packs_repacked"`
	PacksUnindexed  int   `json:"packs_unindexed_deleted"`
	PacksRetained   int   `json:"packs_retained"` // unused, but kept by their storage retention for now
	BlobsRepacked   int   `json:"blobs_repacked"`
	BytesFreed      int64 `json:"bytes_freed"`
	IndexesReplaced int   `json:"indexes_replaced"`
}

// Prune removes unused data from the vault behind r, whose index must be loaded.
//
// The order keeps the vault consistent if prune is interrupted at any point:
// live blobs are first copied into new packs and indexed; then one index
// object naming every kept pack is written; only then are the old index
// objects deleted, and last the packs that no index names any more.
func Prune(ctx context.Context, r *repo.Repository, opts Options) (*Stats, error) {
	st := &Stats{}
	used, err := usedBlobs(ctx, r, st)
	if err != nil {
		return nil, err
	}
	for h := range opts.Keep {
		used[h] = true
	}
	sizes, young, err := packSizes(ctx, r.Backend(), opts.Now.Add(-opts.MinAge), opts.MinAge > 0)
	if err != nil {
		return nil, err
	}
	if opts.Deletable != nil {
		for id := range sizes {
			if !young[id] && !opts.Deletable(id) {
				young[id] = true // kept whole, like a young pack
				st.PacksRetained++
			}
		}
	}
	plan := planPacks(r.Index(), used, sizes, young, opts.MaxUnused)
	st.PacksKept, st.PacksDeleted, st.PacksRepacked = len(plan.keep), len(plan.remove), len(plan.repack)
	for id, size := range sizes {
		if !r.Index().HasPack(id) && !young[id] {
			plan.unindexed = append(plan.unindexed, id)
			st.BytesFreed += size
		}
	}
	st.PacksUnindexed = len(plan.unindexed)
	for _, id := range append(plan.remove, plan.repack...) {
		st.BytesFreed += sizes[id]
	}
	if opts.DryRun {
		for _, pe := range plan.repackEntries {
			st.BlobsRepacked += len(pe.Entries)
		}
		return st, nil
	}
	n, err := repack(ctx, r, plan.repackEntries)
	st.BlobsRepacked = n
	if err != nil {
		return st, err
	}
	dead := map[blob.ID]bool{}
	for _, id := range append(plan.remove, plan.repack...) {
		dead[id] = true
	}
	replaced, err := rewriteIndex(ctx, r, dead, opts)
	st.IndexesReplaced = replaced
	if err != nil {
		return st, err
	}
	del := opts.Delete
	if del == nil {
		del = r.Backend().Delete
	}
	for _, id := range append(append(plan.remove, plan.repack...), plan.unindexed...) {
		h := storage.Handle{Kind: storage.KindPack, Name: id.String()}
		err := del(ctx, h)
		switch {
		case errors.Is(err, storage.ErrRetained):
			// The storage still holds it under retention; a later prune
			// finds it again, unindexed, and deletes it then.
			st.PacksRetained++
			continue
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return st, fmt.Errorf("delete pack %s: %w", id.Short(), err)
		}
		if opts.Deleted != nil {
			opts.Deleted(h)
		}
	}
	// The in-memory index still names the deleted packs; a long-lived
	// repository must not deduplicate against them.
	if err := r.ReloadIndex(ctx); err != nil {
		return st, err
	}
	return st, nil
}

// usedBlobs walks every point and collects the blobs they need.
func usedBlobs(ctx context.Context, r *repo.Repository, st *Stats) (map[blob.Handle]bool, error) {
	points, err := r.Points(ctx)
	if err != nil {
		return nil, err
	}
	st.Points = len(points)
	used := map[blob.Handle]bool{}
	for _, p := range points {
		used[blob.Handle{ID: p.Tree, Type: blob.TreeBlob}] = true
		err := checker.WalkPoint(ctx, r, p, func(p *repo.Point, np string, n *tree.Node, err error) error {
			if err != nil {
				return fmt.Errorf("point %s: %s: %w (run `bunker check`; prune stops rather than delete data)", p.ID.Short(), np, err)
			}
			if n.Subtree != nil {
				used[blob.Handle{ID: *n.Subtree, Type: blob.TreeBlob}] = true
			}
			for _, id := range n.Content {
				used[blob.Handle{ID: id, Type: blob.DataBlob}] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return used, nil
}

// packSizes lists the stored packs with their sizes, and, when byAge is
// set, the ones written after cutoff.
func packSizes(ctx context.Context, be storage.Backend, cutoff time.Time, byAge bool) (map[blob.ID]int64, map[blob.ID]bool, error) {
	sizes := map[blob.ID]int64{}
	young := map[blob.ID]bool{}
	err := be.List(ctx, storage.KindPack, func(fi storage.Info) error {
		if id, err := blob.ParseID(fi.Handle.Name); err == nil {
			sizes[id] = fi.Size
			if byAge && fi.ModTime.After(cutoff) {
				young[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list packs: %w", err)
	}
	return sizes, young, nil
}

type packPlan struct {
	keep, remove, repack, unindexed []blob.ID
	repackEntries                   []index.PackEntries // live blobs to copy out of repacked packs
}

// planPacks decides the fate of each indexed pack. A blob stored in several
// packs counts as live only in the first pack that holds it.
func planPacks(idx *index.Index, used map[blob.Handle]bool, sizes map[blob.ID]int64, young map[blob.ID]bool, maxUnused float64) packPlan {
	var plan packPlan
	claimed := map[blob.Handle]bool{}
	for _, pe := range idx.Snapshot() {
		if _, stored := sizes[pe.Pack]; !stored {
			continue // missing pack: nothing to delete; check reports it
		}
		if young[pe.Pack] {
			plan.keep = append(plan.keep, pe.Pack)
			continue
		}
		var live []pack.Entry
		var liveBytes, allBytes uint64
		for _, e := range pe.Entries {
			h := blob.Handle{ID: e.ID, Type: e.Type}
			allBytes += uint64(e.Length)
			if used[h] && !claimed[h] {
				claimed[h] = true
				live = append(live, e)
				liveBytes += uint64(e.Length)
			}
		}
		switch {
		case len(live) == 0:
			plan.remove = append(plan.remove, pe.Pack)
		case len(live) == len(pe.Entries) || float64(allBytes-liveBytes) <= maxUnused*float64(allBytes):
			plan.keep = append(plan.keep, pe.Pack)
		default:
			plan.repack = append(plan.repack, pe.Pack)
			plan.repackEntries = append(plan.repackEntries, index.PackEntries{Pack: pe.Pack, Salt: pe.Salt, Entries: live})
		}
	}
	return plan
}

// repack copies live blobs into new packs.
func repack(ctx context.Context, r *repo.Repository, packs []index.PackEntries) (int, error) {
	n := 0
	for _, pe := range packs {
		for _, e := range pe.Entries {
			h := blob.Handle{ID: e.ID, Type: e.Type}
			l := index.Location{Pack: pe.Pack, Salt: pe.Salt, Offset: e.Offset, Length: e.Length, RawLen: e.RawLen, Flags: e.Flags}
			data, err := loadAt(ctx, r, h, l)
			if err != nil {
				return n, fmt.Errorf("repack %s: %w", h, err)
			}
			if err := r.RepackBlob(ctx, h, data); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, r.Flush(ctx)
}

func loadAt(ctx context.Context, r *repo.Repository, h blob.Handle, l index.Location) ([]byte, error) {
	rd, err := r.Backend().Get(ctx, storage.Handle{Kind: storage.KindPack, Name: l.Pack.String()}, int64(l.Offset), int64(l.Length))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	sealed := make([]byte, l.Length)
	if _, err := io.ReadFull(rd, sealed); err != nil {
		return nil, err
	}
	return r.OpenBlob(h, l, sealed, nil)
}

// rewriteIndex writes one index object naming every pack not in dead, then
// deletes every other index object. It returns how many it deleted.
func rewriteIndex(ctx context.Context, r *repo.Repository, dead map[blob.ID]bool, opts Options) (int, error) {
	var old []string
	err := r.Backend().List(ctx, storage.KindIndex, func(fi storage.Info) error {
		old = append(old, fi.Handle.Name)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list index: %w", err)
	}
	var live []index.PackEntries
	for _, pe := range r.Index().Snapshot() {
		if !dead[pe.Pack] {
			live = append(live, pe)
		}
	}
	newID, err := r.WriteIndex(ctx, live)
	if err != nil {
		return 0, err
	}
	del := opts.Delete
	if del == nil {
		del = r.Backend().Delete
	}
	n := 0
	for _, name := range old {
		if name == newID.String() {
			continue
		}
		h := storage.Handle{Kind: storage.KindIndex, Name: name}
		err := del(ctx, h)
		switch {
		case errors.Is(err, storage.ErrRetained):
			continue // superseded but retained: harmless, and gone later
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return n, fmt.Errorf("delete index %s: %w", name, err)
		}
		if opts.Deleted != nil {
			opts.Deleted(h)
		}
		n++
	}
	return n, nil
}
