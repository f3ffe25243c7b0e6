package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteTableExactSizeAndDeterministic(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int64{0, 1, 10, int64(len(tableHeader)), 1000, 123457} {
		var a, b bytes.Buffer
		if err := WriteTable(ctx, &a, size, 7); err != nil {
			t.Fatal(err)
		}
		if err := WriteTable(ctx, &b, size, 7); err != nil {
			t.Fatal(err)
		}
		if int64(a.Len()) != size {
			t.Errorf("size %d: wrote %d bytes", size, a.Len())
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("size %d: two runs with the same seed differ", size)
		}
		if size > 0 && a.Bytes()[a.Len()-1] != '\n' {
			t.Errorf("size %d: table does not end in a newline", size)
		}
	}
	var c, d bytes.Buffer
	if err := WriteTable(ctx, &c, 5000, 1); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(ctx, &d, 5000, 2); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c.Bytes(), d.Bytes()) {
		t.Error("different seeds gave the same table")
	}
}

func TestWriteTableRowsAreCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(context.Background(), &buf, 200_000, 3); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	whole := strings.Join(lines[:len(lines)-1], "\n") // the last row may be cut short
	recs, err := csv.NewReader(strings.NewReader(whole)).ReadAll()
	if err != nil {
		t.Fatalf("table is not CSV: %v", err)
	}
	if len(recs) < 1000 {
		t.Fatalf("only %d records in 200 kB", len(recs))
	}
	for i, rec := range recs {
		if len(rec) != 9 {
			t.Fatalf("record %d has %d fields: %q", i, len(rec), rec)
		}
	}
	if _, err := time.Parse(time.RFC3339, recs[1][1]); err != nil {
		t.Errorf("timestamp %q: %v", recs[1][1], err)
	}
}

func TestCivilMatchesTimePackage(t *testing.T) {
	for days := int64(-800_000); days < 800_000; days += 997 {
		y, m, d := civil(days)
		want := time.Unix(days*86400, 0).UTC()
		if y != int64(want.Year()) || m != int64(want.Month()) || d != int64(want.Day()) {
			t.Fatalf("civil(%d) = %d-%d-%d, want %s", days, y, m, d, want.Format(time.DateOnly))
		}
	}
}

// makeTree writes n files named f000, f001... with distinct contents, one
// empty file, a subdirectory and a symlink.
func makeTree(t *testing.T, root string, n int) {
	t.Helper()
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("f%03d", i))
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 100+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sub := filepath.Join(root, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../f000", filepath.Join(sub, "link")); err != nil {
		t.Fatal(err)
	}
}

func digestOf(t *testing.T, root string) Summary {
	t.Helper()
	s, err := Digest(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMutateChangesEveryNthFileDeterministically(t *testing.T) {
	ctx := context.Background()
	a, b := t.TempDir(), t.TempDir()
	makeTree(t, a, 40)
	makeTree(t, b, 40)
	before := digestOf(t, a)
	st, err := Mutate(ctx, a, 20, 9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Mutate(ctx, b, 20, 9); err != nil {
		t.Fatal(err)
	}
	// 41 regular files in walk order: f000..f039, then sub/empty.
	if st.Files != 2 {
		t.Fatalf("changed %d files, want 2", st.Files)
	}
	if want := []string{"f019", "f039"}; !slices.Equal(st.Paths, want) || st.Sizes != 119+139 {
		t.Errorf("changed paths %q of %d bytes, want %q of %d", st.Paths, st.Sizes, want, 119+139)
	}
	for i := range 40 {
		data, err := os.ReadFile(filepath.Join(a, fmt.Sprintf("f%03d", i)))
		if err != nil {
			t.Fatal(err)
		}
		changed := !bytes.Equal(data, bytes.Repeat([]byte{byte(i)}, 100+i))
		if want := i == 19 || i == 39; changed != want {
			t.Errorf("f%03d changed = %v, want %v", i, changed, want)
		}
		if changed && !bytes.Contains(data, []byte("bench change ")) {
			t.Errorf("f%03d lacks the appended line", i)
		}
	}
	after, other := digestOf(t, a), digestOf(t, b)
	if after.Digest == before.Digest {
		t.Error("digest unchanged by Mutate")
	}
	if after != other {
		t.Errorf("same tree and seed gave different results: %+v vs %+v", after, other)
	}
}

func TestMutateRejectsBadArguments(t *testing.T) {
	if _, err := Mutate(context.Background(), t.TempDir(), 0, 1); err == nil {
		t.Error("every=0 accepted")
	}
	if _, err := Mutate(context.Background(), filepath.Join(t.TempDir(), "missing"), 2, 1); err == nil {
		t.Error("missing root accepted")
	}
}

func TestDigestCountsAndSeesChanges(t *testing.T) {
	a := t.TempDir()
	makeTree(t, a, 3)
	s := digestOf(t, a)
	if s.Files != 4 || s.Dirs != 1 || s.Symlinks != 1 || s.Bytes != 100+101+102 {
		t.Fatalf("summary %+v", s)
	}
	if err := os.Remove(filepath.Join(a, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../f001", filepath.Join(a, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	if digestOf(t, a).Digest == s.Digest {
		t.Error("changed symlink target not seen")
	}
	b := t.TempDir()
	makeTree(t, b, 3)
	if err := os.Rename(filepath.Join(b, "f002"), filepath.Join(b, "f009")); err != nil {
		t.Fatal(err)
	}
	if digestOf(t, b).Digest == s.Digest {
		t.Error("renamed file not seen")
	}
}

func TestSelectAllWhenItFits(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, 10)
	missing := filepath.Join(root, "does-not-exist")
	sel, err := Select(context.Background(), []string{root, missing}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// root, 10 files, sub, sub/empty, sub/link
	if len(sel.Paths) != 14 || sel.Bytes != sel.Total {
		t.Fatalf("selected %d paths, %d of %d bytes", len(sel.Paths), sel.Bytes, sel.Total)
	}
	if strings.HasPrefix(sel.Paths[0], "/") || "/"+sel.Paths[0] != root {
		t.Errorf("first path %q is not %s relative to /", sel.Paths[0], root)
	}
	var out bytes.Buffer
	if err := sel.WriteNUL(&out); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(out.Bytes(), []byte{0}); got != 14 {
		t.Errorf("%d NUL terminators, want 14", got)
	}
}

func TestSelectSpreadsOverSourcesWithinBudget(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	makeTree(t, a, 50)
	makeTree(t, b, 50)
	sel, err := Select(context.Background(), []string{a, b}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Bytes > 2000 || sel.Bytes < 1000 {
		t.Fatalf("selected %d bytes for a budget of 2000", sel.Bytes)
	}
	var inA, inB int
	for _, p := range sel.Paths {
		info, err := os.Lstat("/" + p)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsDir() {
			t.Errorf("directory %s selected in a partial pick", p)
		}
		switch {
		case strings.HasPrefix("/"+p, a+"/"):
			inA++
		case strings.HasPrefix("/"+p, b+"/"):
			inB++
		}
	}
	if inA == 0 || inB == 0 {
		t.Errorf("pick not spread: %d from the first source, %d from the second", inA, inB)
	}
}

func TestSelectRejectsRelativeSource(t *testing.T) {
	if _, err := Select(context.Background(), []string{"relative/dir"}, 10); err == nil {
		t.Error("relative source accepted")
	}
}

func TestRunRejectsBadCommandLines(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"list", "-budget", "0", "/usr"},
		{"table", "-size", "10"},
		{"mutate", "-every", "0", "/tmp"},
		{"digest"},
		{"split", "-parts", "0", "/tmp", "/tmp/x"},
		{"split", "/tmp"},
	} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func TestSplitPlacesEveryFileOnceAsHardLinks(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "split")
	makeTree(t, src, 40)
	big := filepath.Join(src, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Split(context.Background(), src, dst, 4, 25)
	if err != nil {
		t.Fatal(err)
	}
	want := digestOf(t, src)
	if st.Unique() != want.Bytes {
		t.Fatalf("split holds %d bytes, the tree %d", st.Unique(), want.Bytes)
	}
	if got := st.Clients(); got != st.Unique()+3*st.CommonBytes {
		t.Errorf("Clients() = %d", got)
	}
	// The largest file fills the common part's share first.
	if _, err := os.Stat(filepath.Join(dst, "common", "big")); err != nil {
		t.Errorf("big file not in the common part: %v", err)
	}
	files := st.CommonFiles
	for i, n := range st.PartFiles {
		if n == 0 || st.PartBytes[i] == 0 {
			t.Errorf("part %d is empty: %+v", i+1, st)
		}
		files += n
	}
	if files != want.Files {
		t.Errorf("placed %d files, the tree has %d", files, want.Files)
	}
	// Every file of the tree is in exactly one place, as a hard link.
	seen := 0
	for _, d := range []string{"common", "part-1", "part-2", "part-3", "part-4"} {
		root := filepath.Join(dst, d)
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil || !de.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			a, err1 := os.Stat(p)
			b, err2 := os.Stat(filepath.Join(src, rel))
			if err1 != nil || err2 != nil || !os.SameFile(a, b) {
				t.Errorf("%s/%s is not a hard link of the source (%v, %v)", d, rel, err1, err2)
			}
			seen++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen != want.Files {
		t.Errorf("found %d files in the split, want %d", seen, want.Files)
	}
	if target, err := os.Readlink(filepath.Join(dst, "common", "sub", "link")); err != nil || target != "../f000" {
		t.Errorf("symlink in the common part: %q, %v", target, err)
	}
	// The same tree splits the same way.
	again := filepath.Join(t.TempDir(), "split")
	st2, err := Split(context.Background(), src, again, 4, 25)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(st) != fmt.Sprint(st2) || digestOf(t, filepath.Join(dst, "part-2")) != digestOf(t, filepath.Join(again, "part-2")) {
		t.Errorf("two splits differ: %+v and %+v", st, st2)
	}
}

func TestSplitRejectsBadArguments(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ parts, pct int }{{0, 25}, {4, -1}, {4, 101}} {
		if _, err := Split(ctx, t.TempDir(), t.TempDir(), c.parts, c.pct); err == nil {
			t.Errorf("Split with %d parts and %d%% accepted", c.parts, c.pct)
		}
	}
	if _, err := Split(ctx, filepath.Join(t.TempDir(), "missing"), t.TempDir(), 2, 25); err == nil {
		t.Error("missing source accepted")
	}
}
