package prune_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/prune"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/testfs"
)

func randomFile(t *testing.T, path string, size int, seed uint32) {
	t.Helper()
	data := make([]byte, size)
	x := seed
	for i := range data {
		x = x*1664525 + 1013904223
		data[i] = byte(x >> 24)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func backup(t *testing.T, r *repo.Repository, src string) *repo.Point {
	t.Helper()
	a, err := archiver.New(r, archiver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func storedBytes(t *testing.T, v *repotest.Vault) int64 {
	var n int64
	err := v.OpenNoIndex(t).Backend().List(context.Background(), storage.KindPack, func(fi storage.Info) error {
		n += fi.Size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPruneFreesForgottenDataAndKeepsTheRest(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	keep := filepath.Join(src, "keep")
	os.MkdirAll(keep, 0o755)
	testfs.Build(t, filepath.Join(keep, "tree"))
	randomFile(t, filepath.Join(src, "doomed.bin"), 4<<20, 7)
	p1 := backup(t, r, src)
	os.Remove(filepath.Join(src, "doomed.bin"))
	p2 := backup(t, r, src)
	before := storedBytes(t, v)

	// Dry run changes nothing.
	st, err := prune.Prune(context.Background(), v.Open(t), prune.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.BytesFreed != 0 || storedBytes(t, v) != before {
		t.Fatalf("dry run with every point alive would free %d bytes", st.BytesFreed)
	}
	// Forget the first point: its unique 4 MiB must go.
	if err := r.Backend().Delete(context.Background(), storage.Handle{Kind: storage.KindPoint, Name: p1.ID.String()}); err != nil {
		t.Fatal(err)
	}
	st, err = prune.Prune(context.Background(), v.Open(t), prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := storedBytes(t, v)
	if before-after < 4<<20 {
		t.Fatalf("prune freed %d bytes, want at least 4 MiB (stats %+v)", before-after, st)
	}
	rep, err := checker.Check(context.Background(), v.OpenNoIndex(t), checker.Options{ReadData: true})
	if err != nil || !rep.OK() || len(rep.UnindexedPack) > 0 {
		t.Fatalf("check after prune: %+v %v", rep, err)
	}
	target := t.TempDir()
	res, err := restorer.Restore(context.Background(), v.Open(t), p2, restorer.Options{Target: target, Verify: true})
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("restore after prune: %+v %v", res, err)
	}
	testfs.Compare(t, keep, filepath.Join(target, keep))
	// A second prune finds nothing more to do.
	st, err = prune.Prune(context.Background(), v.Open(t), prune.Options{})
	if err != nil || st.PacksDeleted+st.PacksRepacked+st.PacksUnindexed != 0 {
		t.Fatalf("second prune: %+v %v", st, err)
	}
}

func TestPruneRemovesPacksOfInterruptedBackups(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	randomFile(t, filepath.Join(src, "a"), 3<<20, 1)
	// Store blobs without a point and without writing their index, as a
	// backup killed before it finished leaves them.
	a, err := archiver.New(r, archiver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Backup(context.Background(), []string{src}); err != nil {
		t.Fatal(err)
	}
	var points, indexes []string
	r.Backend().List(context.Background(), storage.KindPoint, func(fi storage.Info) error { points = append(points, fi.Handle.Name); return nil })
	r.Backend().List(context.Background(), storage.KindIndex, func(fi storage.Info) error { indexes = append(indexes, fi.Handle.Name); return nil })
	for _, n := range points {
		r.Backend().Delete(context.Background(), storage.Handle{Kind: storage.KindPoint, Name: n})
	}
	for _, n := range indexes {
		r.Backend().Delete(context.Background(), storage.Handle{Kind: storage.KindIndex, Name: n})
	}
	st, err := prune.Prune(context.Background(), v.Open(t), prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.PacksUnindexed == 0 || storedBytes(t, v) != 0 {
		t.Fatalf("unindexed packs left: %+v, %d bytes stored", st, storedBytes(t, v))
	}
}

// A long-lived repository (a vault server's) prunes while backups are under
// way: blobs they rely on (Keep) and packs too young to be safe (MinAge)
// survive, and afterwards the repository no longer finds the blobs of
// deleted packs, so it cannot deduplicate against them.
func TestPruneKeepsClaimsAndYoungPacksAndForgetsDeleted(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	testfs.Build(t, filepath.Join(src, "tree"))
	backup(t, r, src)
	claimed := []byte("a chunk a backup in progress uploaded, not yet in a point")
	orphan := []byte("a chunk nobody needs")
	hc := blob.Handle{ID: r.Key().BlobID(claimed), Type: blob.DataBlob}
	ho := blob.Handle{ID: r.Key().BlobID(orphan), Type: blob.DataBlob}
	for _, d := range [][]byte{claimed, orphan} {
		if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(d), d); err != nil {
			t.Fatal(err)
		}
		if err := r.Flush(ctx); err != nil { // one pack each
			t.Fatal(err)
		}
	}
	// Young packs are untouchable.
	st, err := prune.Prune(ctx, r, prune.Options{MinAge: time.Hour, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if st.PacksDeleted != 0 || !r.Has(ho) || !r.Has(hc) {
		t.Fatalf("young packs pruned: %+v", st)
	}
	st, err = prune.Prune(ctx, r, prune.Options{Keep: map[blob.Handle]bool{hc: true}})
	if err != nil {
		t.Fatal(err)
	}
	if st.PacksDeleted != 1 {
		t.Fatalf("want exactly the orphan's pack deleted: %+v", st)
	}
	if r.Has(ho) {
		t.Fatal("the repository still finds a blob whose pack was deleted")
	}
	if !r.Has(hc) {
		t.Fatal("a claimed blob was pruned")
	}
	if got, err := r.LoadBlob(ctx, blob.DataBlob, hc.ID, nil); err != nil || string(got) != string(claimed) {
		t.Fatalf("claimed blob unreadable: %v", err)
	}
	rep, err := checker.Check(ctx, v.OpenNoIndex(t), checker.Options{ReadData: true})
	if err != nil || !rep.OK() {
		t.Fatalf("check after prune: %v %+v", err, rep)
	}
}
