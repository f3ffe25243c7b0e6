package checker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

// backupRandom backs up n bytes of random content in a few files and
// returns the vault.
func backupRandom(t *testing.T, n int) *repotest.Vault {
	t.Helper()
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	for i := range 4 {
		data := make([]byte, n/4)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, string(rune('a'+i))), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := archiver.New(r, archiver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Backup(context.Background(), []string{src}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReadDataHoldsOnlyBlobsInFlight checks that reading all data streams
// packs instead of loading each one whole: what a check allocates stays far
// below the size of the packs it reads.
func TestReadDataHoldsOnlyBlobsInFlight(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	const data = 12 << 20
	v := backupRandom(t, data)
	defer checker.SetInFlight(512 << 10)()
	r := v.OpenNoIndex(t)
	// No collection while measuring: a collection empties the buffer
	// pools, and what they then allocate again would count against the
	// check, more or less of it as the machine's load decides.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: true})
	runtime.ReadMemStats(&after)
	if err != nil || !rep.OK() {
		t.Fatalf("check: %+v %v", rep, err)
	}
	if rep.BytesRead < data {
		t.Fatalf("read %d bytes, want at least %d", rep.BytesRead, data)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > uint64(rep.BytesRead)/3 {
		t.Errorf("check allocated %d KiB to read %d KiB of packs, want at most a third", got>>10, rep.BytesRead>>10)
	}
}

// TestReadDataEntriesOutOfStreamOrder checks blobs that an index lists
// twice or past the end of their pack: each copy is verified on its own
// and one beyond the pack is reported, not trusted.
func TestReadDataEntriesOutOfStreamOrder(t *testing.T) {
	v := backupRandom(t, 2<<20)
	ctx := context.Background()
	r := v.Open(t)
	contents := r.Index().PackContents()
	var packs []index.PackEntries
	for _, pe := range contents {
		packs = append(packs, *pe)
	}
	rewrite := func(edit func(*index.PackEntries)) {
		t.Helper()
		be := r.Backend()
		var names []string
		be.List(ctx, storage.KindIndex, func(fi storage.Info) error { names = append(names, fi.Handle.Name); return nil })
		for _, n := range names {
			if err := be.Delete(ctx, storage.Handle{Kind: storage.KindIndex, Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		out := make([]index.PackEntries, len(packs))
		for i, p := range packs {
			out[i] = index.PackEntries{Pack: p.Pack, Salt: p.Salt, Entries: append([]pack.Entry(nil), p.Entries...)}
		}
		edit(&out[0])
		if _, err := r.WriteIndex(ctx, out); err != nil {
			t.Fatal(err)
		}
	}

	// Listed twice: both copies authenticate.
	rewrite(func(p *index.PackEntries) { p.Entries = append(p.Entries, p.Entries[len(p.Entries)/2]) })
	rep, err := checker.Check(ctx, v.OpenNoIndex(t), checker.Options{ReadData: true})
	if err != nil || !rep.OK() {
		t.Fatalf("blob listed twice: %+v %v", rep, err)
	}

	// A copy listed where the pack holds something else, and one past its
	// end: both are reported, the pack's other blobs are not.
	rewrite(func(p *index.PackEntries) {
		dup := p.Entries[len(p.Entries)/2]
		dup.Offset++
		beyond := p.Entries[0]
		beyond.Offset = 1 << 30
		p.Entries = append(p.Entries, dup, beyond)
	})
	rep, err = checker.Check(ctx, v.OpenNoIndex(t), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != "pack-damaged" || !strings.Contains(rep.Problems[0].Detail, "2 of ") {
		t.Fatalf("problems: %+v", rep.Problems)
	}
}

// failingBackend fails every read of a whole pack halfway through it.
type failingBackend struct {
	storage.Backend
}

var errInjected = errors.New("injected read error")

func (b failingBackend) Get(ctx context.Context, h storage.Handle, off, n int64) (io.ReadCloser, error) {
	rd, err := b.Backend.Get(ctx, h, off, n)
	if err != nil || h.Kind != storage.KindPack || off != 0 || n >= 0 {
		return rd, err
	}
	fi, err := b.Stat(ctx, h)
	if err != nil {
		rd.Close()
		return nil, err
	}
	return &failingReader{ReadCloser: rd, left: fi.Size / 2}, nil
}

type failingReader struct {
	io.ReadCloser
	left int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errInjected
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.ReadCloser.Read(p)
	f.left -= int64(n)
	return n, err
}

// TestReadDataUnreadablePack checks that a pack whose reading fails halfway
// is reported unreadable with every blob in it, even those read before the
// failure.
func TestReadDataUnreadablePack(t *testing.T) {
	v := backupRandom(t, 2<<20)
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	r, err := repo.Open(context.Background(), failingBackend{Backend: be}, v.Master, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := checker.Check(context.Background(), r, checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksRead != 0 || len(rep.Problems) != rep.Packs {
		t.Fatalf("%d packs read, problems %+v; want every pack unreadable", rep.PacksRead, rep.Problems)
	}
	affected := 0
	for _, p := range rep.Problems {
		if p.Kind != "pack-damaged" || !strings.Contains(p.Detail, "unreadable") || !strings.Contains(p.Detail, errInjected.Error()) {
			t.Errorf("problem %+v, want an unreadable pack", p)
		}
		affected += len(p.Affected)
	}
	// Every file has its data in one of the packs.
	if affected != 4 {
		t.Errorf("unreadable packs affect %d files, want all 4", affected)
	}
}
