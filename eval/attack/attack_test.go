package attack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20"

	"github.com/bunkerhq/bunker/eval/corpus"
	"github.com/bunkerhq/bunker/eval/internal/synth"
	"github.com/bunkerhq/bunker/eval/labels"
)

func TestRangeKeystreamMatchesFullStream(t *testing.T) {
	data := make([]byte, 5000)
	for _, c := range []Cipher{AES256CTR, ChaCha20} {
		k, err := newKey(c)
		if err != nil {
			t.Fatal(err)
		}
		if c == AES256CTR {
			for i := 8; i < 16; i++ {
				k.Nonce[i] = 0xff // force counter carries
			}
		}
		full := make([]byte, len(data))
		switch c {
		case AES256CTR:
			b, _ := aes.NewCipher(k.Key)
			cipher.NewCTR(b, k.Nonce).XORKeyStream(full, data)
		case ChaCha20:
			s, _ := chacha20.NewUnauthenticatedCipher(k.Key, k.Nonce)
			s.XORKeyStream(full, data)
		}
		k.Ranges = []Range{{0, 7}, {33, 100}, {1000, 2049}, {4990, 100}}
		got, err := k.Encrypt(data)
		if err != nil {
			t.Fatal(err)
		}
		inRange := func(i int) bool {
			for _, r := range k.Ranges {
				if int64(i) >= r.Off && int64(i) < r.Off+r.Len {
					return true
				}
			}
			return false
		}
		for i := range got {
			want := data[i]
			if inRange(i) {
				want = full[i]
			}
			if got[i] != want {
				t.Fatalf("%s: byte %d = %x, want %x", c, i, got[i], want)
			}
		}
		back, err := k.Decrypt(got)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%s: decrypt failed: %v", c, err)
		}
	}
}

func hashTree(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkLabels verifies the labels list exactly the paths that differ.
func checkLabels(t *testing.T, clean, tree map[string][32]byte, l *labels.Labels) {
	t.Helper()
	for p, h := range tree {
		f, ok := l.Files[p]
		ch, existed := clean[p]
		changed := !existed || ch != h
		if changed && !ok {
			t.Errorf("%s: %s changed but is not labelled", l.Scenario, p)
		}
		if !changed && ok {
			t.Errorf("%s: %s labelled %s but unchanged", l.Scenario, p, f.Change)
		}
		if ok && !f.Present() {
			t.Errorf("%s: %s labelled deleted but present", l.Scenario, p)
		}
		if ok && !existed && f.Change == labels.Modified {
			t.Errorf("%s: %s is new but labelled modified", l.Scenario, p)
		}
	}
	for p, f := range l.Files {
		if _, ok := tree[p]; !ok && f.Present() {
			t.Errorf("%s: labelled %s (%s) missing from the tree", l.Scenario, p, f.Change)
		}
		if f.From != "" && f.Change == labels.Renamed {
			if _, ok := tree[f.From]; ok {
				t.Errorf("%s: renamed %s -> %s but the old name remains", l.Scenario, f.From, p)
			}
		}
		if (f.Technique == "") || (l.Kind == labels.Attack) != f.Attacked {
			t.Errorf("%s: %s bad label %+v", l.Scenario, p, f)
		}
	}
	gone := map[string]bool{}
	for p, f := range l.Files {
		if f.Change == labels.Deleted {
			gone[p] = true
		}
		if f.Change == labels.Renamed {
			gone[f.From] = true
		}
	}
	for p := range clean {
		if _, ok := tree[p]; !ok && !gone[p] {
			t.Errorf("%s: %s vanished without a label", l.Scenario, p)
		}
	}
}

func TestScenariosOnSmallCorpus(t *testing.T) {
	dir := t.TempDir()
	m, err := corpus.Build(dir, corpus.Options{Seed: 3, Budget: 6 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cleanDir := filepath.Join(dir, "clean")
	clean := hashTree(t, cleanDir)
	cfg := Config{}
	for _, s := range Scenarios(cfg) {
		t.Run(s.Name, func(t *testing.T) {
			tree := filepath.Join(dir, s.Name)
			if err := Clone(cleanDir, tree); err != nil {
				t.Fatal(err)
			}
			res, err := s.Apply(tree, filepath.Join(dir, "pool"), m, 3)
			if errors.Is(err, ErrSkipped) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			l := res.Labels
			after := hashTree(t, tree)
			checkLabels(t, clean, after, l)
			if l.Kind == labels.Attack && !l.Probe && l.Touched() < 20 {
				t.Errorf("attack touches only %d files", l.Touched())
			}
			if l.Kind == labels.Attack {
				checkAttack(t, cleanDir, tree, l, res.Keys)
			} else {
				checkBenign(t, cleanDir, tree, l)
			}
			if testing.Short() {
				os.RemoveAll(tree)
				return
			}
			// Determinism: the same seed selects the same files.
			tree2 := filepath.Join(dir, s.Name+"-again")
			if err := Clone(cleanDir, tree2); err != nil {
				t.Fatal(err)
			}
			res2, err := s.Apply(tree2, filepath.Join(dir, "pool"), m, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(res2.Labels.Files) != len(l.Files) {
				t.Errorf("second run labels %d paths, first %d", len(res2.Labels.Files), len(l.Files))
			}
			for p, f := range l.Files {
				if g, ok := res2.Labels.Files[p]; !ok || g.Technique != f.Technique || g.Change != f.Change {
					// Random extensions come from the seeded generator too,
					// so even renamed paths must match.
					t.Errorf("second run differs at %s", p)
				}
			}
			if l.Kind == labels.Benign {
				again := hashTree(t, tree2)
				for p := range l.Files {
					if after[p] != again[p] && !strings.Contains(p, "Vault/") && !strings.HasSuffix(p, ".sqlite") && !strings.HasSuffix(p, ".db") && !strings.HasSuffix(p, ".xz") {
						t.Errorf("benign change of %s not deterministic", p)
					}
				}
			}
			os.RemoveAll(tree2)
			os.RemoveAll(tree)
		})
	}
	if got := hashTree(t, cleanDir); len(got) != len(clean) {
		t.Fatalf("clean tree changed: %d files, was %d", len(got), len(clean))
	} else {
		for p, h := range clean {
			if got[p] != h {
				t.Errorf("clean %s was written through a link", p)
			}
		}
	}
}

func checkAttack(t *testing.T, cleanDir, tree string, l *labels.Labels, keys map[string]Key) {
	t.Helper()
	for p, f := range l.Files {
		if f.Technique == TechRansomNote {
			b, _ := os.ReadFile(filepath.Join(tree, p))
			if !bytes.Contains(b, []byte("encrypted")) {
				t.Errorf("%s: note without text", p)
			}
			continue
		}
		from := p
		if f.From != "" {
			from = f.From
		}
		plain, err := os.ReadFile(filepath.Join(cleanDir, from))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(tree, p))
		if err != nil {
			t.Fatal(err)
		}
		if f.Technique == TechRenameOnly {
			if !bytes.Equal(got, plain) {
				t.Errorf("%s: rename-only changed content", p)
			}
			continue
		}
		k, ok := keys[p]
		if !ok {
			t.Fatalf("%s: no key", p)
		}
		if bytes.Equal(got, plain) {
			t.Errorf("%s: ciphertext equals plaintext", p)
		}
		back, err := k.Decrypt(got)
		if err != nil || !bytes.Equal(back, plain) {
			t.Errorf("%s: decrypting with the recorded key does not restore it (%v)", p, err)
		}
		switch f.Technique {
		case TechFirst64K, TechHeader4K, TechKeepFirst16:
			n := map[string]int{TechFirst64K: 64 << 10, TechHeader4K: 4 << 10, TechKeepFirst16: 0}[f.Technique]
			if f.Technique == TechKeepFirst16 {
				if len(plain) >= 16 && !bytes.Equal(got[:16], plain[:16]) {
					t.Errorf("%s: first 16 bytes not kept", p)
				}
			} else if len(plain) > n && !bytes.Equal(got[n:], plain[n:]) {
				t.Errorf("%s: bytes after %d changed", p, n)
			}
		case TechBase64, TechHex:
			for _, c := range got {
				if c >= 0x80 || c < '+' {
					t.Errorf("%s: %s output has byte %x", p, f.Technique, c)
					break
				}
			}
		case TechEncryptRename:
			if f.Change != labels.Renamed || !strings.HasPrefix(p, f.From+".") {
				t.Errorf("%s: bad rename from %s", p, f.From)
			}
		}
	}
}

func checkBenign(t *testing.T, cleanDir, tree string, l *labels.Labels) {
	t.Helper()
	for p, f := range l.Files {
		if !f.Present() {
			continue
		}
		abs := filepath.Join(tree, p)
		data, err := os.ReadFile(abs)
		if err != nil {
			t.Fatal(err)
		}
		var orig []byte
		if f.From != "" {
			orig, _ = os.ReadFile(filepath.Join(cleanDir, f.From))
		}
		switch {
		case strings.HasSuffix(p, ".gz"):
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			out, err := io.ReadAll(zr)
			if err != nil || (orig != nil && !bytes.Equal(out, orig)) {
				t.Errorf("%s: gzip does not decode to the original (%v)", p, err)
			}
		case strings.HasSuffix(p, ".zst"):
			d, _ := zstd.NewReader(nil)
			out, err := d.DecodeAll(data, nil)
			d.Close()
			if err != nil {
				t.Errorf("%s: %v", p, err)
			} else if orig != nil && !bytes.Equal(out, orig) {
				t.Errorf("%s: zstd does not decode to the original", p)
			} else if strings.HasSuffix(p, ".tar.zst") {
				tr := tar.NewReader(bytes.NewReader(out))
				n := 0
				for {
					if _, err := tr.Next(); err != nil {
						if err != io.EOF {
							t.Errorf("%s: tar: %v", p, err)
						}
						break
					}
					n++
				}
				if n == 0 {
					t.Errorf("%s: empty tar", p)
				}
			}
		case strings.HasSuffix(p, ".xz"):
			if _, err := exec.LookPath("xz"); err == nil {
				cmd := exec.Command("xz", "-dc")
				cmd.Stdin = bytes.NewReader(data)
				out, err := cmd.Output()
				if err != nil || !bytes.Equal(out, orig) {
					t.Errorf("%s: xz does not decode to the original (%v)", p, err)
				}
			}
		case strings.HasSuffix(p, ".zip"), strings.HasSuffix(p, ".docx"), strings.HasSuffix(p, ".xlsx"), strings.HasSuffix(p, ".odt"):
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil || len(zr.File) == 0 {
				t.Errorf("%s: zip does not open (%v)", p, err)
				continue
			}
			if f.Technique == TechEncArchive && zr.File[0].Method != synth.ZipAESMethod {
				t.Errorf("%s: not a WinZip AES entry", p)
			}
			if f.Technique == TechZip || f.Technique == TechOfficeSave || f.Technique == TechMoveArchive {
				rc, err := zr.File[0].Open()
				if err == nil {
					_, err = io.Copy(io.Discard, rc)
					rc.Close()
				}
				if err != nil {
					t.Errorf("%s: zip entry does not decode: %v", p, err)
				}
			}
		case strings.HasSuffix(p, ".gpg"):
			if data[0]&0x80 == 0 {
				t.Errorf("%s: not an OpenPGP packet", p)
			}
		case strings.HasSuffix(p, ".sqlite"), strings.HasSuffix(p, ".db"):
			if _, err := synth.SQLiteRows(abs); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			if f.Technique == TechGrowDB {
				st, _ := os.Stat(filepath.Join(cleanDir, p))
				if int64(len(data)) <= st.Size() {
					t.Errorf("%s: did not grow", p)
				}
			}
		case strings.HasSuffix(p, ".JPG"):
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		case strings.HasSuffix(p, ".png"):
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		case f.Technique == TechUpgrade:
			if !bytes.HasPrefix(data, []byte("\x7fELF")) {
				t.Errorf("%s: upgraded binary is not ELF", p)
			}
		case f.Technique == TechAppendLog:
			old, _ := os.ReadFile(filepath.Join(cleanDir, p))
			if !bytes.HasPrefix(data, old) || len(data) == len(old) {
				t.Errorf("%s: not an append", p)
			}
		}
	}
}

// TestStripes10MiB checks 1-MiB-of-every-10-MiB encryption on a 25 MiB file.
func TestStripes10MiB(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean")
	rng := rand.New(rand.NewPCG(1, 2))
	big := []byte(synth.LogLines(rng, synth.NewProse(nil, rng), nil, corpus.BaseTime(), 1))
	for len(big) < 25<<20 {
		big = append(big, big...)
	}
	big = big[:25<<20+12345]
	m := &corpus.Manifest{}
	for i := 0; i < 30; i++ {
		rel := filepath.ToSlash(filepath.Join("logs", "f"+string(rune('a'+i%26))+string(rune('a'+i/26))+".log"))
		data := []byte("small log line\n")
		if i == 0 {
			data = big
		}
		if err := os.MkdirAll(filepath.Join(clean, "logs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clean, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m.Entries = append(m.Entries, corpus.Entry{Path: rel, Category: corpus.Log, Size: int64(len(data))})
	}
	var s Scenario
	for _, sc := range Scenarios(Config{}) {
		if sc.Name == "attack-intermittent-10m" {
			s = sc
		}
	}
	tree := filepath.Join(dir, "tree")
	if err := Clone(clean, tree); err != nil {
		t.Fatal(err)
	}
	res, err := s.Apply(tree, "", m, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(tree, "logs/faa.log"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Labels.Files["logs/faa.log"].Technique != TechStripes10M {
		t.Fatalf("large file not attacked: %+v", res.Labels.Files["logs/faa.log"])
	}
	const mib = 1 << 20
	for _, off := range []int{0, 10 * mib, 20 * mib} {
		if bytes.Equal(got[off:off+mib], big[off:off+mib]) {
			t.Errorf("stripe at %d MiB not encrypted", off/mib)
		}
		if off+mib < len(big) {
			end := min(off+10*mib, len(big))
			if !bytes.Equal(got[off+mib:end], big[off+mib:end]) {
				t.Errorf("plaintext after stripe at %d MiB changed", off/mib)
			}
		}
		// The stripe really is ciphertext, byte for byte.
		diff := 0
		for i := off; i < off+mib; i++ {
			if got[i] != big[i] {
				diff++
			}
		}
		if diff < mib*99/100 {
			t.Errorf("stripe at %d MiB: only %d bytes differ", off/mib, diff)
		}
	}
	back, err := res.Keys["logs/faa.log"].Decrypt(got)
	if err != nil || !bytes.Equal(back, big) {
		t.Errorf("decrypt failed: %v", err)
	}
}
