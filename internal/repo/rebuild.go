package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/storage"
)

// RebuildStats tell what RebuildIndex did.
type RebuildStats struct {
	Packs      int      `json:"packs"`      // packs stored
	Indexed    int      `json:"indexed"`    // packs whose header was read and indexed
	Blobs      int      `json:"blobs"`      // blobs the new index names
	Unreadable []string `json:"unreadable"` // packs whose header could not be read: left out, named with the reason
	Index      string   `json:"index"`      // the new index object
	Removed    int      `json:"removed"`    // old index objects deleted
	Kept       []string `json:"kept"`       // old index objects the storage would not let go (retained); harmless
	BadOld     int      `json:"bad_old"`    // old index objects that did not decode (damaged)
}

// headerReaders bounds the pack headers RebuildIndex reads at once.
const headerReaders = 8

// RebuildIndex rebuilds the index from the packs themselves: it reads the
// header of every stored pack, writes one index object naming every pack
// whose header authenticates, and then deletes every other index object,
// so that damaged or lost index objects, and index entries of packs that
// are gone, no longer count. The new index is written before any old one is
// deleted, so an interruption leaves a vault that opens. progress, if not
// nil, is told of each pack read. The caller holds the vault exclusively.
func (r *Repository) RebuildIndex(ctx context.Context, progress func(done, total int)) (*RebuildStats, error) {
	var packs []storage.Info
	err := r.be.List(ctx, storage.KindPack, func(fi storage.Info) error {
		if _, err := blob.ParseID(fi.Handle.Name); err == nil {
			packs = append(packs, fi)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	st := &RebuildStats{Packs: len(packs), Unreadable: []string{}, Kept: []string{}}
	found, bad, err := r.readHeaders(ctx, packs, progress)
	if err != nil {
		return nil, err
	}
	st.Unreadable = bad
	fresh := index.New()
	for _, p := range found {
		fresh.AddPack(p.Pack, p.Salt, p.Entries)
		st.Blobs += len(p.Entries)
	}
	st.Indexed = len(found)
	var old []blob.ID
	err = r.be.List(ctx, storage.KindIndex, func(fi storage.Info) error {
		if id, err := blob.ParseID(fi.Handle.Name); err == nil {
			old = append(old, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list index: %w", err)
	}
	id, err := r.WriteIndex(ctx, found)
	if err != nil {
		return nil, err
	}
	st.Index = id.String()
	for _, o := range old {
		if o == id {
			continue
		}
		if _, err := r.ReadIndexObject(ctx, o); err != nil && ctx.Err() == nil {
			st.BadOld++
		}
		err := r.be.Delete(ctx, storage.Handle{Kind: storage.KindIndex, Name: o.String()})
		switch {
		case err == nil || errors.Is(err, storage.ErrNotFound):
			st.Removed++
		case errors.Is(err, storage.ErrRetained):
			st.Kept = append(st.Kept, o.String())
		default:
			return st, fmt.Errorf("delete index %s: %w", o.Short(), err)
		}
	}
	r.loadMu.Lock()
	r.idx.Replace(fresh)
	r.loaded = map[blob.ID]bool{id: true}
	r.loadMu.Unlock()
	return st, nil
}

// readHeaders reads the headers of packs, a few at a time. A pack whose
// header does not read or authenticate is left out and named in bad.
func (r *Repository) readHeaders(ctx context.Context, packs []storage.Info, progress func(done, total int)) ([]index.PackEntries, []string, error) {
	var (
		mu    sync.Mutex
		found []index.PackEntries
		bad   []string
		done  int
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, headerReaders)
	for _, fi := range packs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			id, _ := blob.ParseID(fi.Handle.Name)
			entries, t, err := pack.ReadHeader(ctx, r.be, r.key, id, fi.Size)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					bad = append(bad, fmt.Sprintf("%s: %v", id, err))
				}
			} else {
				found = append(found, index.PackEntries{Pack: id, Salt: t.Salt, Entries: entries})
			}
			done++
			if progress != nil {
				progress(done, len(packs))
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Pack.String() < found[j].Pack.String() })
	sort.Strings(bad)
	return found, bad, nil
}
