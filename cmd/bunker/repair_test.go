package main_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// indexObjects lists the index object files of a local vault.
func indexObjects(t *testing.T, vault string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(vault, "index"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A damaged index object stops a restore, with the way out named; repair
// index rebuilds the index from the packs, and everything restores again.
func TestRepairIndex(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"a.txt": strings.Repeat("first version ", 5000), "dir/b.txt": "bee"})
	e.ok("backup", src)
	writeFiles(t, src, map[string]string{"c.txt": strings.Repeat("a second file ", 7000)})
	e.ok("backup", src)
	vault := filepath.Join(e.home, ".local", "share", "bunker", "vault")
	objs := indexObjects(t, vault)
	if len(objs) < 2 {
		t.Fatalf("%d index objects after two backups", len(objs))
	}
	// One index object damaged, another lost.
	os.Chmod(objs[0], 0o644)
	data, err := os.ReadFile(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(objs[0], data, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(objs[1]); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	r := e.run("restore", "latest", "--target", target)
	if r.code == 0 || !strings.Contains(r.stderr, "bunker repair index") {
		t.Fatalf("restore with a damaged index: exit %d, %s", r.code, r.stderr)
	}

	var out struct {
		Type  string `json:"message_type"`
		Stats struct {
			Packs, Indexed, Blobs, Removed int
			BadOld                         int `json:"bad_old"`
			Unreadable                     []string
			Index                          string
		}
	}
	lines := strings.Split(strings.TrimSpace(e.ok("repair", "index", "--json")), "\n")
	for _, l := range lines { // progress lines, then the result
		if err := json.Unmarshal([]byte(l), &out); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
	}
	if out.Type != "repair_index" {
		t.Fatalf("last line of repair index --json: %s", lines[len(lines)-1])
	}
	st := out.Stats
	if st.Packs == 0 || st.Indexed != st.Packs || st.Blobs == 0 || len(st.Unreadable) != 0 || st.BadOld != 1 || st.Removed != len(objs)-1 {
		t.Fatalf("repair index: %+v (index objects before: %d)", st, len(objs))
	}
	if left := indexObjects(t, vault); len(left) != 1 || !strings.HasSuffix(left[0], st.Index) {
		t.Fatalf("index objects after repair: %v, want only %s", left, st.Index)
	}
	e.ok("check", "--read-data")
	e.ok("restore", "latest", "--target", target)
	got, err := os.ReadFile(filepath.Join(target, src, "c.txt"))
	if err != nil || string(got) != strings.Repeat("a second file ", 7000) {
		t.Fatalf("restored after repair: %v", err)
	}
	// A second repair finds the same and changes nothing that matters.
	if out := e.ok("repair", "index"); !strings.Contains(out, "0 unreadable") {
		t.Fatalf("second repair: %s", out)
	}
}

// A pack whose header is damaged is left out of the rebuilt index and
// named; check then names what needs it.
func TestRepairIndexUnreadablePack(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"a.txt": strings.Repeat("some content ", 9000)})
	e.ok("backup", src)
	vault := filepath.Join(e.home, ".local", "share", "bunker", "vault")
	var packs []string
	filepath.WalkDir(filepath.Join(vault, "packs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			packs = append(packs, p)
		}
		return err
	})
	if len(packs) == 0 {
		t.Fatal("no pack")
	}
	// The header and trailer are at the end of a pack.
	os.Chmod(packs[0], 0o644)
	data, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-40] ^= 0xff
	if err := os.WriteFile(packs[0], data, 0o444); err != nil {
		t.Fatal(err)
	}
	out := e.ok("repair", "index")
	if !strings.Contains(out, "unreadable pack "+filepath.Base(packs[0])) {
		t.Fatalf("repair with a damaged pack header:\n%s", out)
	}
	if r := e.run("check"); r.code != 4 {
		t.Fatalf("check after leaving a pack out: exit %d\n%s", r.code, r.stdout)
	}
}
