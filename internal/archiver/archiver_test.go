package archiver_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/filter"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/testfs"
	"github.com/bunkerhq/bunker/internal/tree"
)

func backup(t *testing.T, r *repo.Repository, opts archiver.Options, paths ...string) *repo.Point {
	t.Helper()
	a, err := archiver.New(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	p, errs, err := a.Backup(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("file error: %s: %v", e.Path, e.Err)
	}
	return p
}

func TestRoundTripFullFidelity(t *testing.T) {
	v := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	testfs.Build(t, src)
	p := backup(t, v.Open(t), archiver.Options{}, src)
	if p.Summary.FilesNew == 0 || p.Summary.BlobsAdded == 0 {
		t.Fatalf("summary counts nothing: %+v", p.Summary)
	}
	target := t.TempDir()
	res, err := restorer.Restore(context.Background(), v.Open(t), p, restorer.Options{Target: target, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("restore errors: %v", res.Errors)
	}
	if res.Verified == 0 {
		t.Fatal("verify checked no file")
	}
	testfs.Compare(t, src, filepath.Join(target, src))
	rep, err := checker.Check(context.Background(), openFresh(t, v), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("check found problems: %+v", rep.Problems)
	}
}

// openFresh opens the vault without loading the index, as check wants.
func openFresh(t *testing.T, v *repotest.Vault) *repo.Repository {
	t.Helper()
	return v.OpenNoIndex(t)
}

func TestIncrementalSkipsUnchangedFiles(t *testing.T) {
	v := repotest.New(t)
	src := t.TempDir()
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(src, "f"+string(rune('a'+i))), bytes.Repeat([]byte{byte(i)}, 1000+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := v.Open(t)
	p1 := backup(t, r, archiver.Options{}, src)
	if p1.Summary.FilesNew != 20 {
		t.Fatalf("first backup: %d new files, want 20", p1.Summary.FilesNew)
	}
	if err := os.WriteFile(filepath.Join(src, "fa"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	p2 := backup(t, r, archiver.Options{Parent: p1}, src)
	s := p2.Summary
	if s.FilesChanged != 1 || s.FilesUnchanged != 19 || s.FilesNew != 0 {
		t.Fatalf("second backup: new %d changed %d unchanged %d, want 0/1/19", s.FilesNew, s.FilesChanged, s.FilesUnchanged)
	}
	if s.BytesRead != int64(len("changed")) {
		t.Fatalf("second backup read %d bytes, want only the changed file's %d", s.BytesRead, len("changed"))
	}
}

func TestExcludesAndCaches(t *testing.T) {
	v := repotest.New(t)
	src := t.TempDir()
	for _, f := range []string{"keep.txt", "skip.tmp", "dir/keep.go", "dir/skip.tmp", "build/out.o", "cache/CACHEDIR.TAG", "cache/blob"} {
		p := filepath.Join(src, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := []byte("x")
		if strings.HasSuffix(f, "CACHEDIR.TAG") {
			data = []byte("Signature: 8a477f597d28d172789f06886806bc55\n")
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := filter.New([]string{"*.tmp", "/build/"})
	if err != nil {
		t.Fatal(err)
	}
	r := v.Open(t)
	p := backup(t, r, archiver.Options{Excludes: m, ExcludeCaches: true}, src)
	var got []string
	err = checker.WalkPoint(context.Background(), r, p, func(_ *repo.Point, np string, _ *tree.Node, err error) error {
		if err != nil {
			return err
		}
		if rel, ok := strings.CutPrefix(np, src+"/"); ok {
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dir", "dir/keep.go", "keep.txt"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("backed up %v, want %v", got, want)
	}
}

func TestStdinStream(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	a, err := archiver.New(r, archiver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("dump row\n"), 300000)
	p, err := a.BackupReader(context.Background(), "db.dump", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := r.LoadTree(context.Background(), p.Tree)
	if err != nil {
		t.Fatal(err)
	}
	n := tr.Find("db.dump")
	if n == nil || n.Size != uint64(len(data)) {
		t.Fatalf("stream node %+v", n)
	}
	var out []byte
	for _, id := range n.Content {
		b, err := r.LoadBlob(context.Background(), blob.DataBlob, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	if !bytes.Equal(out, data) {
		t.Fatal("stream content differs")
	}
	if _, err := a.BackupReader(context.Background(), "../evil", bytes.NewReader(nil)); err == nil {
		t.Fatal("a stream name with .. was accepted")
	}
}

// TestOneFileSystem mounts a tmpfs inside the backed-up tree: with
// OneFileSystem the mount point is kept, empty, and nothing below it is read.
func TestOneFileSystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	src := t.TempDir()
	mnt := filepath.Join(src, "mnt")
	os.MkdirAll(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	os.WriteFile(filepath.Join(mnt, "other-fs.txt"), []byte("elsewhere"), 0o644)
	os.WriteFile(filepath.Join(src, "here.txt"), []byte("here"), 0o644)
	v := repotest.New(t)
	r := v.Open(t)
	list := func(p *repo.Point) []string {
		var got []string
		checker.WalkPoint(context.Background(), r, p, func(_ *repo.Point, np string, _ *tree.Node, err error) error {
			if rel, ok := strings.CutPrefix(np, src+"/"); ok {
				got = append(got, rel)
			}
			return err
		})
		return got
	}
	if got := strings.Join(list(backup(t, r, archiver.Options{OneFileSystem: true}, src)), ","); got != "here.txt,mnt" {
		t.Fatalf("with --one-file-system: %s", got)
	}
	if got := strings.Join(list(backup(t, r, archiver.Options{}, src)), ","); got != "here.txt,mnt,mnt/other-fs.txt" {
		t.Fatalf("without --one-file-system: %s", got)
	}
}
