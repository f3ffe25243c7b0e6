package restorer_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/repo/repotest"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/tree"
)

// rawTree stores a listing exactly as given, bypassing every check the
// encoder makes: this is what an attacker who forged a manifest would store.
func rawTree(t *testing.T, r *repo.Repository, nodes []*tree.Node) blob.ID {
	t.Helper()
	data := tree.EncodeRaw(&tree.Tree{Nodes: nodes})
	id := r.Key().BlobID(data)
	if _, err := r.SaveBlob(context.Background(), blob.TreeBlob, id, data); err != nil {
		t.Fatal(err)
	}
	return id
}

func fileBlob(t *testing.T, r *repo.Repository, content string) blob.ID {
	t.Helper()
	id := r.Key().BlobID([]byte(content))
	if _, err := r.SaveBlob(context.Background(), blob.DataBlob, id, []byte(content)); err != nil {
		t.Fatal(err)
	}
	return id
}

func savePoint(t *testing.T, r *repo.Repository, root blob.ID) *repo.Point {
	t.Helper()
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := &repo.Point{Time: time.Now(), Hostname: "h", Paths: []string{"/x"}, Tree: root}
	if _, err := r.SavePoint(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// outside is a directory next to the target that no restore may touch.
func outsideDir(t *testing.T) (base, target, outside string) {
	base = t.TempDir()
	target = filepath.Join(base, "target")
	outside = filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	return base, target, outside
}

func assertOutsideUntouched(t *testing.T, base, outside string) {
	t.Helper()
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "victim" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("outside directory changed: %v", names)
	}
	data, err := os.ReadFile(filepath.Join(outside, "victim"))
	if err != nil || string(data) != "precious" {
		t.Fatalf("victim changed: %q %v", data, err)
	}
	top, _ := os.ReadDir(base)
	for _, e := range top {
		if e.Name() != "target" && e.Name() != "outside" {
			t.Fatalf("restore created %s next to the target", e.Name())
		}
	}
}

func TestHostileNamesAreRefused(t *testing.T) {
	for _, name := range []string{"..", ".", "../outside/evil", "a/../../outside/evil", "/abs", "x\x00y", ""} {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			v := repotest.New(t)
			r := v.Open(t)
			content := fileBlob(t, r, "pwned")
			root := rawTree(t, r, []*tree.Node{{Name: name, Type: tree.TypeFile, Mode: 0o644, Size: 5, Content: []blob.ID{content}}})
			p := savePoint(t, r, root)
			base, target, outside := outsideDir(t)
			_, err := restorer.Restore(context.Background(), r, p, restorer.Options{Target: target})
			if !errors.Is(err, tree.ErrFormat) {
				t.Fatalf("restore of name %q: err %v, want a malformed-tree error", name, err)
			}
			assertOutsideUntouched(t, base, outside)
		})
	}
}

func TestSymlinkInPointDoesNotRedirectLaterEntries(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	content := fileBlob(t, r, "pwned")
	base, target, outside := outsideDir(t)
	// "a" is a symlink to the outside directory and "c" one to a file there;
	// restoring them must create the links and never write through them.
	sub := rawTree(t, r, []*tree.Node{{Name: "victim", Type: tree.TypeFile, Mode: 0o644, Size: 5, Content: []blob.ID{content}}})
	root := rawTree(t, r, []*tree.Node{
		{Name: "a", Type: tree.TypeSymlink, Mode: 0o777, LinkTarget: outside},
		{Name: "b", Type: tree.TypeDir, Mode: 0o755, Subtree: &sub},
		{Name: "c", Type: tree.TypeSymlink, Mode: 0o777, LinkTarget: "../outside/victim"},
	})
	p := savePoint(t, r, root)
	res, err := restorer.Restore(context.Background(), r, p, restorer.Options{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Others != 2 {
		t.Fatalf("restored %d files and %d others, want 1 and 2", res.Files, res.Others)
	}
	assertOutsideUntouched(t, base, outside)
	if data, err := os.ReadFile(filepath.Join(target, "b", "victim")); err != nil || string(data) != "pwned" {
		t.Fatalf("b/victim: %q %v", data, err)
	}
}

func TestSymlinkAlreadyInTargetIsNotFollowed(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	content := fileBlob(t, r, "pwned")
	base, target, outside := outsideDir(t)
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	// The target already holds symlinks planted by an attacker: a directory
	// link and a file link, both pointing outside.
	if err := os.Symlink(outside, filepath.Join(target, "dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(target, "victim")); err != nil {
		t.Fatal(err)
	}
	file := &tree.Node{Name: "victim", Type: tree.TypeFile, Mode: 0o644, Size: 5, Content: []blob.ID{content}}
	sub := rawTree(t, r, []*tree.Node{file})
	root := rawTree(t, r, []*tree.Node{{Name: "dir", Type: tree.TypeDir, Mode: 0o755, Subtree: &sub}, file})
	p := savePoint(t, r, root)
	for _, ow := range []restorer.Overwrite{restorer.OverwriteNever, restorer.OverwriteIfChanged, restorer.OverwriteAlways} {
		_, _ = restorer.Restore(context.Background(), r, p, restorer.Options{Target: target, Overwrite: ow})
		assertOutsideUntouched(t, base, outside)
	}
	// With always, the planted links are replaced by what the point holds.
	if data, err := os.ReadFile(filepath.Join(target, "victim")); err != nil || string(data) != "pwned" {
		t.Fatalf("victim in target: %q %v", data, err)
	}
	if fi, err := os.Lstat(filepath.Join(target, "dir")); err != nil || !fi.IsDir() {
		t.Fatalf("dir in target is not a directory after restore: %v", err)
	}
}

func TestOverwritePolicies(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	for _, f := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte("point "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := archiver.New(r, archiver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	dst := filepath.Join(target, src)
	if _, err := restorer.Restore(context.Background(), r, p, restorer.Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	// a: changed locally; b: untouched; c: removed locally.
	os.WriteFile(filepath.Join(dst, "a"), []byte("local edit"), 0o644)
	os.Remove(filepath.Join(dst, "c"))
	read := func(f string) string { d, _ := os.ReadFile(filepath.Join(dst, f)); return string(d) }

	res, err := restorer.Restore(context.Background(), r, p, restorer.Options{Target: target, Overwrite: restorer.OverwriteNever})
	if err != nil {
		t.Fatal(err)
	}
	if read("a") != "local edit" || read("c") != "point c" || res.Skipped != 2 {
		t.Fatalf("never: a=%q c=%q skipped=%d", read("a"), read("c"), res.Skipped)
	}
	res, err = restorer.Restore(context.Background(), r, p, restorer.Options{Target: target, Overwrite: restorer.OverwriteIfChanged})
	if err != nil {
		t.Fatal(err)
	}
	if read("a") != "point a" || res.Skipped != 2 || res.Files != 1 {
		t.Fatalf("if-changed: a=%q skipped=%d files=%d", read("a"), res.Skipped, res.Files)
	}
	res, err = restorer.Restore(context.Background(), r, p, restorer.Options{Target: target, Overwrite: restorer.OverwriteAlways})
	if err != nil || res.Files != 3 || res.Skipped != 0 {
		t.Fatalf("always: %+v %v", res, err)
	}
}

func TestIncludeRestoresOnlyChosenPaths(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "want", "deep"), 0o755)
	os.MkdirAll(filepath.Join(src, "other"), 0o755)
	os.WriteFile(filepath.Join(src, "want", "deep", "f"), []byte("yes"), 0o644)
	os.WriteFile(filepath.Join(src, "other", "g"), []byte("no"), 0o644)
	os.WriteFile(filepath.Join(src, "top"), []byte("no"), 0o644)
	a, _ := archiver.New(r, archiver.Options{})
	p, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if _, err := restorer.Restore(context.Background(), r, p, restorer.Options{Target: target, Include: []string{src + "/want"}}); err != nil {
		t.Fatal(err)
	}
	if d, err := os.ReadFile(filepath.Join(target, src, "want", "deep", "f")); err != nil || string(d) != "yes" {
		t.Fatalf("included file: %q %v", d, err)
	}
	for _, f := range []string{"other", "top"} {
		if _, err := os.Lstat(filepath.Join(target, src, f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s restored though not included", f)
		}
	}
	_, err = restorer.Restore(context.Background(), r, p, restorer.Options{Target: t.TempDir(), Include: []string{"/no/such/path"}})
	if err == nil {
		t.Fatal("include of a missing path succeeded")
	}
}

// TestManyIncludes restores a list of files and a directory from different
// places of a point: exactly those, and not the names they prefix.
func TestManyIncludes(t *testing.T) {
	v := repotest.New(t)
	r := v.Open(t)
	src := t.TempDir()
	var want, include []string
	for d := range 20 {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", d))
		os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
		for f := range 10 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", f)), []byte{byte(d), byte(f)}, 0o644)
		}
		os.WriteFile(filepath.Join(dir, "f1x"), []byte("prefixed"), 0o644)
		os.WriteFile(filepath.Join(dir, "sub", "s"), []byte("sub"), 0o644)
		if d%3 == 0 {
			rel := filepath.Join(fmt.Sprintf("d%02d", d), "f1")
			want, include = append(want, rel), append(include, filepath.Join(src, rel))
		}
	}
	want = append(want, "d07/sub/s")
	include = append(include, filepath.Join(src, "d07", "sub"))
	a, _ := archiver.New(r, archiver.Options{})
	p, _, err := a.Backup(context.Background(), []string{src})
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if _, err := restorer.Restore(context.Background(), r, p, restorer.Options{Target: target, Include: include}); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(filepath.Join(target, src), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(filepath.Join(target, src), p)
			got = append(got, rel)
		}
		return err
	})
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("restored %q, want %q", got, want)
	}
}
