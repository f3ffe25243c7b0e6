package corpus

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/eval/internal/synth"
)

func treeHash(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		s := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildSmallCorpus(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	m, err := Build(dir, Options{Seed: 7, Budget: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %d files, %d bytes in %v", len(m.Entries), m.Total, time.Since(start))
	if time.Since(start) > 20*time.Second {
		t.Errorf("small corpus took %v", time.Since(start))
	}
	for _, c := range Categories() {
		st := m.Stats[c]
		t.Logf("%-10s found %4d generated %4d bytes %9d", c, st.Found, st.Generated, st.Bytes)
		if c == Binary || c == Font {
			continue // a machine may lack them; Build records zero
		}
		if st.Found+st.Generated == 0 {
			t.Errorf("category %s missing", c)
		}
	}
	if m.Total > 12<<20 {
		t.Errorf("total %d far over budget", m.Total)
	}
	hashes := treeHash(t, filepath.Join(dir, "clean"))
	if len(hashes) != len(m.Entries) {
		t.Fatalf("tree has %d files, manifest %d", len(hashes), len(m.Entries))
	}
	for _, e := range m.Entries {
		abs := filepath.Join(dir, "clean", filepath.FromSlash(e.Path))
		data, err := os.ReadFile(abs)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(e.Path, ".docx"), strings.HasSuffix(e.Path, ".xlsx"), strings.HasSuffix(e.Path, ".odt"):
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Errorf("%s: %v", e.Path, err)
				continue
			}
			first := zr.File[0].Name
			if first != "[Content_Types].xml" && first != "mimetype" {
				t.Errorf("%s: first part %s", e.Path, first)
			}
		case e.Source == "generated:pdf":
			if !bytes.HasPrefix(data, []byte("%PDF-1.4")) || !bytes.Contains(data, []byte("startxref")) {
				t.Errorf("%s: not a PDF", e.Path)
			}
		case e.Source == "generated:sqlite":
			if n, err := synth.SQLiteRows(abs); err != nil || n == 0 {
				t.Errorf("%s: %d rows, %v", e.Path, n, err)
			}
		}
	}
	// Deterministic: a second build with the same seed gives the same tree.
	dir2 := t.TempDir()
	if _, err := Build(dir2, Options{Seed: 7, Budget: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	h2 := treeHash(t, filepath.Join(dir2, "clean"))
	diff := 0
	for p, h := range hashes {
		if h2[p] != h {
			diff++
			if !strings.HasSuffix(p, ".sqlite") && !strings.HasSuffix(p, ".db") && !strings.HasSuffix(p, ".zip") && !strings.HasSuffix(p, ".gpg") {
				t.Errorf("%s differs between builds with the same seed", p)
			}
		}
	}
	if len(h2) != len(hashes) {
		t.Errorf("builds differ in file count: %d vs %d", len(hashes), len(h2))
	}
}
