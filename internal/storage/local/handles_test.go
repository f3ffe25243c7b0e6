package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/storage"
)

// TestPackHandleCache reads more packs than the cache holds, from many
// goroutines, deletes some while others read, and checks every read and
// that a deleted pack is gone for new readers.
func TestPackHandleCache(t *testing.T) {
	b, err := Create(t.TempDir() + "/v")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var names []string
	contents := map[string][]byte{}
	for i := range 2 * maxOpenPacks {
		data := bytes.Repeat([]byte{byte(i)}, 1000+i)
		sum := sha256.Sum256(data)
		name := hex.EncodeToString(sum[:])
		if err := b.Put(ctx, storage.Handle{Kind: storage.KindPack, Name: name}, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		contents[name] = data
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 * len(names) {
				name := names[(i*7+g)%len(names)]
				rd, err := b.Get(ctx, storage.Handle{Kind: storage.KindPack, Name: name}, 10, 100)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(rd)
				rd.Close()
				if err != nil || !bytes.Equal(got, contents[name][10:110]) {
					t.Errorf("pack %s: %v", name[:8], err)
					return
				}
			}
		}()
	}
	wg.Wait()
	victim := storage.Handle{Kind: storage.KindPack, Name: names[3]}
	rd, err := b.Get(ctx, victim, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, victim); err != nil {
		t.Fatal(err)
	}
	// A reader that started before the delete finishes its read.
	if got, err := io.ReadAll(rd); err != nil || !bytes.Equal(got, contents[names[3]]) {
		t.Fatalf("read across delete: %v", err)
	}
	rd.Close()
	if _, err := b.Get(ctx, victim, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted pack still readable: %v", err)
	}
	if len(b.packs.files) > maxOpenPacks {
		t.Fatalf("%d packs open, limit %d", len(b.packs.files), maxOpenPacks)
	}
	b.Close()
	if len(b.packs.files) != 0 {
		t.Fatal("Close left packs open")
	}
}
