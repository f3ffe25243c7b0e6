package remote

import (
	"context"
	"fmt"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/tree"
)

// BenchmarkRestoreManyFiles restores, through a server, a point shaped like
// a source tree: directories of directories of small files.
func BenchmarkRestoreManyFiles(b *testing.B) {
	m, _ := crypto.NewMasterKey()
	k, _ := m.Derive()
	ck := k.ContentKey()
	blobs := map[blob.Handle][]byte{}
	put := func(t blob.Type, data []byte) blob.ID {
		h := blob.Handle{ID: ck.BlobID(data), Type: t}
		blobs[h] = data
		return h.ID
	}
	listing := func(nodes []*tree.Node) blob.ID {
		data, err := tree.Encode(&tree.Tree{Nodes: nodes})
		if err != nil {
			b.Fatal(err)
		}
		return put(blob.TreeBlob, data)
	}
	const top, sub, files = 20, 20, 50
	var tops []*tree.Node
	for i := range top {
		var subs []*tree.Node
		for j := range sub {
			var fs []*tree.Node
			for f := range files {
				data := fmt.Appendf(nil, "file %d of directory %d/%d, %0*d", f, i, j, 200+f*37, 0)
				fs = append(fs, &tree.Node{Name: fmt.Sprintf("f%03d", f), Type: tree.TypeFile, Mode: 0o644,
					Size: uint64(len(data)), Content: []blob.ID{put(blob.DataBlob, data)}})
			}
			id := listing(fs)
			subs = append(subs, &tree.Node{Name: fmt.Sprintf("s%02d", j), Type: tree.TypeDir, Mode: 0o755, Subtree: &id})
		}
		id := listing(subs)
		tops = append(tops, &tree.Node{Name: fmt.Sprintf("t%02d", i), Type: tree.TypeDir, Mode: 0o755, Subtree: &id})
	}
	root := listing(tops)
	c, requests := fakeRestoreServer(b, ck, root, blobs)
	ctx := context.Background()
	for b.Loop() {
		r, err := StartRestore(ctx, c, "prod", "latest")
		if err != nil {
			b.Fatal(err)
		}
		res, err := restorer.Restore(ctx, r, r.Point(), restorer.Options{Target: b.TempDir()})
		if err != nil || len(res.Errors) > 0 || res.Files != top*sub*files {
			b.Fatalf("restore: %+v %v", res, err)
		}
		r.Close(ctx)
	}
	b.ReportMetric(float64(requests())/float64(b.N), "requests/op")
}
