package repo_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/tree"
)

// countingBackend counts the reads of pack objects.
type countingBackend struct {
	storage.Backend
	gets  atomic.Int64
	bytes atomic.Int64 // asked for from packs
}

func (b *countingBackend) Get(ctx context.Context, h storage.Handle, off, n int64) (io.ReadCloser, error) {
	if h.Kind == storage.KindPack {
		b.gets.Add(1)
		b.bytes.Add(n)
	}
	return b.Backend.Get(ctx, h, off, n)
}

func openCounting(t *testing.T, v *repotest.Vault, cache int) (*repo.Repository, *countingBackend) {
	t.Helper()
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cb := &countingBackend{Backend: be}
	r, err := repo.Open(context.Background(), cb, v.Master, repo.Options{TreeCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); be.Close() })
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r, cb
}

func saveTrees(t *testing.T, r *repo.Repository, n int) []blob.ID {
	t.Helper()
	ctx := context.Background()
	var ids []blob.ID
	for i := range n {
		id, err := r.SaveTree(ctx, &tree.Tree{Nodes: []*tree.Node{{Name: fmt.Sprintf("file-%04d", i), Type: tree.TypeFile}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return ids
}

// With a tree cache, trees just saved and trees loaded once are read from
// memory; without one, every load reads the storage.
func TestTreeCache(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	r, cb := openCounting(t, v, 1<<20)
	ids := saveTrees(t, r, 50)
	for _, id := range ids {
		tr, err := r.LoadTree(ctx, id)
		if err != nil || len(tr.Nodes) != 1 {
			t.Fatalf("load %s: %v", id.Short(), err)
		}
	}
	if n := cb.gets.Load(); n != 0 {
		t.Fatalf("%d pack reads for trees this repository saved itself", n)
	}

	cold, cb := openCounting(t, v, 1<<20)
	for range 3 {
		for _, id := range ids {
			if _, err := cold.LoadTree(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := cb.gets.Load(); n != int64(len(ids)) {
		t.Fatalf("%d pack reads for 3 passes over %d trees, want one each", n, len(ids))
	}

	none, cb := openCounting(t, v, 0)
	for range 2 {
		for _, id := range ids {
			if _, err := none.LoadTree(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := cb.gets.Load(); n != 2*int64(len(ids)) {
		t.Fatalf("without a cache: %d pack reads, want %d", n, 2*len(ids))
	}
}

// The cache holds at most its size: a cache too small for every tree
// evicts the least recently used and reads them again.
func TestTreeCacheEvicts(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	ids := saveTrees(t, v.Open(t), 200)
	data, err := v.Open(t).LoadBlob(ctx, blob.TreeBlob, ids[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	small, cb := openCounting(t, v, 20*len(data)) // room for about 20 of the 200
	for range 2 {
		for _, id := range ids {
			if _, err := small.LoadTree(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := cb.gets.Load(); n < 2*int64(len(ids))-25 {
		t.Fatalf("%d pack reads for two passes over %d trees through a cache of ~20: the cache holds more than its size", n, len(ids))
	}
}

// A tree the index no longer names (garbage collection removed it) is
// missing even while the cache still holds it.
func TestTreeCacheFollowsIndex(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	r, _ := openCounting(t, v, 1<<20)
	ids := saveTrees(t, r, 3)
	if _, err := r.LoadTree(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	r.Index().Replace(index.New())
	if _, err := r.LoadTree(ctx, ids[0]); err == nil {
		t.Fatal("a tree the index does not name loaded from the cache")
	}
}
