package replicate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/replicate"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/testfs"
	"github.com/klauspost/compress/zstd"
)

func backup(t *testing.T, r *repo.Repository, src string) *repo.Point {
	t.Helper()
	a, err := archiver.New(r, archiver.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// handles lists every blob the tree at root needs, walking r.
func handles(t *testing.T, r *repo.Repository, root blob.ID) map[blob.Handle]struct{} {
	t.Helper()
	out := map[blob.Handle]struct{}{}
	var walk func(id blob.ID)
	walk = func(id blob.ID) {
		out[blob.Handle{ID: id, Type: blob.TreeBlob}] = struct{}{}
		tr, err := r.LoadTree(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Nodes {
			for _, c := range n.Content {
				out[blob.Handle{ID: c, Type: blob.DataBlob}] = struct{}{}
			}
			if n.Subtree != nil {
				walk(*n.Subtree)
			}
		}
	}
	walk(root)
	return out
}

func dataCount(hs map[blob.Handle]struct{}) int {
	n := 0
	for h := range hs {
		if h.Type == blob.DataBlob {
			n++
		}
	}
	return n
}

// restoreCopy restores the copy at root from dst and compares it with src.
func restoreCopy(t *testing.T, dst *repo.Repository, p *repo.Point, root blob.ID, src string) {
	t.Helper()
	cp := *p
	cp.Tree = root
	target := t.TempDir()
	if _, err := restorer.Restore(context.Background(), dst, &cp, restorer.Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	testfs.Compare(t, src, filepath.Join(target, src))
}

// countingSource counts the blobs read through it, and fails once failAfter
// data blobs were read when failAfter > 0.
type countingSource struct {
	replicate.VaultSource
	data, trees atomic.Int64
	failAfter   int64
}

var errCut = errors.New("connection cut")

func (s *countingSource) LoadBlobs(ctx context.Context, hs []blob.Handle, fn func(h blob.Handle, data, compressed []byte) error) error {
	return s.VaultSource.LoadBlobs(ctx, hs, func(h blob.Handle, data, compressed []byte) error {
		if h.Type == blob.TreeBlob {
			s.trees.Add(1)
			return fn(h, data, compressed)
		}
		if s.failAfter > 0 && s.data.Load() >= s.failAfter {
			return errCut
		}
		s.data.Add(1)
		return fn(h, data, compressed)
	})
}

// zstdSource sends each data blob with a compressed form, as a remote
// server's restore does.
type zstdSource struct {
	replicate.VaultSource
	enc *zstd.Encoder
}

func (s zstdSource) LoadBlobs(ctx context.Context, hs []blob.Handle, fn func(h blob.Handle, data, compressed []byte) error) error {
	return s.VaultSource.LoadBlobs(ctx, hs, func(h blob.Handle, data, _ []byte) error {
		if h.Type == blob.TreeBlob {
			return fn(h, data, nil)
		}
		return fn(h, data, s.enc.EncodeAll(data, nil))
	})
}

// savedCompressed counts the blobs a destination stored in the form the
// source sent.
type savedCompressed struct {
	*repo.Repository
	n atomic.Int64
}

func (d *savedCompressed) SaveCompressed(ctx context.Context, t blob.Type, id blob.ID, data, compressed []byte) (bool, error) {
	d.n.Add(1)
	return d.Repository.SaveCompressed(ctx, t, id, data, compressed)
}

// A source that sends blobs compressed has them stored as it sent them,
// not compressed again, and the copy restores byte for byte.
func TestCopyKeepsTheSourcesCompression(t *testing.T) {
	src := t.TempDir()
	testfs.Build(t, src)
	if err := os.WriteFile(filepath.Join(src, "text.txt"), bytes.Repeat([]byte("compressible text, again and again. "), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	sv, dv := repotest.New(t), repotest.New(t)
	sr := sv.Open(t)
	p := backup(t, sr, src)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dst := &savedCompressed{Repository: dv.Open(t)}
	var m replicate.MemMap
	root, st, err := replicate.Copy(context.Background(), zstdSource{replicate.VaultSource{Vault: sr}, enc}, dst, &m, p.Tree, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := dst.n.Load(); n != int64(st.BlobsRead) || n == 0 {
		t.Fatalf("%d of %d data blobs were stored in the source's compressed form", n, st.BlobsRead)
	}
	restoreCopy(t, dv.Open(t), p, root, src)
}

func TestCopyRestoresByteForByteUnderTheDestinationsKeys(t *testing.T) {
	src := t.TempDir()
	testfs.Build(t, src)
	sv, dv := repotest.New(t), repotest.New(t)
	sr, dr := sv.Open(t), dv.Open(t)
	p := backup(t, sr, src)

	var m replicate.MemMap
	root, st, err := replicate.Copy(context.Background(), replicate.VaultSource{Vault: sr}, dr, &m, p.Tree, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := handles(t, sr, p.Tree)
	if st.BlobsRead != dataCount(want) || st.BlobsNew != len(want) || st.TreesSkipped != 0 {
		t.Fatalf("stats %+v, want %d data blobs read and %d new", st, dataCount(want), len(want))
	}
	if m.Len() != len(want) {
		t.Fatalf("map holds %d pairs, want %d", m.Len(), len(want))
	}
	// The copy is named under the destination's keys: none of the
	// source's ids is in it, and it restores from the destination alone.
	for h := range want {
		if dr.Has(h) {
			t.Fatalf("the destination holds %s under the source's id", h)
		}
	}
	if root == p.Tree {
		t.Fatal("the copy's root has the source's id")
	}
	// Reopened, as a later process would: everything was flushed.
	restoreCopy(t, dv.Open(t), p, root, src)
}

func TestIncrementalCopyReadsOnlyNewChunks(t *testing.T) {
	src := t.TempDir()
	testfs.Build(t, src)
	sv, dv := repotest.New(t), repotest.New(t)
	sr, dr := sv.Open(t), dv.Open(t)
	p1 := backup(t, sr, src)
	var m replicate.MemMap
	if _, _, err := replicate.Copy(context.Background(), replicate.VaultSource{Vault: sr}, dr, &m, p1.Tree, replicate.Options{}); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(src, "sub", "new.txt"), []byte("a new file for the second point\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "small.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p2 := backup(t, sr, src)
	old, cur := handles(t, sr, p1.Tree), handles(t, sr, p2.Tree)
	newData := 0
	for h := range cur {
		if _, ok := old[h]; !ok && h.Type == blob.DataBlob {
			newData++
		}
	}
	if newData == 0 {
		t.Fatal("the second point has no new chunk; the test would prove nothing")
	}
	cs := &countingSource{VaultSource: replicate.VaultSource{Vault: sr}}
	root, st, err := replicate.Copy(context.Background(), cs, dr, &m, p2.Tree, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if int(cs.data.Load()) != newData || st.BlobsRead != newData {
		t.Fatalf("read %d data blobs (stats %+v), want only the %d new ones", cs.data.Load(), st, newData)
	}
	if st.TreesSkipped == 0 {
		t.Fatalf("no unchanged directory was skipped: %+v", st)
	}
	restoreCopy(t, dr, p2, root, src)
}

func TestInterruptedCopyResumesWithoutDuplicates(t *testing.T) {
	src := t.TempDir()
	testfs.Build(t, src)
	// More chunks, so that the cut comes with packs already written.
	big := make([]byte, 6<<20)
	for i := range big {
		big[i] = byte(i*7919 + i>>9)
	}
	if err := os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	sv, dv := repotest.New(t), repotest.New(t)
	sr := sv.Open(t)
	p := backup(t, sr, src)
	total := dataCount(handles(t, sr, p.Tree))

	var m replicate.MemMap
	cut := &countingSource{VaultSource: replicate.VaultSource{Vault: sr}, failAfter: int64(total / 2)}
	_, st1, err := replicate.Copy(context.Background(), cut, dv.Open(t), &m, p.Tree, replicate.Options{Workers: 1, BatchBlobs: 4})
	if !errors.Is(err, errCut) {
		t.Fatalf("the cut copy: %v, want the cut", err)
	}
	if st1.BlobsRead == 0 || st1.BlobsRead >= total {
		t.Fatalf("the cut copy read %d of %d data blobs", st1.BlobsRead, total)
	}

	// Resumed by a new process.
	dr := dv.Open(t)
	cs := &countingSource{VaultSource: replicate.VaultSource{Vault: sr}}
	root, st2, err := replicate.Copy(context.Background(), cs, dr, &m, p.Tree, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st1.BlobsRead+st2.BlobsRead != total {
		t.Fatalf("read %d then %d data blobs, want %d in all: a resumed copy reads only the rest", st1.BlobsRead, st2.BlobsRead, total)
	}
	for h := range handles(t, dr, root) {
		if n := len(dr.Index().LookupAll(h)); n != 1 {
			t.Fatalf("%s is stored %d times", h, n)
		}
	}
	restoreCopy(t, dr, p, root, src)
}

func TestCopyRecopiesWhatTheDestinationLost(t *testing.T) {
	src := t.TempDir()
	testfs.Build(t, src)
	sv := repotest.New(t)
	sr := sv.Open(t)
	p := backup(t, sr, src)
	var m replicate.MemMap
	// A map that remembers a copy into a vault that no longer holds it
	// (a fresh vault stands for one whose copies were collected).
	if _, _, err := replicate.Copy(context.Background(), replicate.VaultSource{Vault: sr}, repotest.New(t).Open(t), &m, p.Tree, replicate.Options{}); err != nil {
		t.Fatal(err)
	}
	dr := repotest.New(t).Open(t)
	root, st, err := replicate.Copy(context.Background(), replicate.VaultSource{Vault: sr}, dr, &m, p.Tree, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.BlobsRead != dataCount(handles(t, sr, p.Tree)) || st.TreesSkipped != 0 {
		t.Fatalf("trusted the map for blobs the destination lacks: %+v", st)
	}
	restoreCopy(t, dr, p, root, src)
}

func TestCopyOfAMissingBlobFails(t *testing.T) {
	sv, dv := repotest.New(t), repotest.New(t)
	sr := sv.Open(t)
	var m replicate.MemMap
	var missing blob.ID
	missing[0] = 1
	_, _, err := replicate.Copy(context.Background(), replicate.VaultSource{Vault: sr}, dv.Open(t), &m, missing, replicate.Options{})
	if !errors.Is(err, repo.ErrBlobMissing) {
		t.Fatalf("copy of a missing root: %v, want ErrBlobMissing", err)
	}
	if m.Len() != 0 {
		t.Fatalf("the map recorded %d pairs of a failed copy", m.Len())
	}
}

// orderSource records the data blobs it is asked for, in order.
type orderSource struct {
	replicate.VaultSource
	mu    sync.Mutex
	asked []blob.ID
}

func (s *orderSource) LoadBlobs(ctx context.Context, hs []blob.Handle, fn func(h blob.Handle, data, compressed []byte) error) error {
	s.mu.Lock()
	for _, h := range hs {
		if h.Type == blob.DataBlob {
			s.asked = append(s.asked, h.ID)
		}
	}
	s.mu.Unlock()
	return s.VaultSource.LoadBlobs(ctx, hs, fn)
}

// A copy asks for the chunks depth first, in the order of the listings:
// the order a backup stores them in, so that each batch lies in a few
// stretches of the source's packs.
func TestCopyReadsChunksInTheOrderOfTheListings(t *testing.T) {
	src := t.TempDir()
	testfs.Build(t, src)
	for i := range 40 {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i%5), fmt.Sprintf("e%02d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(fmt.Sprintf("file %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sv, dv := repotest.New(t), repotest.New(t)
	sr := sv.Open(t)
	p := backup(t, sr, src)
	var want []blob.ID
	seen := map[blob.ID]bool{}
	var walk func(id blob.ID)
	walk = func(id blob.ID) {
		tr, err := sr.LoadTree(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Nodes {
			for _, c := range n.Content {
				if !seen[c] {
					seen[c] = true
					want = append(want, c)
				}
			}
			if n.Subtree != nil {
				walk(*n.Subtree)
			}
		}
	}
	walk(p.Tree)
	rec := &orderSource{VaultSource: replicate.VaultSource{Vault: sr}}
	var m replicate.MemMap
	if _, _, err := replicate.Copy(context.Background(), rec, dv.Open(t), &m, p.Tree, replicate.Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.asked, want) {
		t.Fatalf("asked for %d chunks in another order than the listings' %d", len(rec.asked), len(want))
	}
}
