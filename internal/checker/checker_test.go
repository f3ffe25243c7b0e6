package checker_test

import (
	"context"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/tree"
)

// fixture backs up two files, each large enough for its own pack, and
// returns the vault, the point and the pack that holds the first file.
func fixture(t *testing.T) (*repotest.Vault, *repo.Point, string, string) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	mk := func(name string, seed byte) {
		data := make([]byte, 1500<<10)
		x := uint32(seed)
		for i := range data {
			x = x*1664525 + 1013904223
			data[i] = byte(x >> 24)
		}
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("damaged.bin", 1)
	mk("intact.bin", 2)
	settleAtimes(t, src)
	a, err := archiver.New(r, archiver.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := r.LoadTree(context.Background(), p.Tree)
	if err != nil {
		t.Fatal(err)
	}
	_ = tr
	n := findFile(t, r, p, filepath.Join(src, "damaged.bin"))
	loc, ok := r.Index().Lookup(blob.Handle{ID: n.Content[0], Type: blob.DataBlob})
	if !ok {
		t.Fatal("first chunk not indexed")
	}
	return v, p, loc.Pack.String(), src
}

// settleAtimes sets the access time of dir and what it holds an hour
// ahead, so that reading them (relatime updates an access time older than
// the modification) does not change the metadata the next backup records.
func settleAtimes(t *testing.T, dir string) {
	t.Helper()
	ahead := time.Now().Add(time.Hour)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chtimes(p, ahead, fi.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func findFile(t *testing.T, r *repo.Repository, p *repo.Point, path string) *tree.Node {
	t.Helper()
	var found *tree.Node
	err := checker.WalkPoint(context.Background(), r, p, func(_ *repo.Point, np string, n *tree.Node, err error) error {
		if np == path {
			found = n
		}
		return err
	})
	if err != nil || found == nil {
		t.Fatalf("find %s: %v", path, err)
	}
	return found
}

func packPath(v *repotest.Vault, name string) string {
	return filepath.Join(v.Dir, "packs", name[:2], name)
}

func check(t *testing.T, v *repotest.Vault) *checker.Report {
	t.Helper()
	rep, err := checker.Check(context.Background(), v.OpenNoIndex(t), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func damage(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	os.Chmod(path, 0o600)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// firstDataBlob returns the offset of the first data blob in pack (the
// pack may hold listings too, in any order).
func firstDataBlob(t *testing.T, v *repotest.Vault, pack string) uint64 {
	t.Helper()
	for id, pe := range v.Open(t).Index().PackContents() {
		if id.String() != pack {
			continue
		}
		first := uint64(math.MaxUint64)
		for _, e := range pe.Entries {
			if e.Type == blob.DataBlob && e.Length > 100 {
				first = min(first, e.Offset)
			}
		}
		if first != math.MaxUint64 {
			return first
		}
	}
	t.Fatalf("pack %s holds no data blob", pack)
	return 0
}

// damagedFiles returns the files of p that need a blob of pack for which
// hit reports damage, judged from the index.
func damagedFiles(t *testing.T, v *repotest.Vault, p *repo.Point, pack string, hit func(index.Location) bool) map[string]bool {
	t.Helper()
	r := v.Open(t)
	out := map[string]bool{}
	err := checker.WalkPoint(context.Background(), r, p, func(_ *repo.Point, np string, n *tree.Node, err error) error {
		if err != nil {
			return err
		}
		for _, id := range n.Content {
			l, _ := r.Index().Lookup(blob.Handle{ID: id, Type: blob.DataBlob})
			if l.Pack.String() == pack && hit(l) {
				out[np] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertExactly checks that the problem of kind on object names every file
// in want (or a directory above it, when the damage took its listing) and
// names no other file.
func assertExactly(t *testing.T, rep *checker.Report, kind, object string, want map[string]bool, p *repo.Point) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("the damage hits no file: the test damaged nothing that matters")
	}
	for file := range want {
		assertReported(t, rep, kind, object, file, p)
	}
	for _, pr := range rep.Problems {
		for _, a := range pr.Affected {
			if strings.HasSuffix(a.Path, ".bin") && !want[a.Path] {
				t.Errorf("%s reported damaged, but none of its blobs is: %+v", a.Path, pr)
			}
		}
	}
}

func assertReported(t *testing.T, rep *checker.Report, kind, object, file string, p *repo.Point) {
	t.Helper()
	for _, pr := range rep.Problems {
		if pr.Kind != kind || !strings.Contains(pr.Object, object) {
			continue
		}
		// The file is named, or a directory above it when the damage took
		// the directory's listing too.
		for _, a := range pr.Affected {
			if a.Point == p.ID && (a.Path == file || strings.HasPrefix(file, strings.TrimSuffix(a.Path, "/")+"/")) {
				return
			}
		}
		t.Fatalf("%s of %s does not name %s in point %s: %+v", kind, object, file, p.ID.Short(), pr)
	}
	t.Fatalf("no %s problem for %s in %+v", kind, object, rep.Problems)
}

func TestCleanVaultChecksOK(t *testing.T) {
	v, _, _, _ := fixture(t)
	if rep := check(t, v); !rep.OK() || rep.PacksRead == 0 {
		t.Fatalf("clean vault: %+v", rep)
	}
}

func TestBitFlipIsReportedAndIntactFilesRestore(t *testing.T) {
	v, p, pack, src := fixture(t)
	at := firstDataBlob(t, v, pack)
	first := damagedFiles(t, v, p, pack, func(l index.Location) bool { return l.Offset == at })
	damage(t, packPath(v, pack), func(b []byte) []byte { b[at+100] ^= 0x04; return b })
	rep := check(t, v)
	assertExactly(t, rep, "pack-damaged", pack, first, p)
	intact := filepath.Join(src, "intact.bin")
	damaged := filepath.Join(src, "damaged.bin")
	if first[intact] {
		intact, damaged = damaged, intact
	}
	// Structure-only check does not read data and stays quiet.
	quick, err := checker.Check(context.Background(), v.OpenNoIndex(t), checker.Options{})
	if err != nil || !quick.OK() {
		t.Fatalf("structure check: %+v %v", quick, err)
	}
	target := t.TempDir()
	res, err := restorer.Restore(context.Background(), v.Open(t), p, restorer.Options{Target: target, Include: []string{intact}, Verify: true})
	if err != nil || len(res.Errors) > 0 || res.Files != 1 {
		t.Fatalf("restore of intact file: %+v %v", res, err)
	}
	res, _ = restorer.Restore(context.Background(), v.Open(t), p, restorer.Options{Target: t.TempDir(), Include: []string{damaged}})
	if len(res.Errors) != 1 {
		t.Fatalf("restore of damaged file reported %d errors, want 1", len(res.Errors))
	}
}

func TestTruncatedPackIsReported(t *testing.T) {
	v, p, pack, _ := fixture(t)
	fi, err := os.Stat(packPath(v, pack))
	if err != nil {
		t.Fatal(err)
	}
	cut := uint64(fi.Size() / 2)
	want := damagedFiles(t, v, p, pack, func(l index.Location) bool { return l.Offset+uint64(l.Length) > cut })
	damage(t, packPath(v, pack), func(b []byte) []byte { return b[:cut] })
	assertExactly(t, check(t, v), "pack-damaged", pack, want, p)
}

func TestMissingPackIsReported(t *testing.T) {
	v, p, pack, _ := fixture(t)
	want := damagedFiles(t, v, p, pack, func(index.Location) bool { return true })
	if err := os.Remove(packPath(v, pack)); err != nil {
		t.Fatal(err)
	}
	rep, err := checker.Check(context.Background(), v.OpenNoIndex(t), checker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertExactly(t, rep, "pack-missing", pack, want, p)
}

func TestDamagedIndexAndPointAreReported(t *testing.T) {
	v, _, _, _ := fixture(t)
	be := v.OpenNoIndex(t).Backend()
	for _, k := range []storage.Kind{storage.KindIndex, storage.KindPoint} {
		var name string
		be.List(context.Background(), k, func(fi storage.Info) error { name = fi.Handle.Name; return nil })
		damage(t, filepath.Join(v.Dir, string(k), name), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	}
	rep := check(t, v)
	kinds := map[string]bool{}
	for _, pr := range rep.Problems {
		kinds[pr.Kind] = true
	}
	if !kinds["index-damaged"] || !kinds["point-damaged"] {
		t.Fatalf("problems %+v", rep.Problems)
	}
}

// TestBlobUnderWrongIDIsReported stores a blob under an id that is not the
// hash of its content, as a faulty or malicious writer could: the pack's
// bytes match its name, so only authenticating and hashing every blob finds it.
func TestBlobUnderWrongIDIsReported(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	ctx := context.Background()
	wrong := r.Key().BlobID([]byte("what the id claims"))
	if _, err := r.SaveBlob(ctx, blob.DataBlob, wrong, []byte("what is stored")); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := checker.Check(ctx, v.OpenNoIndex(t), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != "pack-damaged" || !strings.Contains(rep.Problems[0].Detail, "1 of 1 blobs damaged") {
		t.Fatalf("problems: %+v", rep.Problems)
	}
}

// commitAfterIndexList is a backend that, once the checker has listed the
// index, lets a backup commit a new point before it goes on.
type commitAfterIndexList struct {
	storage.Backend
	commit func()
}

func (b *commitAfterIndexList) List(ctx context.Context, k storage.Kind, fn func(storage.Info) error) error {
	err := b.Backend.List(ctx, k, fn)
	if k == storage.KindIndex && b.commit != nil {
		b.commit()
		b.commit = nil
	}
	return err
}

// TestBackupCommittingDuringCheck commits a point (packs, index, record)
// between the checker's reading of the index and its listing of points:
// the check stays clean, as nothing is damaged.
func TestBackupCommittingDuringCheck(t *testing.T) {
	v, _, _, _ := fixture(t)
	ctx := context.Background()
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	committed := false
	wrapped := &commitAfterIndexList{Backend: be, commit: func() {
		src := t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "new.bin"), []byte(strings.Repeat("new data ", 1<<16)), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := archiver.New(v.Open(t), archiver.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Backup(ctx, []string{src}); err != nil {
			t.Fatal(err)
		}
		committed = true
	}}
	r, err := repo.Open(ctx, wrapped, v.Master, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := checker.Check(ctx, r, checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !committed {
		t.Fatal("the backup did not commit during the check")
	}
	if len(rep.Problems) != 0 || rep.Points != 1 {
		t.Fatalf("a point committed during the check made it report damage: %d points, %+v", rep.Points, rep.Problems)
	}
	if after := check(t, v); len(after.Problems) != 0 || after.Points != 2 {
		t.Fatalf("after the backup: %d points, %+v", after.Points, after.Problems)
	}
}
