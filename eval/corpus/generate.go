package corpus

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/eval/internal/synth"
)

func wordsOf(text string) []string { return synth.Words(text, 20000) }

func logSeedOf(text string) []string { return synth.LogSeed(text, 5000) }

func (b *builder) prose() *synth.Prose { return synth.NewProse(b.m.Words, b.rng) }

// generate fills what is left of category c's quota (rem bytes) with
// generated files when c is a kind the machine typically lacks, and
// guarantees a minimum presence for every category.
func (b *builder) generate(c Category, rem int64, found, maxFiles int) error {
	const minFiles = 5
	need := func(made int, used int64) bool {
		return found+made < minFiles || (used < rem && found+made < maxFiles)
	}
	p := b.prose()
	mod := BaseTime().Add(-48 * time.Hour)
	var used int64
	made := 0
	emit := func(rel, gen string, data []byte) error {
		if err := b.addGenerated(c, rel, gen, data); err != nil {
			return err
		}
		used += int64(len(data))
		made++
		return nil
	}
	unit := max(rem/40, 16<<10)
	switch c {
	case Office:
		for need(made, used) {
			var data []byte
			var err error
			var rel, gen string
			paras := 8 + b.rng.IntN(int(unit/250)+1)
			switch made % 3 {
			case 0:
				data, err = synth.Docx(p, paras, mod)
				rel, gen = b.place(c, pick(b, "reports", "letters", "contracts"), fmt.Sprintf("%s-%d.docx", p.Word(), made)), "docx"
			case 1:
				data, err = synth.Xlsx(p, paras*3, mod)
				rel, gen = b.place(c, pick(b, "finance", "inventory", "budgets"), fmt.Sprintf("%s-%d.xlsx", p.Word(), made)), "xlsx"
			default:
				data, err = synth.Odt(p, paras, mod)
				rel, gen = b.place(c, pick(b, "minutes", "drafts"), fmt.Sprintf("%s-%d.odt", p.Word(), made)), "odt"
			}
			if err != nil {
				return fmt.Errorf("corpus: %w", err)
			}
			if err := emit(rel, gen, data); err != nil {
				return err
			}
		}
	case PDF:
		for need(made, used) {
			data, err := synth.PDF(p, 1+b.rng.IntN(int(unit/2500)+1))
			if err != nil {
				return fmt.Errorf("corpus: %w", err)
			}
			if err := emit(b.place(c, pick(b, "invoices", "manuals", "articles"), fmt.Sprintf("%s-%d.pdf", p.Word(), made)), "pdf", data); err != nil {
				return err
			}
		}
	case SQLite:
		for need(made, used) {
			rel := b.place(c, pick(b, "crm", "app", "firefox", "notes"), fmt.Sprintf("%s-%d.sqlite", p.Word(), made))
			if made%2 == 1 {
				rel = strings.TrimSuffix(rel, ".sqlite") + ".db"
			}
			size := 48<<10 + b.rng.Int64N(unit*2)
			if err := b.sqlite(rel, p, size); err != nil {
				return err
			}
			st, err := os.Stat(filepath.Join(b.clean, filepath.FromSlash(rel)))
			if err != nil {
				return fmt.Errorf("corpus: %w", err)
			}
			used += st.Size()
			made++
		}
	case Media:
		for need(made, used) {
			if made%3 == 2 {
				data := synth.WAV(b.rng, 1+b.rng.IntN(int(unit/44100)+1))
				if err := emit(b.place(c, "recordings", fmt.Sprintf("memo-%d.wav", made)), "wav", data); err != nil {
					return err
				}
				continue
			}
			data := synth.MP4(b.rng, int(64<<10+b.rng.Int64N(unit*3)))
			if err := emit(b.place(c, pick(b, "holiday", "family", "screencasts"), fmt.Sprintf("VID_%04d.mp4", 1000+made)), "mp4-like", data); err != nil {
				return err
			}
		}
	case Image:
		// Real photos are scarce on servers: add camera-like JPEGs.
		for n := 0; n < 3 || (used < rem && found+made < maxFiles); n++ {
			w, h := 320+b.rng.IntN(640), 240+b.rng.IntN(480)
			data, err := synth.JPEG(b.rng, w, h)
			if err != nil {
				return fmt.Errorf("corpus: %w", err)
			}
			if err := emit(b.place(c, pick(b, "camera", "phone"), fmt.Sprintf("IMG_%04d.jpg", 2000+made)), "jpeg", data); err != nil {
				return err
			}
		}
	case Encrypted:
		for need(made, used) && made < 12 {
			var pb strings.Builder
			for pb.Len() < int(unit) {
				pb.WriteString(p.Paragraph() + "\n")
			}
			plain := []byte(pb.String())
			var data []byte
			var err error
			var rel, gen string
			if made%2 == 0 {
				data, err = synth.ZipAES(map[string][]byte{"secrets.txt": plain, "keys.csv": plain[:len(plain)/2]}, []string{"secrets.txt", "keys.csv"}, "correct horse "+p.Word(), mod)
				rel, gen = b.place(c, "archives", fmt.Sprintf("private-%d.zip", made)), "zip-aes"
			} else {
				data, err = synth.PGP(plain, "battery staple "+p.Word())
				rel, gen = b.place(c, "gpg", fmt.Sprintf("%s-%d.txt.gpg", p.Word(), made)), "openpgp"
			}
			if err != nil {
				return fmt.Errorf("corpus: %w", err)
			}
			if err := emit(rel, gen, data); err != nil {
				return err
			}
		}
	case Log:
		for need(made, used) {
			lines := 200 + b.rng.IntN(int(unit/90)+1)
			data := synth.LogLines(b.rng, p, b.logSeed, BaseTime().Add(-time.Duration(made+1)*24*time.Hour), lines)
			if err := emit(b.place(c, pick(b, "app", "nginx", "bunker"), fmt.Sprintf("%s.log", pick(b, "access", "error", "server", "worker")+fmt.Sprint(made))), "log", []byte(data)); err != nil {
				return err
			}
		}
	case Text:
		for n := 0; found+n < minFiles; n++ {
			data := strings.Repeat(p.Paragraph()+"\n\n", 10)
			if err := emit(b.place(c, "notes", fmt.Sprintf("note-%d.txt", n)), "text", []byte(data)); err != nil {
				return err
			}
		}
	case Source:
		for n := 0; found+n < minFiles; n++ {
			var s strings.Builder
			fmt.Fprintf(&s, "package %s\n\n", p.Word())
			for i := 0; i < 30; i++ {
				fmt.Fprintf(&s, "// f%d %s\nfunc f%d(x int) int {\n\treturn x*%d + %d\n}\n\n", i, p.Sentence(4), i, b.rng.IntN(100), b.rng.IntN(100))
			}
			if err := emit(b.place(c, "tool", fmt.Sprintf("gen%d.go", n)), "go", []byte(s.String())); err != nil {
				return err
			}
		}
	case Archive:
		for n := 0; found+n < minFiles; n++ {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = zw.Write([]byte(strings.Repeat(p.Paragraph()+"\n", 50)))
			if err := zw.Close(); err != nil {
				return fmt.Errorf("corpus: %w", err)
			}
			if err := emit(b.place(c, "misc", fmt.Sprintf("notes-%d.txt.gz", n)), "gzip", z.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}

func pick(b *builder, opts ...string) string { return opts[b.rng.IntN(len(opts))] }

func (b *builder) sqlite(rel string, p *synth.Prose, size int64) error {
	abs := filepath.Join(b.clean, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := synth.SQLite(abs, p, size); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := os.Chtimes(abs, BaseTime(), b.mtime()); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	b.m.Entries = append(b.m.Entries, Entry{Path: rel, Category: SQLite, Size: st.Size(), Source: "generated:sqlite"})
	b.m.Stats[SQLite].Generated++
	b.m.Stats[SQLite].Bytes += st.Size()
	return nil
}

// generateLarge adds files of 20 MiB or more (a SQLite database and a
// log), so that 1-MiB-of-every-10-MiB encryption leaves plaintext between
// encrypted stripes.
func (b *builder) generateLarge() error {
	p := b.prose()
	if err := b.sqlite(path.Join(dirFor(SQLite), "warehouse", "history.sqlite"), p, 24<<20); err != nil {
		return err
	}
	var buf bytes.Buffer
	start := BaseTime().Add(-90 * 24 * time.Hour)
	for buf.Len() < 21<<20 {
		buf.WriteString(synth.LogLines(b.rng, p, b.logSeed, start, 5000))
		start = start.Add(6 * time.Hour)
	}
	return b.addGenerated(Log, path.Join(dirFor(Log), "archive", "audit-2025.log"), "log", buf.Bytes())
}
