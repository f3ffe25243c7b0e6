package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// tree is a previous point: path → content.
type tree map[string][]byte

func officeTree(t *testing.T, dirs, perDir int) tree {
	tr := tree{}
	i := 0
	for d := 0; d < dirs; d++ {
		for f := 0; f < perDir; f++ {
			i++
			var p string
			var data []byte
			switch i % 4 {
			case 0:
				p, data = fmt.Sprintf("home/u/dir%d/report%d.docx", d, f), makeZIP(t, uint64(i), 6, true)
			case 1:
				p, data = fmt.Sprintf("home/u/dir%d/notes%d.txt", d, f), prose(uint64(i), 8<<10+i*97)
			case 2:
				p, data = fmt.Sprintf("home/u/dir%d/paper%d.pdf", d, f), makePDF(uint64(i), 3)
			case 3:
				p, data = fmt.Sprintf("home/u/dir%d/photo%d.png", d, f), makePNG(t, uint64(i))
			}
			tr[p] = data
		}
	}
	return tr
}

func modified(p string, old, cur []byte) Change {
	return Change{Kind: Modified, Old: ref(p, old), New: ref(p, cur)}
}

func judge(t *testing.T, ch []Change, opts Options) Verdict {
	t.Helper()
	v, err := Judge(context.Background(), ch, opts)
	mustT(t, err)
	return v
}

func logVerdict(t *testing.T, v Verdict) {
	t.Helper()
	t.Logf("%s score %.2f stats %+v", v.Level, v.Score, v.Stats)
	for i, e := range v.Evidence {
		if i == 5 {
			break
		}
		t.Logf("  %.2f %v %s: %s", e.Weight, e.Strong, e.Path, e.Reason)
	}
}

func TestJudgeInPlaceEncryption(t *testing.T) {
	tr := officeTree(t, 5, 5)
	var ch []Change
	for p, d := range tr {
		ch = append(ch, modified(p, d, encryptRange(aesStream(t), d, 0, len(d))))
	}
	v := judge(t, ch, Options{PreviousFiles: len(tr)})
	logVerdict(t, v)
	if v.Level != Infected || v.Stats.Strong != len(tr) {
		t.Fatalf("want infected with %d strong files, got %s with %d", len(tr), v.Level, v.Stats.Strong)
	}
}

func TestJudgeMassRenameAndNotes(t *testing.T) {
	tr := officeTree(t, 6, 4)
	var ch []Change
	note := []byte("YOUR FILES ARE ENCRYPTED!\nAll your documents were locked with military grade encryption.\nTo get the decryptor send 0.05 BTC to our wallet and contact us at recover@example.onion\n")
	for p, d := range tr {
		ch = append(ch, Change{Kind: Deleted, Old: ref(p, d)})
		enc := append(encryptRange(chachaStream(t), d, 0, len(d)), randomBytes(256)...)
		ch = append(ch, Change{Kind: Added, New: ref(p+".lockd", enc)})
	}
	for d := 0; d < 6; d++ {
		ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("home/u/dir%d/HOW_TO_RECOVER.txt", d), note)})
	}
	v := judge(t, ch, Options{PreviousFiles: len(tr)})
	logVerdict(t, v)
	if v.Level != Infected {
		t.Fatalf("level %s", v.Level)
	}
	if v.Stats.Renamed != len(tr) || v.Stats.Strong != len(tr) {
		t.Errorf("renamed %d strong %d, want %d", v.Stats.Renamed, v.Stats.Strong, len(tr))
	}
	var rename, notes bool
	for _, e := range v.Evidence {
		if strings.Contains(e.Reason, "renamed to *.lockd") {
			rename = true
			// The finding names every renamed file.
			if len(e.Files) != len(tr) {
				t.Errorf("rename finding names %d files, want %d", len(e.Files), len(tr))
			}
			for _, f := range e.Files {
				if !strings.HasSuffix(f, ".lockd") {
					t.Errorf("rename finding names %s", f)
				}
			}
		}
		if strings.HasPrefix(e.Reason, "ransom note") {
			notes = true
			if len(e.Files) != 6 {
				t.Errorf("note finding names %v, want the 6 notes", e.Files)
			}
		}
		if e.Files == nil && !strings.HasPrefix(e.Path, "home/") {
			t.Errorf("point finding %q names no files", e.Reason)
		}
	}
	if !rename || !notes {
		t.Errorf("rename evidence %v, note evidence %v", rename, notes)
	}
}

// TestJudgeScrambledNames pairs by directory and size when the names are
// replaced.
func TestJudgeScrambledNames(t *testing.T) {
	tr := officeTree(t, 4, 6)
	var ch []Change
	i := 0
	for p, d := range tr {
		i++
		dir := p[:strings.LastIndexByte(p, '/')]
		ch = append(ch, Change{Kind: Deleted, Old: ref(p, d)})
		ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("%s/%08x.crypt", dir, i*7919), encryptRange(aesStream(t), d, 0, len(d)))})
	}
	v := judge(t, ch, Options{})
	logVerdict(t, v)
	if v.Level != Infected {
		t.Fatalf("level %s", v.Level)
	}
}

func TestJudgeMovedAway(t *testing.T) {
	var ch []Change
	for i := 0; i < 30; i++ {
		d := prose(uint64(i), 10<<10+i*1000)
		ch = append(ch, Change{Kind: Deleted, Old: ref(fmt.Sprintf("docs/d%d.txt", i), d)})
		ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("tmp/x/%04d.enc", i*31), encryptRange(aesStream(t), d, 0, len(d)))})
	}
	v := judge(t, ch, Options{})
	logVerdict(t, v)
	if v.Level != Suspicious {
		t.Fatalf("level %s, want suspicious", v.Level)
	}
}

func TestJudgeNotesAlone(t *testing.T) {
	note := []byte("<html><body><h1>Files encrypted</h1><p>Pay 1 BTC to get the private key.</p></body></html>")
	var ch []Change
	for d := 0; d < 4; d++ {
		ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("srv/share%d/README-DECRYPT.html", d), note)})
	}
	v := judge(t, ch, Options{})
	logVerdict(t, v)
	if v.Level != Suspicious {
		t.Fatalf("notes alone: level %s, want suspicious", v.Level)
	}
}

func TestJudgeDeletionSpike(t *testing.T) {
	tr := officeTree(t, 4, 10)
	var ch []Change
	for p, d := range tr {
		ch = append(ch, Change{Kind: Deleted, Old: ref(p, d)})
	}
	v := judge(t, ch, Options{PreviousFiles: len(tr) + 5})
	logVerdict(t, v)
	if v.Level != Suspicious {
		t.Fatalf("deletion spike: level %s, want suspicious", v.Level)
	}
	// A few deletions are nothing.
	v = judge(t, ch[:5], Options{PreviousFiles: 1000})
	if v.Level != Clean {
		t.Fatalf("5 deletions: level %s", v.Level)
	}
}

func TestJudgeIntermittentPoint(t *testing.T) {
	var ch []Change
	for i := 0; i < 20; i++ {
		base := plainBinary(uint64(i), 12<<20)
		if i%2 == 0 {
			base = prose(uint64(i), 12<<20)
		}
		s := aesStream(t)
		enc := encryptRange(s, base, 0, 0)
		for off := 0; off < len(enc); off += 10 << 20 {
			end := min(off+1<<20, len(enc))
			s.XORKeyStream(enc[off:end], enc[off:end])
		}
		ch = append(ch, modified(fmt.Sprintf("vm/disk%d.img", i), base, enc))
	}
	v := judge(t, ch, Options{Parallelism: 2})
	logVerdict(t, v)
	if v.Level != Infected {
		t.Fatalf("level %s", v.Level)
	}
}

func TestJudgeBenignPoints(t *testing.T) {
	tr := officeTree(t, 5, 8)
	t.Run("new zips", func(t *testing.T) {
		var ch []Change
		for i := 0; i < 100; i++ {
			ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("downloads/pkg%d.zip", i), makeZIP(t, uint64(i), 3, false))})
		}
		expectClean(t, judge(t, ch, Options{PreviousFiles: 50}))
	})
	t.Run("logs compressed", func(t *testing.T) {
		var ch []Change
		for i := 0; i < 60; i++ {
			p := fmt.Sprintf("var/log/app%d.log", i)
			text := prose(uint64(i), 50<<10)
			ch = append(ch, Change{Kind: Deleted, Old: ref(p, text)})
			ch = append(ch, Change{Kind: Added, New: ref(p+".gz", makeGzip(t, text))})
		}
		expectClean(t, judge(t, ch, Options{PreviousFiles: 100}))
	})
	t.Run("tarball compressed", func(t *testing.T) {
		tb := makeTar(t, 3, 30)
		ch := []Change{
			{Kind: Deleted, Old: ref("backup/site.tar", tb)},
			{Kind: Added, New: ref("backup/site.tar.zst", makeZstd(t, tb))},
		}
		expectClean(t, judge(t, ch, Options{}))
	})
	t.Run("documents edited", func(t *testing.T) {
		var ch []Change
		i := 0
		for p, d := range tr {
			i++
			var cur []byte
			switch {
			case strings.HasSuffix(p, ".docx"):
				cur = makeZIP(t, uint64(i+100), 7, true)
			case strings.HasSuffix(p, ".txt"):
				cur = append(d[:len(d):len(d)], prose(uint64(i), 3000)...)
			case strings.HasSuffix(p, ".pdf"):
				cur = makePDF(uint64(i+100), 4)
			default:
				cur = makePNG(t, uint64(i+100))
			}
			ch = append(ch, modified(p, d, cur))
		}
		expectClean(t, judge(t, ch, Options{PreviousFiles: len(tr)}))
	})
	t.Run("encrypted archives re-encrypted", func(t *testing.T) {
		var ch []Change
		for i := 0; i < 40; i++ {
			ch = append(ch, modified(fmt.Sprintf("vault/v%d.gpg", i), randomBytes(100<<10), randomBytes(101<<10)))
		}
		expectClean(t, judge(t, ch, Options{}))
	})
	t.Run("readmes in many directories", func(t *testing.T) {
		var ch []Change
		for i := 0; i < 30; i++ {
			ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("node_modules/p%d/README.md", i), []byte("# package\n\nMIT licensed. Install with npm.\n"))})
			ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("node_modules/p%d/index.js", i), prose(uint64(i), 2000))})
		}
		expectClean(t, judge(t, ch, Options{}))
	})
	t.Run("new encrypted blobs", func(t *testing.T) {
		var ch []Change
		for i := 0; i < 100; i++ {
			ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("keys/k%d.gpg", i), randomBytes(4096+i))})
		}
		v := judge(t, ch, Options{})
		if v.Level != Clean || v.Score > newWeakCap+1e-9 {
			logVerdict(t, v)
			t.Fatalf("new random blobs: %s score %.2f", v.Level, v.Score)
		}
	})
	t.Run("backup copies renamed", func(t *testing.T) {
		var ch []Change
		for i := 0; i < 30; i++ {
			d := plainBinary(uint64(i), 20<<10)
			ch = append(ch, Change{Kind: Deleted, Old: ref(fmt.Sprintf("data/t%d.dat", i), d)})
			ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("data/t%d.dat.bak", i), d)})
		}
		expectClean(t, judge(t, ch, Options{}))
	})
	t.Run("renamed photos", func(t *testing.T) {
		var ch []Change
		for i := 0; i < 30; i++ {
			d := makeJPEG(t, uint64(i))
			ch = append(ch, Change{Kind: Deleted, Old: ref(fmt.Sprintf("pics/IMG_%d.JPEG", i), d)})
			ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("pics/IMG_%d.jpg", i), d)})
		}
		expectClean(t, judge(t, ch, Options{}))
	})
}

func expectClean(t *testing.T, v Verdict) {
	t.Helper()
	if v.Level != Clean || v.Score > 0 {
		logVerdict(t, v)
		t.Fatalf("benign point: %s, score %.2f", v.Level, v.Score)
	}
}

func TestJudgeUnreadableAndCancel(t *testing.T) {
	boom := errors.New("chunk missing")
	ch := []Change{{Kind: Added, New: &FileRef{Path: "a", Size: 10, Open: func(context.Context) (io.ReaderAt, error) { return nil, boom }}}}
	v := judge(t, ch, Options{})
	if v.Stats.Unreadable != 1 || len(v.Evidence) != 1 || !strings.Contains(v.Evidence[0].Reason, "chunk missing") {
		t.Fatalf("unreadable not reported: %+v", v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr := officeTree(t, 1, 4)
	ch = nil
	for p, d := range tr {
		ch = append(ch, modified(p, d, d[1:]))
	}
	if _, err := Judge(ctx, ch, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled judge: %v", err)
	}
}

func TestJudgeIDsAndExplicitRenames(t *testing.T) {
	d := prose(1, 20<<10)
	withID := func(f *FileRef, id string) *FileRef { f.ID = id; return f }
	ch := []Change{
		{Kind: Deleted, Old: withID(ref("a/x.txt", d), "h1")},
		{Kind: Added, New: withID(ref("b/y.txt", d), "h1")},
		{Kind: Modified, Old: withID(ref("c/z.txt", d), "h2"), New: withID(ref("c/z.txt", d), "h2")},
	}
	v := judge(t, ch, Options{})
	if v.Level != Clean || v.Stats.Examined != 0 || v.Stats.Renamed != 1 || v.Stats.Added != 0 || v.Stats.Deleted != 0 {
		t.Fatalf("identical content: %+v", v)
	}
	ch = nil
	for i := 0; i < 12; i++ {
		d := prose(uint64(i), 30<<10)
		ch = append(ch, Change{Kind: Renamed, Old: ref(fmt.Sprintf("s/f%d.txt", i), d), New: ref(fmt.Sprintf("s/f%d.txt.x", i), encryptRange(aesStream(t), d, 0, len(d)))})
	}
	v = judge(t, ch, Options{MaxEvidence: 4})
	if v.Level != Infected || v.Stats.Strong != 12 || len(v.Evidence) != 4 || v.Evidence[0].Path != "*.x" {
		logVerdict(t, v)
		t.Fatalf("explicit renames: %s strong %d evidence %d", v.Level, v.Stats.Strong, len(v.Evidence))
	}
}

// TestJudgePairingByNameFirst: a new small file (a note) sorted before a
// renamed file does not take its deletion by directory and size; the
// renamed file pairs by name and the note stays a note.
func TestJudgePairingByNameFirst(t *testing.T) {
	note := []byte("Your files are encrypted. To decrypt them pay 1 BTC to our wallet.\n")
	var ch []Change
	for d := 0; d < 4; d++ {
		p := fmt.Sprintf("docs/d%d/a.txt", d)
		old := prose(uint64(d), 40)
		ch = append(ch, Change{Kind: Deleted, Old: ref(p, old)})
		ch = append(ch, Change{Kind: Added, New: ref(p+".crypt", encryptRange(aesStream(t), old, 0, len(old)))})
		ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("docs/d%d/README.txt", d), note)})
	}
	v := judge(t, ch, Options{})
	logVerdict(t, v)
	if v.Stats.Renamed != 4 || v.Stats.Added != 4 {
		t.Errorf("renamed %d added %d, want 4 and 4", v.Stats.Renamed, v.Stats.Added)
	}
	notes := false
	for _, e := range v.Evidence {
		if strings.HasPrefix(e.Reason, "ransom note") {
			notes = len(e.Files) == 4
		}
	}
	if !notes {
		t.Error("the four notes are not one finding")
	}
}

// TestResavedDocumentLayout: a small document saved again with more text
// grows by less than 4 KiB + 1%, yet its container was rewritten: cells
// at equal offsets do not correspond (none is unchanged), so a cell that
// turned random is no evidence. Partial in-place encryption with a
// footer of the same size still is.
func TestResavedDocumentLayout(t *testing.T) {
	old, cur := readTestdata(t, "resave-old.docx"), readTestdata(t, "resave-new.docx")
	if ev := compareFiles(t, "hope-3.docx", old, cur); ev.Weight > 0 {
		t.Errorf("re-saved document: %q", ev.Reason)
	}
	data := plainBinary(4, 64<<10)
	enc := append(encryptRange(aesStream(t), data, 16<<10, 40<<10), randomBytes(3000)...)
	if ev := compareFiles(t, "records.bin", data, enc); !ev.Strong {
		t.Errorf("partly encrypted with a footer: %q", ev.Reason)
	}
}

// TestJudgeCompressedEditedInPlace: compressed files whose stream was
// overwritten with a few hundred bytes in the middle (corruption, or an
// edit of the kind a benchmark makes) are broken, but not rewritten: weak
// evidence, never infected. The same files encrypted after their first 16
// bytes are strong evidence.
func TestJudgeCompressedEditedInPlace(t *testing.T) {
	var edited, encrypted []Change
	for i := range 30 {
		old := makeGzip(t, prose(uint64(i), 2<<10+i*300))
		cur := append([]byte(nil), old...)
		mid := len(cur) / 2
		copy(cur[mid:], randomBytes(min(200, len(cur)-mid)))
		p := fmt.Sprintf("usr/share/doc/pkg%d/changelog.gz", i)
		edited = append(edited, modified(p, old, append(cur, "\nedited\n"...)))
		encrypted = append(encrypted, modified(p, old, encryptRange(aesStream(t), old, 16, len(old))))
	}
	v := judge(t, edited, Options{PreviousFiles: 1000})
	logVerdict(t, v)
	if v.Level == Infected || v.Stats.Strong != 0 || v.Stats.Weak != len(edited) {
		t.Errorf("edited in place: %s with %d strong and %d weak files, want no strong and %d weak", v.Level, v.Stats.Strong, v.Stats.Weak, len(edited))
	}
	v = judge(t, encrypted, Options{PreviousFiles: 1000})
	if v.Level != Infected || v.Stats.Strong != len(encrypted) {
		t.Errorf("encrypted after the magic: %s with %d strong files, want infected with %d", v.Level, v.Stats.Strong, len(encrypted))
	}
}

// TestJudgeCompressedEditedNearACellHead: an edit in place that lands at
// the head of a cell other than the file's first is still an edit, not
// encryption; the same few bytes overwritten just past the file's magic
// (header-only encryption) are strong evidence.
func TestJudgeCompressedEditedNearACellHead(t *testing.T) {
	var edited, header []Change
	for i := range 30 {
		old := makeGzip(t, prose(uint64(100+i), 96<<10))
		if len(old) < 3*DefaultOptions().CellSize {
			t.Fatalf("gzip of %d bytes spans fewer than 3 cells", len(old))
		}
		cur := append([]byte(nil), old...)
		at := (1+i%2)*DefaultOptions().CellSize + 64
		copy(cur[at:], randomBytes(200))
		p := fmt.Sprintf("usr/share/doc/big%d/changelog.gz", i)
		edited = append(edited, modified(p, old, append(cur, "\nedited\n"...)))
		header = append(header, modified(p, old, encryptRange(aesStream(t), old, 16, 216)))
	}
	v := judge(t, edited, Options{PreviousFiles: 1000})
	logVerdict(t, v)
	if v.Level == Infected || v.Stats.Strong != 0 {
		t.Errorf("edited at a cell's head: %s with %d strong files, want none", v.Level, v.Stats.Strong)
	}
	v = judge(t, header, Options{PreviousFiles: 1000})
	if v.Level != Infected || v.Stats.Strong != len(header) {
		t.Errorf("header encrypted after the magic: %s with %d strong files, want infected with %d", v.Level, v.Stats.Strong, len(header))
	}
}

// TestJudgeFirstPointCommonNames: the first point of a source adds every
// file, and packages ship files of one name (copyright) in hundreds of
// directories, a few of which mention encryption and an address: not a
// ransom note.
func TestJudgeFirstPointCommonNames(t *testing.T) {
	var ch []Change
	for i := range 200 {
		body := fmt.Sprintf("Format: copyright-format/1.0\nUpstream-Name: pkg%d\nLicense: GPL-2+\n%s", i, prose(uint64(i), 1<<10))
		if i%10 == 0 {
			body += "\nThis package includes code to encrypt and decrypt data.\nContact: maintainer@example.org\n"
		}
		ch = append(ch, Change{Kind: Added, New: ref(fmt.Sprintf("usr/share/doc/pkg%d/copyright", i), []byte(body))})
	}
	v := judge(t, ch, Options{})
	logVerdict(t, v)
	if v.Level != Clean || v.Score != 0 {
		t.Fatalf("first point of package docs: %s score %.1f, want clean", v.Level, v.Score)
	}
}

// TestJudgeSkipsOldVersionOfPlainChange: a modified file still valid and
// without random cells is judged from its new version alone; the old one
// is never opened. A modified file that turned random is compared.
func TestJudgeSkipsOldVersionOfPlainChange(t *testing.T) {
	opened := 0
	unopenable := func(p string, size int) *FileRef {
		return &FileRef{Path: p, Size: int64(size), Open: func(context.Context) (io.ReaderAt, error) {
			opened++
			return nil, errors.New("the old version must not be read")
		}}
	}
	old, cur := prose(1, 20<<10), prose(2, 21<<10)
	v := judge(t, []Change{{Kind: Modified, Old: unopenable("a.txt", len(old)), New: ref("a.txt", cur)}}, Options{Parallelism: 1})
	if opened != 0 || v.Stats.Unreadable != 0 || v.Stats.BytesRead != int64(len(cur)) || v.Level != Clean {
		t.Fatalf("plain change: old opened %d times, %+v, level %s", opened, v.Stats, v.Level)
	}
	enc := encryptRange(aesStream(t), cur, 0, len(cur))
	v = judge(t, []Change{{Kind: Modified, Old: unopenable("a.txt", len(old)), New: ref("a.txt", enc)}}, Options{Parallelism: 1})
	if opened != 1 || v.Stats.Unreadable != 1 {
		t.Fatalf("random change: old opened %d times, %+v", opened, v.Stats)
	}
}

// TestRansomWords: notes are told from licences that mention encryption,
// fees and addresses.
func TestRansomWords(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"Your files have been encrypted. To restore them you need the private key held on our server.", true},
		{"All files locked. Send 0.1 BTC to the wallet below.", true},
		{"Files encrypted. Payment instructions: contact us with your personal ID.", true},
		{"The U.S. government prohibits export of encryption source code. Contact: krbdev@mit.edu", false},
		{"You may charge a fee or pay for support. This library can encrypt data. Written by a@b.org", false},
		{"The blocked and unlocked states of the mutex; payment is not required.", false},
	} {
		if got := ransomWords([]byte(c.text)); got != c.want {
			t.Errorf("ransomWords(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

// TestJudgeLicenceCopiesAreNoNote: one licence that mentions encryption and
// addresses, shipped in several directories of a first point, is no note.
func TestJudgeLicenceCopiesAreNoNote(t *testing.T) {
	body := []byte("This package was debianized by a maintainer <m@example.org>.\n" +
		"The U.S. government prohibits export of encryption source code.\n" + string(prose(7, 2<<10)))
	var ch []Change
	for _, d := range []string{"krb5-locales", "libkrb5-3", "libgssapi-krb5-2", "libkrb5support0", "libk5crypto3"} {
		ch = append(ch, Change{Kind: Added, New: ref("usr/share/doc/"+d+"/copyright", body)})
	}
	if v := judge(t, ch, Options{}); v.Level != Clean {
		logVerdict(t, v)
		t.Fatalf("licence copies: %s, want clean", v.Level)
	}
}
