package remote

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/tree"
	"github.com/bunkerhq/bunker/internal/wire"
)

// A server (or anything between it and the client) that answers a restore
// with other content than the blob asked for is caught by the client.
func TestRestoreRefusesForeignContent(t *testing.T) {
	m, _ := crypto.NewMasterKey()
	k, _ := m.Derive()
	ck := k.ContentKey()
	honest := []byte("the file as it was backed up")
	id := ck.BlobID(honest)
	var answer func(h blob.Handle) wire.Frame
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/vaults/prod/points/latest/restore", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.RestoreResponse{Session: "s1", ContentKey: base64.StdEncoding.EncodeToString(ck.Bytes()),
			Point: api.Point{Point: &store.Point{ID: strings.Repeat("a", 64), Tree: strings.Repeat("b", 64)}}})
	})
	mux.HandleFunc("POST /v1/restores/s1/blobs", func(w http.ResponseWriter, r *http.Request) {
		var buf [wire.HandleSize]byte
		r.Body.Read(buf[:])
		hs, _ := wire.DecodeHandles(buf[:], 1)
		w.Write(wire.AppendFrame(nil, answer(hs[0])))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := client.New(client.Options{URL: srv.URL, HTTPClient: srv.Client(), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := StartRestore(ctx, c, "prod", "latest")
	if err != nil {
		t.Fatal(err)
	}
	other := blob.Handle{ID: ck.BlobID([]byte("x")), Type: blob.DataBlob}
	cases := map[string]func(blob.Handle) wire.Frame{
		"other content": func(h blob.Handle) wire.Frame { return wire.Frame{Handle: h, RawLen: 6, Payload: []byte("ransom")} },
		"another blob":  func(blob.Handle) wire.Frame { return wire.Frame{Handle: other, RawLen: 1, Payload: []byte("x")} },
		"a zip bomb": func(h blob.Handle) wire.Frame {
			return wire.Frame{Handle: h, Compressed: true, RawLen: 10, Payload: []byte("not zstd")}
		},
		"as a tree": func(h blob.Handle) wire.Frame {
			return wire.Frame{Handle: blob.Handle{ID: h.ID, Type: blob.TreeBlob}, RawLen: len(honest), Payload: honest}
		},
	}
	for name, fn := range cases {
		answer = fn
		if _, err := r.LoadBlob(ctx, blob.DataBlob, id, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	answer = func(h blob.Handle) wire.Frame { return wire.Frame{Handle: h, RawLen: len(honest), Payload: honest} }
	got, err := r.LoadBlob(ctx, blob.DataBlob, id, nil)
	if err != nil || string(got) != string(honest) {
		t.Fatalf("honest answer: %q %v", got, err)
	}
}

// After a listing is read, its files' content arrives in batches, not one
// request a chunk, and every chunk still comes out right.
func TestRestorePrefetchesInBatches(t *testing.T) {
	m, _ := crypto.NewMasterKey()
	k, _ := m.Derive()
	ck := k.ContentKey()
	blobs := map[blob.Handle][]byte{}
	var nodes []*tree.Node
	for i := range 200 {
		data := []byte(fmt.Sprintf("content of file %d", i))
		h := blob.Handle{ID: ck.BlobID(data), Type: blob.DataBlob}
		blobs[h] = data
		nodes = append(nodes, &tree.Node{Name: fmt.Sprintf("f%03d", i), Type: tree.TypeFile, Mode: 0o644, Size: uint64(len(data)), Content: []blob.ID{h.ID}})
	}
	listing, err := tree.Encode(&tree.Tree{Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	root := blob.Handle{ID: ck.BlobID(listing), Type: blob.TreeBlob}
	blobs[root] = listing
	c, requests := fakeRestoreServer(t, ck, root.ID, blobs)
	ctx := context.Background()
	r, err := StartRestore(ctx, c, "prod", "latest")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	lt, err := r.LoadTree(ctx, root.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(lt.Nodes); i += 4 {
				id := lt.Nodes[i].Content[0]
				got, err := r.LoadBlob(ctx, blob.DataBlob, id, nil)
				if err != nil || string(got) != string(blobs[blob.Handle{ID: id, Type: blob.DataBlob}]) {
					t.Errorf("file %d: %q %v", i, got, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := requests(); n > 200/prefetchBatch+20 {
		t.Fatalf("%d requests for 200 small files: not batched", n)
	}
}

// fakeRestoreServer serves a restore session over blobs and counts the
// requests for blobs.
func fakeRestoreServer(t testing.TB, ck *crypto.IDKey, root blob.ID, blobs map[blob.Handle][]byte) (*client.Client, func() int) {
	t.Helper()
	var mu sync.Mutex
	requests := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/vaults/prod/points/latest/restore", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.RestoreResponse{Session: "s1", ContentKey: base64.StdEncoding.EncodeToString(ck.Bytes()),
			Point: api.Point{Point: &store.Point{ID: strings.Repeat("a", 64), Tree: root.String()}}})
	})
	mux.HandleFunc("POST /v1/restores/s1/blobs", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		hs, err := wire.DecodeHandles(body, 1024)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var out []byte
		for _, h := range hs {
			out = wire.AppendFrame(out, wire.Frame{Handle: h, RawLen: len(blobs[h]), Payload: blobs[h]})
		}
		w.Write(out)
	})
	mux.HandleFunc("DELETE /v1/restores/s1", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := client.New(client.Options{URL: srv.URL, HTTPClient: srv.Client(), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return c, func() int { mu.Lock(); defer mu.Unlock(); return requests }
}

// Listings are fetched ahead with the content: restoring a point of many
// small directories costs batched requests, not a few per directory.
func TestRestorePrefetchesListings(t *testing.T) {
	m, _ := crypto.NewMasterKey()
	k, _ := m.Derive()
	ck := k.ContentKey()
	blobs := map[blob.Handle][]byte{}
	put := func(t blob.Type, data []byte) blob.ID {
		h := blob.Handle{ID: ck.BlobID(data), Type: t}
		blobs[h] = data
		return h.ID
	}
	var dirs []*tree.Node
	const nDirs, nFiles = 50, 4
	for d := range nDirs {
		var files []*tree.Node
		for f := range nFiles {
			data := []byte(fmt.Sprintf("file %d of directory %d", f, d))
			files = append(files, &tree.Node{Name: fmt.Sprintf("f%d", f), Type: tree.TypeFile, Mode: 0o644, Size: uint64(len(data)), Content: []blob.ID{put(blob.DataBlob, data)}})
		}
		listing, err := tree.Encode(&tree.Tree{Nodes: files})
		if err != nil {
			t.Fatal(err)
		}
		id := put(blob.TreeBlob, listing)
		dirs = append(dirs, &tree.Node{Name: fmt.Sprintf("d%02d", d), Type: tree.TypeDir, Mode: 0o755, Subtree: &id})
	}
	listing, err := tree.Encode(&tree.Tree{Nodes: dirs})
	if err != nil {
		t.Fatal(err)
	}
	root := put(blob.TreeBlob, listing)
	c, requests := fakeRestoreServer(t, ck, root, blobs)
	ctx := context.Background()
	r, err := StartRestore(ctx, c, "prod", "latest")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	res, err := restorer.Restore(ctx, r, r.Point(), restorer.Options{Target: t.TempDir(), Verify: true})
	if err != nil || len(res.Errors) > 0 || res.Files != nDirs*nFiles {
		t.Fatalf("restore: %+v %v", res, err)
	}
	// Fetched one listing at a time, with the content of each, this takes
	// over a hundred requests.
	if n := requests(); n > nDirs {
		t.Fatalf("%d requests to restore %d directories of %d files: listings are not fetched ahead", n, nDirs, nFiles)
	}
}
