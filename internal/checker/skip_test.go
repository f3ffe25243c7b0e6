package checker_test

import (
	"context"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

// packReadCounter counts the whole reads of each pack (the structure check
// loads listings with ranged reads of their own).
type packReadCounter struct {
	storage.Backend
	mu    sync.Mutex
	reads map[string]int
}

func (b *packReadCounter) Get(ctx context.Context, h storage.Handle, off, n int64) (io.ReadCloser, error) {
	if h.Kind == storage.KindPack && n < 0 {
		b.mu.Lock()
		b.reads[h.Name]++
		b.mu.Unlock()
	}
	return b.Backend.Get(ctx, h, off, n)
}

func openCounting(t *testing.T, v *repotest.Vault) (*repo.Repository, *packReadCounter) {
	t.Helper()
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	cb := &packReadCounter{Backend: be, reads: map[string]int{}}
	r, err := repo.Open(context.Background(), cb, v.Master, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, cb
}

// TestSkippedPacksAreNotRead checks an incremental read: packs SkipPack
// names are not read at all, so damage in them goes unseen, while damage in
// a pack that is read is reported, attributed to the point and its file,
// and PackDone tells which packs were read and whether each was sound.
func TestSkippedPacksAreNotRead(t *testing.T) {
	v, p, damagedPack, src := fixture(t)
	// Inside a chunk of the file, not a listing: a skipped pack's listings
	// are still loaded by the structure check.
	r0 := v.Open(t)
	n := findFile(t, r0, p, filepath.Join(src, "damaged.bin"))
	loc, _ := r0.Index().Lookup(blob.Handle{ID: n.Content[0], Type: blob.DataBlob})
	damage(t, packPath(v, damagedPack), func(b []byte) []byte { b[loc.Offset+uint64(loc.Length)/2] ^= 0x04; return b })

	// Skip the damaged pack: it is not read and nothing is reported.
	r, cb := openCounting(t, v)
	done := map[string]bool{}
	rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: true,
		SkipPack: func(id blob.ID) bool { return id.String() == damagedPack },
		PackDone: func(id blob.ID, ok bool) { done[id.String()] = ok },
	})
	if err != nil {
		t.Fatal(err)
	}
	if cb.reads[damagedPack] != 0 {
		t.Errorf("skipped pack read %d times", cb.reads[damagedPack])
	}
	if !rep.OK() || rep.PacksSkipped != 1 || rep.PacksRead != rep.Packs-1 {
		t.Fatalf("skipping the damaged pack: %+v", rep)
	}
	if _, ok := done[damagedPack]; ok || len(done) != rep.PacksRead {
		t.Errorf("PackDone told of %v; want every pack read but the skipped one", done)
	}
	for id, ok := range done {
		if !ok {
			t.Errorf("sound pack %s reported unsound", id)
		}
	}

	// Skip every other pack: only the damaged one is read, and reported.
	r, cb = openCounting(t, v)
	done = map[string]bool{}
	rep, err = checker.Check(context.Background(), r, checker.Options{ReadData: true,
		SkipPack: func(id blob.ID) bool { return id.String() != damagedPack },
		PackDone: func(id blob.ID, ok bool) { done[id.String()] = ok },
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range cb.reads {
		if name != damagedPack && n > 0 {
			t.Errorf("skipped pack %s read %d times", name, n)
		}
	}
	if cb.reads[damagedPack] == 0 || rep.PacksRead != 1 || rep.PacksSkipped != rep.Packs-1 {
		t.Fatalf("reads %v, report %+v", cb.reads, rep)
	}
	if ok, seen := done[damagedPack]; !seen || ok || len(done) != 1 {
		t.Errorf("PackDone told of %v; want the damaged pack, unsound", done)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != "pack-damaged" {
		t.Fatalf("problems: %+v", rep.Problems)
	}
	found := false
	for _, a := range rep.Problems[0].Affected {
		found = found || a.Point == p.ID
	}
	if !found {
		t.Errorf("damage not attributed to point %s: %+v", p.ID.Short(), rep.Problems[0])
	}
}
