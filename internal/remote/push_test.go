package remote

import (
	"context"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/replicate"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/testfs"
)

var _ replicate.Dest = (*Push)(nil)

// pushOnce copies root from src into the fake vault through a new push
// session, with the pairs of m checked against the vault.
func pushOnce(t *testing.T, f *fakeVault, c *client.Client, src replicate.Source, m replicate.Map, root blob.ID) replicate.Stats {
	t.Helper()
	ctx := context.Background()
	p, err := StartPush(ctx, c, "v", api.SessionRequest{Hostname: "h", Paths: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	copied, st, err := replicate.Copy(ctx, src, p, p.Checked(m), root, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(p.IDKey().Bytes()) != string(f.key.Bytes()) {
		t.Fatal("the push does not name blobs under the vault's content key")
	}
	f.mu.Lock()
	_, ok := f.have[blob.Handle{ID: copied, Type: blob.TreeBlob}]
	f.mu.Unlock()
	if !ok {
		t.Fatalf("the copy's root listing %s is not in the vault", copied.Short())
	}
	return st
}

// A push uploads each blob the vault lacks once. Pairs of earlier pushes
// spare reading what the vault holds, but a pair whose blob the vault no
// longer holds is not trusted: that blob is read and sent again.
func TestPushTrustsOnlyPairsTheVaultHolds(t *testing.T) {
	f, c := newFakeVault(t)
	sv := repotest.New(t)
	sr := sv.Open(t)
	dir := t.TempDir()
	testfs.Build(t, dir)
	a, err := archiver.New(sr, archiver.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	pt, _, err := a.Backup(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	src := replicate.VaultSource{Vault: sr}
	var m replicate.MemMap
	pc := c
	first := pushOnce(t, f, pc, src, &m, pt.Tree)
	if first.BlobsRead == 0 {
		t.Fatalf("the first push read nothing: %+v", first)
	}
	for h, n := range f.uploaded {
		if n != 1 {
			t.Fatalf("blob %s uploaded %d times", h, n)
		}
	}
	again := pushOnce(t, f, pc, src, &m, pt.Tree)
	if again.BlobsRead != 0 || again.TreesRead != 0 || again.TreesSkipped != 1 {
		t.Fatalf("a second push of the same point read %+v; want nothing but the root looked up", again)
	}
	// The point expires at the vault and is collected, but for one chunk
	// that another point keeps: the next push reads and sends the
	// listings and the other chunks, and nothing the vault still holds.
	var kept blob.Handle
	f.mu.Lock()
	for h := range f.have {
		if h.Type == blob.DataBlob {
			kept = h
			break
		}
	}
	for h := range f.have {
		if h != kept {
			delete(f.have, h)
		}
	}
	f.uploaded = map[blob.Handle]int{}
	f.mu.Unlock()
	third := pushOnce(t, f, pc, src, &m, pt.Tree)
	if third.BlobsRead != first.BlobsRead-1 || third.TreesRead != first.TreesRead || f.uploaded[kept] != 0 {
		t.Fatalf("after the vault collected all but one chunk the push read %+v (the first read %+v) and sent the kept chunk %d times",
			third, first, f.uploaded[kept])
	}
	for h, n := range f.uploaded {
		if n != 1 {
			t.Fatalf("blob %s uploaded %d times", h, n)
		}
	}
}
