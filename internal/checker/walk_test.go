package checker_test

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

// countingBackend counts ranged reads of packs, which is how listings load.
type countingBackend struct {
	storage.Backend
	ranged *atomic.Int64
}

func (b countingBackend) Get(ctx context.Context, h storage.Handle, off, n int64) (io.ReadCloser, error) {
	if h.Kind == storage.KindPack && n >= 0 {
		b.ranged.Add(1)
	}
	return b.Backend.Get(ctx, h, off, n)
}

// listingLoads checks the vault and returns how many blobs it read one by one.
func listingLoads(t *testing.T, v *repotest.Vault) (int64, *checker.Report) {
	t.Helper()
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	var n atomic.Int64
	r, err := repo.Open(context.Background(), countingBackend{Backend: be, ranged: &n}, v.Master, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := checker.Check(context.Background(), r, checker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Load(), rep
}

// TestSharedListingsAreWalkedOnce checks that points with the same listings
// cost a check no more listing loads than one point.
func TestSharedListingsAreWalkedOnce(t *testing.T) {
	v, _, _, src := fixture(t)
	one, rep := listingLoads(t, v)
	if !rep.OK() || one == 0 {
		t.Fatalf("one point: %d loads, %+v", one, rep)
	}
	r := v.Open(t)
	for range 2 {
		a, err := archiver.New(r, archiver.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Backup(context.Background(), []string{src}); err != nil {
			t.Fatal(err)
		}
	}
	three, rep := listingLoads(t, v)
	if !rep.OK() || rep.Points != 3 {
		t.Fatalf("three points: %+v", rep)
	}
	if three != one {
		t.Errorf("checking three points with the same listings loaded %d listings, one point %d", three, one)
	}
}

// TestDamageInSharedListingNamesEveryPoint checks that a damaged blob below
// a listing several points share is reported for each of them.
func TestDamageInSharedListingNamesEveryPoint(t *testing.T) {
	v, p1, pack, src := fixture(t)
	r := v.Open(t)
	a, err := archiver.New(r, archiver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	// The points share the listing of src (those of its parents may
	// differ: other work changes /tmp meanwhile).
	if l1, l2 := listingAt(t, r, p1.Tree, src), listingAt(t, r, p2.Tree, src); l1 != l2 {
		t.Fatalf("the second backup of the same files made another listing of them: %s", listingDiff(t, r, l1, l2))
	}
	at := firstDataBlob(t, v, pack)
	want := damagedFiles(t, v, p1, pack, func(l index.Location) bool { return l.Offset == at })
	damage(t, packPath(v, pack), func(b []byte) []byte { b[at+100] ^= 0x04; return b })
	rep := check(t, v)
	for file := range want {
		assertReported(t, rep, "pack-damaged", pack, file, p1)
		assertReported(t, rep, "pack-damaged", pack, file, p2)
	}
}

// listingAt returns the listing of directory dir in the tree at root.
func listingAt(t *testing.T, r *repo.Repository, root blob.ID, dir string) blob.ID {
	t.Helper()
	id := root
	for _, name := range strings.Split(strings.Trim(dir, "/"), "/") {
		tr, err := r.LoadTree(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, n := range tr.Nodes {
			if n.Name == name && n.Subtree != nil {
				id, found = *n.Subtree, true
				break
			}
		}
		if !found {
			t.Fatalf("no directory %s in listing %s", name, id.Short())
		}
	}
	return id
}

// listingDiff describes the first difference between two listings, walking
// into subdirectories that differ.
func listingDiff(t *testing.T, r *repo.Repository, a, b blob.ID) string {
	t.Helper()
	ta, errA := r.LoadTree(context.Background(), a)
	tb, errB := r.LoadTree(context.Background(), b)
	if errA != nil || errB != nil {
		return fmt.Sprintf("load listings: %v, %v", errA, errB)
	}
	if len(ta.Nodes) != len(tb.Nodes) {
		return fmt.Sprintf("%d entries against %d", len(ta.Nodes), len(tb.Nodes))
	}
	for i := range ta.Nodes {
		na, nb := *ta.Nodes[i], *tb.Nodes[i]
		if na.Subtree != nil && nb.Subtree != nil && *na.Subtree != *nb.Subtree {
			return na.Name + "/: " + listingDiff(t, r, *na.Subtree, *nb.Subtree)
		}
		na.Subtree, nb.Subtree = nil, nil
		if !reflect.DeepEqual(na, nb) {
			return fmt.Sprintf("%s: %+v against %+v", na.Name, na, nb)
		}
	}
	return "the listings decode the same"
}
