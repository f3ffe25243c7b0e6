package remote

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/wire"
)

// fakeVault answers the backup protocol the way a server does as far as a
// client can tell: it says which blobs it lacks, checks every uploaded blob
// against its id, and records what it was asked and sent.
type fakeVault struct {
	t       *testing.T
	key     *crypto.IDKey
	comp    *repo.Compressor
	delay   time.Duration // each upload takes this long
	failing bool          // uploads are refused

	mu                    sync.Mutex
	have                  map[blob.Handle][]byte
	asked                 [][]blob.Handle     // each request for missing blobs
	uploaded              map[blob.Handle]int // times each blob was uploaded
	bodies                []int               // size of each upload body
	sizes                 map[blob.Handle]int // the test's own record of blob sizes
	inFlight, maxInFlight int                 // uploads at once
}

func newFakeVault(t *testing.T) (*fakeVault, *client.Client) {
	t.Helper()
	m, err := crypto.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Derive()
	if err != nil {
		t.Fatal(err)
	}
	comp, err := repo.NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(comp.Close)
	f := &fakeVault{t: t, key: k.ContentKey(), comp: comp, have: map[blob.Handle][]byte{},
		uploaded: map[blob.Handle]int{}, sizes: map[blob.Handle]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/vaults/v/sessions", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.SessionResponse{Session: "s1", ContentKey: base64.StdEncoding.EncodeToString(f.key.Bytes()),
			ChunkMin: 512 << 10, ChunkAvg: 1 << 20, ChunkMax: 8 << 20, PackSize: 16 << 20})
	})
	mux.HandleFunc("POST /v1/sessions/s1/missing", f.missing)
	mux.HandleFunc("POST /v1/sessions/s1/blobs", f.upload)
	mux.HandleFunc("POST /v1/sessions/s1/commit", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Point{Point: &store.Point{ID: strings.Repeat("c", 64), Tree: strings.Repeat("d", 64)}})
	})
	mux.HandleFunc("DELETE /v1/sessions/s1", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := client.New(client.Options{URL: srv.URL, HTTPClient: srv.Client(), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeVault) missing(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	hs, err := wire.DecodeHandles(body, 10000)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.asked = append(f.asked, hs)
	var lack []blob.Handle
	for _, h := range hs {
		if _, ok := f.have[h]; !ok {
			lack = append(lack, h)
		}
	}
	f.mu.Unlock()
	_, _ = w.Write(wire.AppendHandles(nil, lack))
}

func (f *fakeVault) upload(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	time.Sleep(f.delay)
	if f.failing {
		http.Error(w, `{"error":{"code":"internal","message":"disk full"}}`, http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	fr := wire.NewFrameReader(bytes.NewReader(body), pack.MaxBlobSize, 4096)
	var res api.UploadResult
	for {
		fm, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		plain := append([]byte(nil), fm.Payload...)
		if fm.Compressed {
			if plain, err = f.comp.Decompress(nil, fm.Payload, fm.RawLen); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		if len(plain) != fm.RawLen || f.key.BlobID(plain) != fm.Handle.ID {
			http.Error(w, fmt.Sprintf("blob %d of the upload is not %s", res.Received, fm.Handle), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.uploaded[fm.Handle]++
		if _, ok := f.have[fm.Handle]; !ok {
			f.have[fm.Handle] = plain
			res.Stored++
		}
		f.mu.Unlock()
		res.Received++
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, len(body))
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(res)
}

// testBlob is a blob a test saves.
type testBlob struct {
	h    blob.Handle
	data []byte
}

// makeBlobs returns n data blobs of up to maxSize bytes, half of them
// compressible text and half random bytes, with distinct contents.
func makeBlobs(key *crypto.IDKey, n, maxSize int, seed uint64) []testBlob {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]testBlob, n)
	for i := range out {
		size := 1 + r.IntN(maxSize)
		data := make([]byte, size)
		if i%2 == 0 {
			line := []byte(fmt.Sprintf("blob %d, line of compressible text %d\n", i, r.Uint64()))
			for j := range data {
				data[j] = line[j%len(line)]
			}
		} else {
			for j := range data {
				data[j] = byte(r.Uint32())
			}
		}
		out[i] = testBlob{h: blob.Handle{ID: key.BlobID(data), Type: blob.DataBlob}, data: data}
	}
	return out
}

// Every blob reaches the vault once and intact, in batches within the
// documented bounds, with the blobs the vault holds not sent, while
// savers run concurrently and batches are under way at once (so batch
// buffers are filled again while others are in flight).
func TestBackupSendsEachBlobOnceInBoundedBatches(t *testing.T) {
	f, c := newFakeVault(t)
	f.delay = 5 * time.Millisecond
	ctx := context.Background()
	b, err := StartBackup(ctx, c, "v", api.SessionRequest{Hostname: "h", Paths: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	blobs := makeBlobs(f.key, 600, 200<<10, 1)
	// A chunk as large as a batch, and a listing larger than one.
	chunk := bytes.Repeat([]byte("a chunk of the largest size "), (8<<20)/28+1)[:8<<20]
	blobs = append(blobs, testBlob{h: blob.Handle{ID: f.key.BlobID(chunk), Type: blob.DataBlob}, data: chunk})
	listing := bytes.Repeat([]byte("a very large listing "), 600_000)
	blobs = append(blobs, testBlob{h: blob.Handle{ID: f.key.BlobID(listing), Type: blob.TreeBlob}, data: listing})
	present := 0
	for i, tb := range blobs {
		f.sizes[tb.h] = len(tb.data)
		if i%7 == 3 {
			f.have[tb.h] = tb.data
			present++
		}
	}

	const savers = 4
	var wg sync.WaitGroup
	errs := make(chan error, savers)
	for s := range savers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The savers' buffers are reused after each call, as the
			// archiver's are.
			var buf []byte
			for i := s; i < len(blobs); i += savers {
				buf = append(buf[:0], blobs[i].data...)
				isNew, err := b.SaveBlob(ctx, blobs[i].h.Type, blobs[i].h.ID, buf)
				if err != nil || !isNew {
					errs <- fmt.Errorf("SaveBlob %d: new %v, %v", i, isNew, err)
					return
				}
				clear(buf)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if isNew, err := b.SaveBlob(ctx, blobs[0].h.Type, blobs[0].h.ID, blobs[0].data); isNew || err != nil {
		t.Errorf("saving a blob again: new %v, %v", isNew, err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	for i, tb := range blobs {
		got, ok := f.have[tb.h]
		if !ok || !bytes.Equal(got, tb.data) {
			t.Fatalf("blob %d (%s, %d bytes): in the vault %v, intact %v", i, tb.h, len(tb.data), ok, bytes.Equal(got, tb.data))
		}
		want := 1
		if i%7 == 3 {
			want = 0
		}
		if n := f.uploaded[tb.h]; n != want {
			t.Errorf("blob %d uploaded %d times, want %d", i, n, want)
		}
	}
	askedOnce := map[blob.Handle]bool{}
	for i, hs := range f.asked {
		size := 0
		for _, h := range hs {
			if askedOnce[h] {
				t.Errorf("%s asked about twice", h)
			}
			askedOnce[h] = true
			size += f.sizes[h]
		}
		if len(hs) > batchBlobs || (size > batchBytes && len(hs) > 1) {
			t.Errorf("batch %d: %d blobs of %d bytes, over %d blobs or %d bytes", i, len(hs), size, batchBlobs, batchBytes)
		}
	}
	if len(askedOnce) != len(blobs) {
		t.Errorf("asked about %d blobs, saved %d", len(askedOnce), len(blobs))
	}
	if f.maxInFlight < 2 || f.maxInFlight > batchesInAir {
		t.Errorf("%d uploads at once, want 2 to %d", f.maxInFlight, batchesInAir)
	}
	for _, n := range f.bodies {
		if n > uploadMaxBody+wire.FrameHeaderSize+len(listing) {
			t.Errorf("upload body of %d bytes", n)
		}
	}
	st := b.SaveStats()
	if st.Blobs != int64(len(blobs)-present) || b.Present != int64(present) {
		t.Errorf("stats: %d blobs sent, %d present; want %d and %d", st.Blobs, b.Present, len(blobs)-present, present)
	}
	if st.StoredBytes >= st.RawBytes {
		t.Errorf("stats: %d bytes sent for %d raw: nothing compressed", st.StoredBytes, st.RawBytes)
	}
}

// A failed upload fails the backup: a later SaveBlob or the flush says so.
func TestBackupReportsAFailedUpload(t *testing.T) {
	f, c := newFakeVault(t)
	f.failing = true
	ctx := context.Background()
	b, err := StartBackup(ctx, c, "v", api.SessionRequest{Hostname: "h", Paths: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	var failed error
	for _, tb := range makeBlobs(f.key, 200, 200<<10, 2) {
		if _, err := b.SaveBlob(ctx, tb.h.Type, tb.h.ID, tb.data); err != nil {
			failed = err
			break
		}
	}
	if err := b.Flush(ctx); err == nil || (failed != nil && err.Error() != failed.Error()) {
		t.Fatalf("flush after failed uploads: %v (SaveBlob said %v)", err, failed)
	} else if !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %q does not say why", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}
