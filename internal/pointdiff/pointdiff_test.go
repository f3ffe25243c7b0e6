package pointdiff_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/pointdiff"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/scan"
	"github.com/bunkerhq/bunker/internal/tree"
)

var words = []string{"the", "backup", "of", "every", "host", "is", "kept", "in", "a", "vault", "where", "nobody",
	"deletes", "it", "before", "its", "time", "and", "reports", "are", "written", "by", "people", "who", "read", "them"}

// prose returns n bytes of deterministic English-like text.
func prose(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		for range 8 + r.IntN(8) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d.\n", r.IntN(10000))
	}
	return b.Bytes()[:n]
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// settleAtimes sets access times an hour ahead, once, so that reading the
// files does not change what the next backup records (relatime).
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

func backup(t *testing.T, r *repo.Repository, src string) *repo.Point {
	t.Helper()
	a, err := archiver.New(r, archiver.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// source writes a tree of text files: dirs directories of perDir files.
func source(t *testing.T, dirs, perDir int) string {
	src := t.TempDir()
	for d := range dirs {
		for f := range perDir {
			seed := uint64(d*100 + f)
			write(t, filepath.Join(src, fmt.Sprintf("dir%d/sub/notes%d.txt", d, f)), prose(seed, 8<<10+int(seed)*331))
		}
	}
	settleAtimes(t, src)
	return src
}

func diff(t *testing.T, r *repo.Repository, prev, cur *repo.Point) *pointdiff.Result {
	t.Helper()
	var pr *blob.ID
	if prev != nil {
		pr = &prev.Tree
	}
	res, err := pointdiff.Diff(context.Background(), r, pr, cur.Tree)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestUnchangedPointLoadsNothing(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := source(t, 3, 4)
	p1 := backup(t, r, src)
	p2 := backup(t, r, src)
	res := diff(t, r, p1, p2)
	if len(res.Changes) != 0 || res.TreesLoaded != 0 {
		t.Fatalf("unchanged point: %d changes, %d listings loaded", len(res.Changes), res.TreesLoaded)
	}
	// With a change deep down, only the listings on its path load.
	write(t, filepath.Join(src, "dir1/sub/notes2.txt"), prose(999, 9000))
	p3 := backup(t, r, src)
	res = diff(t, r, p2, p3)
	if len(res.Changes) != 1 || res.Changes[0].Kind != scan.Modified || res.Changes[0].Path() != filepath.ToSlash(filepath.Join(src, "dir1/sub/notes2.txt")) {
		t.Fatalf("one modified file: %+v", res.Changes)
	}
	depth := 0
	for d := filepath.Join(src, "dir1/sub"); d != "/"; d = filepath.Dir(d) {
		depth++
	}
	if want := 2 * (depth + 1); res.TreesLoaded != want {
		t.Errorf("one change %d directories deep loaded %d listings, want %d (both sides of its path)", depth, res.TreesLoaded, want)
	}
	// The first point of a source: everything is added.
	res = diff(t, r, nil, p1)
	if len(res.Changes) != 12 {
		t.Fatalf("first point: %d changes, want 12", len(res.Changes))
	}
	for _, c := range res.Changes {
		if c.Kind != scan.Added || c.New == nil || c.Old != nil {
			t.Fatalf("first point: %+v", c)
		}
	}
}

func TestAddedModifiedDeleted(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := source(t, 2, 3)
	write(t, filepath.Join(src, "gone/old.txt"), prose(7, 5000))
	write(t, filepath.Join(src, "same.txt"), prose(8, 5000))
	p1 := backup(t, r, src)
	write(t, filepath.Join(src, "dir0/sub/notes0.txt"), prose(70, 12000))
	if err := os.Remove(filepath.Join(src, "dir1/sub/notes1.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "gone")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "new/dir/fresh.txt"), prose(71, 3000))
	// Same content under a new name: same content id.
	data, err := os.ReadFile(filepath.Join(src, "same.txt"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "copy.txt"), data)
	p2 := backup(t, r, src)
	res := diff(t, r, p1, p2)
	got := map[string]scan.ChangeKind{}
	var copyRef, sameRef *scan.FileRef
	for _, c := range res.Changes {
		rel, _ := filepath.Rel(src, c.Path())
		got[filepath.ToSlash(rel)] = c.Kind
		if rel == "copy.txt" {
			copyRef = c.New
		}
	}
	want := map[string]scan.ChangeKind{
		"dir0/sub/notes0.txt": scan.Modified, "dir1/sub/notes1.txt": scan.Deleted, "gone/old.txt": scan.Deleted,
		"new/dir/fresh.txt": scan.Added, "copy.txt": scan.Added,
	}
	if len(got) != len(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	for p, k := range want {
		if got[p] != k {
			t.Errorf("%s: %v, want %v", p, got[p], k)
		}
	}
	// The added copy carries the content id of same.txt.
	n := findNode(t, r, p2, filepath.Join(src, "same.txt"))
	sameRef = &scan.FileRef{ID: pointdiff.ContentID(n.Content)}
	if copyRef == nil || copyRef.ID != sameRef.ID || copyRef.Size != int64(len(data)) {
		t.Errorf("copy.txt: %+v, want content id %s", copyRef, sameRef.ID)
	}
	for _, c := range res.Changes {
		if c.Kind == scan.Modified && c.Old.ID == c.New.ID {
			t.Errorf("modified %s with equal content ids", c.Path())
		}
	}
}

func findNode(t *testing.T, r *repo.Repository, p *repo.Point, path string) *tree.Node {
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

func TestReaderAt(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	data := make([]byte, 3<<20+12345)
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	write(t, filepath.Join(src, "big.bin"), data)
	p := backup(t, r, src)
	n := findNode(t, r, p, filepath.Join(src, "big.bin"))
	if len(n.Content) < 4 {
		t.Fatalf("want several chunks, got %d", len(n.Content))
	}
	ctx := context.Background()
	rd, err := pointdiff.Open(ctx, r, n.Content)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Size() != int64(len(data)) {
		t.Fatalf("size %d, want %d", rd.Size(), len(data))
	}
	buf := make([]byte, 100)
	if _, err := rd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:100]) {
		t.Fatalf("head: %v", err)
	}
	if rd.Loads() != 1 {
		t.Errorf("reading the head loaded %d chunks, want 1", rd.Loads())
	}
	for range 200 {
		off := rng.Int64N(int64(len(data)))
		size := 1 + rng.IntN(600<<10) // often across chunk boundaries
		p := make([]byte, size)
		got, err := rd.ReadAt(p, off)
		want := min(size, len(data)-int(off))
		if got != want || !bytes.Equal(p[:got], data[off:off+int64(got)]) {
			t.Fatalf("ReadAt(%d, %d): %d bytes, want %d", size, off, got, want)
		}
		if want < size && !errors.Is(err, io.EOF) || want == size && err != nil {
			t.Fatalf("ReadAt(%d, %d): err %v", size, off, err)
		}
	}
	if _, err := rd.ReadAt(buf, int64(len(data))); !errors.Is(err, io.EOF) {
		t.Errorf("read at the end: %v", err)
	}
	// All of it, through a section reader.
	all, err := io.ReadAll(io.NewSectionReader(rd, 0, rd.Size()))
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("whole file: %v", err)
	}
}

func aesCTR(t *testing.T) cipher.Stream {
	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(iv); err != nil {
		t.Fatal(err)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return cipher.NewCTR(b, iv)
}

// TestEncryptedInPlaceIsInfected backs up text files, encrypts 25 of them
// in place with AES-CTR, backs up again and judges the difference.
func TestEncryptedInPlaceIsInfected(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := source(t, 5, 6)
	p1 := backup(t, r, src)
	n := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || n == 25 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		aesCTR(t).XORKeyStream(data, data)
		n++
		return os.WriteFile(p, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	p2 := backup(t, r, src)
	res := diff(t, r, p1, p2)
	if len(res.Changes) != 25 {
		t.Fatalf("%d changes, want 25", len(res.Changes))
	}
	verdict, err := scan.Judge(context.Background(), res.Changes, scan.Options{PreviousFiles: pointdiff.FileCount(p1.Summary)})
	if err != nil {
		t.Fatal(err)
	}
	if verdict.Level != scan.Infected || verdict.Stats.Strong != 25 {
		t.Fatalf("verdict %s, score %.1f, %+v", verdict.Level, verdict.Score, verdict.Stats)
	}
	// And the benign point before it: clean.
	write(t, filepath.Join(src, "dir4/sub/notes5.txt"), prose(1234, 9000)) // not among the encrypted
	p3 := backup(t, r, src)
	verdict, err = scan.Judge(context.Background(), diff(t, r, p2, p3).Changes, scan.Options{})
	if err != nil || verdict.Level != scan.Clean {
		t.Fatalf("one edited note: %s %v", verdict.Level, err)
	}
}

// TestCostFollowsChanges checks that a scan costs what changed: nothing
// for an unchanged point, and for a point where 5% of the files changed,
// about reading those files' two versions.
func TestCostFollowsChanges(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := source(t, 20, 10) // 200 files
	p1 := backup(t, r, src)
	p2 := backup(t, r, src)
	ctx := context.Background()
	began := time.Now()
	res := diff(t, r, p1, p2)
	verdict, err := scan.Judge(ctx, res.Changes, scan.Options{PreviousFiles: 200})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > time.Second || verdict.Stats.BytesRead != 0 || verdict.Level != scan.Clean {
		t.Fatalf("unchanged point: %s, %+v", took, verdict.Stats)
	}
	var changed int64
	for d := range 10 {
		p := filepath.Join(src, fmt.Sprintf("dir%d/sub/notes3.txt", d*2))
		data := prose(uint64(5000+d), 8<<10+d*1000)
		changed += int64(len(data))
		write(t, p, data)
	}
	p3 := backup(t, r, src)
	res = diff(t, r, p2, p3)
	verdict, err = scan.Judge(ctx, res.Changes, scan.Options{PreviousFiles: 200})
	if err != nil {
		t.Fatal(err)
	}
	if verdict.Stats.Examined != 10 || verdict.Level != scan.Clean {
		t.Fatalf("5%% changed: %s, %+v", verdict.Level, verdict.Stats)
	}
	// Both versions of each changed file at most, never the other 95%.
	var oldSizes int64
	for _, c := range res.Changes {
		oldSizes += c.Old.Size
	}
	if verdict.Stats.BytesRead > changed+oldSizes {
		t.Errorf("5%% changed: read %d bytes, the changed files' two versions hold %d", verdict.Stats.BytesRead, changed+oldSizes)
	}
}

// TestReadersReuseChunkBuffers checks that the files of one diff, read one
// after another, reuse the chunk buffers of those read before rather than
// allocating each chunk afresh: a scan reads thousands of files.
func TestReadersReuseChunkBuffers(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	const files = 24
	for i := range files {
		write(t, filepath.Join(src, fmt.Sprintf("doc%02d.txt", i)), prose(uint64(i), 600<<10+i*9000))
	}
	settleAtimes(t, src)
	res := diff(t, r, nil, backup(t, r, src))
	if len(res.Changes) != files {
		t.Fatalf("%d changes, want %d", len(res.Changes), files)
	}
	ctx := context.Background()
	buf := make([]byte, 1<<20)
	read := func(c scan.Change) int64 {
		rd, err := c.New.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := rd.ReadAt(buf[:c.New.Size], 0)
		if err != nil || int64(n) != c.New.Size {
			t.Fatalf("read %s: %d bytes, %v", c.New.Path, n, err)
		}
		rd.(io.Closer).Close()
		return int64(n)
	}
	read(res.Changes[0]) // the first file fills the pool
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var total int64
	for _, c := range res.Changes[1:] {
		total += read(c)
	}
	runtime.ReadMemStats(&after)
	if alloc := int64(after.TotalAlloc - before.TotalAlloc); alloc > total/4 {
		t.Errorf("reading %d bytes allocated %d: chunk buffers are not reused", total, alloc)
	}
}
