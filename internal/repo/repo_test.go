package repo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
)

func TestConcurrentSaveDeduplicates(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	blobs := make([][]byte, 200)
	for i := range blobs {
		blobs[i] = bytes.Repeat([]byte(fmt.Sprintf("blob %d ", i)), 5000)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range blobs {
				b := blobs[(i+w*25)%len(blobs)]
				isNew, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(b), b)
				if err != nil {
					t.Error(err)
					return
				}
				if isNew {
					mu.Lock()
					stored++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if stored != len(blobs) {
		t.Fatalf("%d blobs stored as new, want exactly %d", stored, len(blobs))
	}
	// A fresh process sees every blob through the index objects.
	r2 := v.Open(t)
	for i, b := range blobs {
		got, err := r2.LoadBlob(ctx, blob.DataBlob, r2.Key().BlobID(b), nil)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
	if r2.Index().Len() != len(blobs) {
		t.Fatalf("index holds %d blobs, want %d", r2.Index().Len(), len(blobs))
	}
}

func TestRecoverPacksIndexesOrphans(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("orphan"), 100000)
	if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(data), data); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Drop the index, as a writer killed before writing it would leave things.
	var names []string
	r.Backend().List(ctx, storage.KindIndex, func(fi storage.Info) error { names = append(names, fi.Handle.Name); return nil })
	for _, n := range names {
		r.Backend().Delete(ctx, storage.Handle{Kind: storage.KindIndex, Name: n})
	}
	r2 := v.Open(t)
	if r2.Has(blob.Handle{ID: r2.Key().BlobID(data), Type: blob.DataBlob}) {
		t.Fatal("blob visible without an index")
	}
	n, err := r2.RecoverPacks(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d packs, %v", n, err)
	}
	isNew, err := r2.SaveBlob(ctx, blob.DataBlob, r2.Key().BlobID(data), data)
	if err != nil || isNew {
		t.Fatalf("blob in a recovered pack was stored again (new=%v, %v)", isNew, err)
	}
	if n, _ := v.Open(t).RecoverPacks(ctx); n != 0 {
		t.Fatalf("a second recovery found %d packs: the first did not persist its index", n)
	}
}

func TestPointsRoundTripAndFind(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	var ids []blob.ID
	for i := range 3 {
		p := &repo.Point{Time: time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC), Hostname: "h", Paths: []string{"/a"}, Tree: blob.ID{byte(i)}}
		id, err := r.SavePoint(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	points, err := r.Points(ctx)
	if err != nil || len(points) != 3 {
		t.Fatalf("points: %d %v", len(points), err)
	}
	latest, err := repo.FindPoint(points, "latest")
	if err != nil || latest.ID != ids[2] || latest.Tree != (blob.ID{2}) {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if p, err := repo.FindPoint(points, ids[0].String()[:8]); err != nil || p.ID != ids[0] {
		t.Fatalf("prefix: %v", err)
	}
	if _, err := repo.FindPoint(points, "zz"); err == nil {
		t.Fatal("short reference accepted")
	}
	if _, err := repo.FindPoint(points, "ffffffff"); !errors.Is(err, repo.ErrNoPoint) {
		t.Fatalf("missing point: %v", err)
	}
}

func TestWrongKeyCannotReadPoints(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	if _, err := r.SavePoint(context.Background(), &repo.Point{Time: time.Now(), Tree: blob.ID{1}}); err != nil {
		t.Fatal(err)
	}
	other := repotest.New(t)
	v.Master = other.Master
	if _, err := v.Open(t).Points(context.Background()); err == nil {
		t.Fatal("points readable with another vault's key")
	}
}

func FuzzDecodeConfig(f *testing.F) {
	cfg, _ := repo.NewConfig()
	valid, _ := json.Marshal(cfg)
	seeds := [][]byte{valid, []byte(`{}`), []byte(`{"version":1,"id":"x"}`), []byte(`[`)}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecodeConfig", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := repo.DecodeConfig(data)
		if err == nil && c.Validate() != nil {
			t.Fatal("decoded an invalid config")
		}
	})
}

// Flush is a barrier for the calling goroutine even while others keep
// saving: what one client saved before its Flush is durable and indexed when
// Flush returns, whatever the others are doing. A vault server relies on it
// when several backup sessions share one vault.
func TestFlushWhileOthersSave(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	stop := make(chan struct{})
	var noise sync.WaitGroup
	for w := range 3 {
		noise.Add(1)
		go func() {
			defer noise.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b := bytes.Repeat([]byte(fmt.Sprintf("noise %d %d ", w, i)), 3000)
				if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(b), b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for round := range 20 {
		var mine [][]byte
		for i := range 5 {
			b := bytes.Repeat([]byte(fmt.Sprintf("mine %d %d ", round, i)), 2000)
			if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(b), b); err != nil {
				t.Fatal(err)
			}
			mine = append(mine, b)
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		fresh := v.Open(t)
		if err := fresh.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		for i, b := range mine {
			got, err := fresh.LoadBlob(ctx, blob.DataBlob, fresh.Key().BlobID(b), nil)
			if err != nil {
				t.Fatalf("round %d blob %d not durable after Flush: %v", round, i, err)
			}
			if !bytes.Equal(got, b) {
				t.Fatalf("round %d blob %d differs", round, i)
			}
		}
		fresh.Close()
	}
	close(stop)
	noise.Wait()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// recordingBackend remembers the retention each object was put with.
type recordingBackend struct {
	storage.Backend
	mu   sync.Mutex
	opts map[storage.Handle]storage.PutOptions
}

func (b *recordingBackend) Put(ctx context.Context, h storage.Handle, size int64, r io.Reader, o storage.PutOptions) error {
	b.mu.Lock()
	b.opts[h] = o
	b.mu.Unlock()
	return b.Backend.Put(ctx, h, size, r, storage.PutOptions{})
}

// A repository opened with Retain writes every pack, index object and
// point record with the retention it gives.
func TestRetainOption(t *testing.T) {
	ctx := context.Background()
	v := repotest.New(t)
	base := v.Open(t)
	rb := &recordingBackend{Backend: base.Backend(), opts: map[storage.Handle]storage.PutOptions{}}
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	r, err := repo.Open(ctx, rb, v.Master, repo.Options{Retain: func(h storage.Handle) storage.PutOptions {
		return storage.PutOptions{RetainUntil: until, Mode: storage.RetentionCompliance}
	}})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("retained "), 1000)
	if _, err := r.SaveBlob(ctx, blob.DataBlob, r.Key().BlobID(data), data); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SavePoint(ctx, &repo.Point{Time: time.Now(), Hostname: "h", Paths: []string{"/"}, Tree: r.Key().BlobID(data)}); err != nil {
		t.Fatal(err)
	}
	kinds := map[storage.Kind]bool{}
	for h, o := range rb.opts {
		if !o.RetainUntil.Equal(until) || o.Mode != storage.RetentionCompliance {
			t.Errorf("%s written with %+v", h, o)
		}
		kinds[h.Kind] = true
	}
	for _, k := range []storage.Kind{storage.KindPack, storage.KindIndex, storage.KindPoint} {
		if !kinds[k] {
			t.Errorf("no %s object written", k)
		}
	}
}
