// Package corpus assembles the clean point of bunker's ransomware-scanner
// evaluation from real files found on the machine, generating real files
// of the kinds the machine lacks (office documents, PDFs, SQLite databases,
// media, encrypted archives, large files).
//
// The selection is deterministic for a seed, a size budget and the files
// present on the machine: roots are walked in lexical order with a bounded
// number of visits, candidates are shuffled with a seeded generator, and
// generated files come from the same seed. Modification times are set from
// the seed too.
package corpus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Category is a kind of file in the corpus.
type Category string

// The categories every corpus covers.
const (
	Text      Category = "text"
	Source    Category = "source"
	Log       Category = "log"
	Image     Category = "image"
	PDF       Category = "pdf"
	Archive   Category = "archive"
	Binary    Category = "binary"
	SQLite    Category = "sqlite"
	Office    Category = "office"
	Media     Category = "media"
	Encrypted Category = "encrypted"
	Font      Category = "font"
)

// Categories returns every category in a stable order.
func Categories() []Category {
	return []Category{Text, Source, Log, Image, PDF, Archive, Binary, SQLite, Office, Media, Encrypted, Font}
}

// share is each category's part of the budget, in percent.
func share(c Category) int64 {
	switch c {
	case Binary:
		return 16
	case Text, Source, Image:
		return 10
	case Log, PDF, Archive, SQLite, Office, Media:
		return 7
	case Encrypted, Font:
		return 3
	}
	return 0
}

// dirFor is the top directory a category's files land in, laid out like a
// user's home plus a system part.
func dirFor(c Category) string {
	switch c {
	case Text:
		return "Documents/notes"
	case Source:
		return "Projects"
	case Log:
		return "var/log"
	case Image:
		return "Pictures"
	case PDF:
		return "Documents/papers"
	case Archive:
		return "Downloads"
	case Binary:
		return "opt/bin"
	case SQLite:
		return "Data"
	case Office:
		return "Documents/office"
	case Media:
		return "Videos"
	case Encrypted:
		return "Vault"
	case Font:
		return "fonts"
	}
	return "misc"
}

// Options controls Build.
type Options struct {
	// Seed drives every choice; the same seed gives the same corpus on the
	// same machine.
	Seed uint64
	// Budget is the approximate total size of the clean tree in bytes.
	Budget int64
	// Roots overrides the directories walked for real files.
	Roots []string
	// MaxVisits bounds the entries visited per root (default 20000).
	MaxVisits int
	// Large forces (1) or forbids (-1) generated files of 20 MiB or more;
	// 0 means: only when Budget is at least 96 MiB.
	Large int
	// PoolBinaries is how many spare real ELF binaries go to the pool for
	// the upgrade scenario (default 40).
	PoolBinaries int
}

// Entry is one file of the clean tree or of the pool.
type Entry struct {
	// Path is slash-separated and relative to the tree (or the pool).
	Path     string   `json:"path"`
	Category Category `json:"category"`
	Size     int64    `json:"size"`
	// Source is the absolute path the file was copied from, or
	// "generated:<generator>".
	Source string `json:"source"`
}

// Generated reports whether the entry was generated rather than found.
func (e Entry) Generated() bool { return strings.HasPrefix(e.Source, "generated:") }

// Stat summarises one category.
type Stat struct {
	Found     int   `json:"found"`
	Generated int   `json:"generated"`
	Bytes     int64 `json:"bytes"`
}

// Manifest describes a built corpus.
type Manifest struct {
	Seed    uint64             `json:"seed"`
	Budget  int64              `json:"budget"`
	Roots   []string           `json:"roots"`
	Built   time.Time          `json:"built"` // base modification time
	Entries []Entry            `json:"entries"`
	Pool    []Entry            `json:"pool"`
	Stats   map[Category]*Stat `json:"stats"`
	Total   int64              `json:"total_bytes"`
	Words   []string           `json:"-"` // vocabulary harvested from real text
}

// ByCategory returns the entries of category c.
func (m *Manifest) ByCategory(c Category) []Entry {
	var out []Entry
	for _, e := range m.Entries {
		if e.Category == c {
			out = append(out, e)
		}
	}
	return out
}

// WriteJSON writes the manifest to path.
func (m *Manifest) WriteJSON(p string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest encode: %w", err)
	}
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("manifest write: %w", err)
	}
	return nil
}

// BaseTime returns the reference time around which clean files are dated.
func BaseTime() time.Time { return time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC) }

// DefaultRoots returns the directories walked for real files.
func DefaultRoots() []string {
	roots := []string{
		"/usr/share/doc", "/usr/share/common-licenses", "/usr/share/man",
		"/usr/share/pixmaps", "/usr/share/icons", "/usr/share/fonts",
		"/usr/share/mime", "/usr/share/dict", "/var/log", "/etc", "/usr/bin", "/usr/sbin",
		"/usr/share/sounds", "/usr/share/backgrounds",
	}
	if g := goroot(); g != "" {
		roots = append(roots, filepath.Join(g, "src"), filepath.Join(g, "doc"), filepath.Join(g, "pkg", "tool"), filepath.Join(g, "lib"))
	}
	return roots
}

func goroot() string {
	if g := os.Getenv("GOROOT"); g != "" {
		return g
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err == nil {
		return strings.TrimSpace(string(out))
	}
	return ""
}

type candidate struct {
	path string
	size int64
	cat  Category
}

// extCategory maps a lowercase extension to its category.
func extCategory(ext string) (Category, bool) {
	switch ext {
	case ".txt", ".md", ".rst", ".html", ".htm", ".xml", ".json", ".csv", ".yaml", ".yml", ".conf", ".cfg", ".ini", ".tex":
		return Text, true
	case ".go", ".c", ".h", ".py", ".sh", ".js", ".pl", ".rb", ".rs", ".java", ".s", ".cpp", ".ts", ".css", ".el":
		return Source, true
	case ".log":
		return Log, true
	case ".png", ".jpg", ".jpeg", ".gif", ".svg", ".bmp", ".ico", ".webp", ".xpm":
		return Image, true
	case ".pdf":
		return PDF, true
	case ".gz", ".xz", ".zst", ".bz2", ".zip", ".tar", ".tgz", ".7z", ".jar":
		return Archive, true
	case ".db", ".sqlite", ".sqlite3":
		return SQLite, true
	case ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".doc", ".xls":
		return Office, true
	case ".mp4", ".webm", ".ogg", ".ogv", ".oga", ".mp3", ".wav", ".flac", ".mkv", ".avi", ".opus":
		return Media, true
	case ".gpg", ".pgp", ".kdbx", ".age":
		return Encrypted, true
	case ".ttf", ".otf", ".woff", ".woff2", ".pfb":
		return Font, true
	}
	return "", false
}

func classify(p string, size int64) (Category, bool) {
	base := filepath.Base(p)
	ext := strings.ToLower(filepath.Ext(base))
	if c, ok := extCategory(ext); ok {
		if c == SQLite && !hasPrefix(p, "SQLite format 3\x00") || c == Encrypted && strings.Contains(p, "/apt/") {
			return "", false
		}
		return c, true
	}
	if ext == "" || strings.HasPrefix(ext, ".so") {
		if hasPrefix(p, "\x7fELF") {
			return Binary, true
		}
		switch {
		case base == "copyright" || strings.HasPrefix(base, "README") || base == "NEWS" || base == "AUTHORS" || base == "LICENSE" || base == "TODO":
			return Text, true
		case strings.Contains(p, "/var/log/") && size > 0:
			return Log, true
		}
	}
	return "", false
}

// secretLike reports paths that may hold credentials or keys.
func secretLike(p string) bool {
	l := strings.ToLower(p)
	for _, w := range []string{"secret", "private", "passw", "shadow", "credential", "token", "/ssh", "/ssl/", "key", ".pem", "gshadow", "sudoers"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

func hasPrefix(p, magic string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(magic))
	if _, err := io.ReadFull(f, b); err != nil {
		return false
	}
	return string(b) == magic
}

// scan walks roots and returns candidates per category.
func scan(roots []string, maxVisits int, maxSize int64) map[Category][]candidate {
	out := map[Category][]candidate{}
	seen := map[string]bool{}
	for _, root := range roots {
		visits := 0
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			visits++
			if visits > maxVisits {
				return fs.SkipAll
			}
			if d.IsDir() {
				if n := d.Name(); n == "testdata" && strings.Contains(p, "/cmd/") {
					return fs.SkipDir // GOROOT's cmd testdata is full of deliberately broken files
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil || info.Size() == 0 || info.Size() > maxSize {
				return nil
			}
			// Only files every user may read, and nothing that looks like a
			// secret: the corpus must not carry credentials.
			if info.Mode().Perm()&0o004 == 0 || secretLike(p) {
				return nil
			}
			if seen[p] {
				return nil
			}
			c, ok := classify(p, info.Size())
			if !ok {
				return nil
			}
			seen[p] = true
			out[c] = append(out[c], candidate{p, info.Size(), c})
			return nil
		})
	}
	return out
}

// Build assembles a clean tree in dir/clean and a pool of spare files in
// dir/pool, and returns the manifest (not written; see Manifest.WriteJSON).
func Build(dir string, opt Options) (*Manifest, error) {
	if opt.Budget <= 0 {
		opt.Budget = 64 << 20
	}
	if opt.MaxVisits <= 0 {
		opt.MaxVisits = 20000
	}
	if opt.PoolBinaries <= 0 {
		opt.PoolBinaries = 40
	}
	if opt.Roots == nil {
		opt.Roots = DefaultRoots()
	}
	b := &builder{
		clean: filepath.Join(dir, "clean"), pool: filepath.Join(dir, "pool"),
		rng:   rand.New(rand.NewPCG(opt.Seed, 0x6275_6e6b_6572)),
		names: map[string]bool{},
		m: &Manifest{Seed: opt.Seed, Budget: opt.Budget, Roots: opt.Roots, Built: BaseTime(),
			Stats: map[Category]*Stat{}},
	}
	for _, c := range Categories() {
		b.m.Stats[c] = &Stat{}
	}
	for _, d := range []string{b.clean, b.pool} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
	}
	maxFile := opt.Budget / 24
	if maxFile < 256<<10 {
		maxFile = 256 << 10
	}
	if maxFile > 8<<20 {
		maxFile = 8 << 20
	}
	cands := scan(opt.Roots, opt.MaxVisits, maxFile)
	for _, c := range Categories() {
		list := cands[c]
		sort.Slice(list, func(i, j int) bool { return list[i].path < list[j].path })
		b.rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	}
	// Harvest a vocabulary and log lines from real text before generating.
	b.harvest(cands)

	large := opt.Large > 0 || (opt.Large == 0 && opt.Budget >= 96<<20)
	reserved := int64(0)
	if large {
		reserved = 45 << 20
	}
	avail := opt.Budget - reserved
	if avail < 0 {
		avail = opt.Budget / 2
	}
	// Bound the file count per category so small budgets stay fast to
	// build and scan: about one file per 256 KiB of budget.
	maxFiles := int(min(max(opt.Budget/(256<<10), 30), 4000))
	for _, c := range Categories() {
		quota := avail * share(c) / 100
		var used int64
		n := 0
		var rest []candidate
		for _, cd := range cands[c] {
			if (used+cd.size > quota && n >= 3) || n >= maxFiles {
				rest = append(rest, cd)
				continue
			}
			if err := b.copyIn(cd); err != nil {
				return nil, err
			}
			used += cd.size
			n++
		}
		cands[c] = rest
		if err := b.generate(c, quota-used, n, maxFiles); err != nil {
			return nil, err
		}
	}
	if large {
		if err := b.generateLarge(); err != nil {
			return nil, err
		}
	}
	if err := b.fillPool(cands[Binary], opt.PoolBinaries); err != nil {
		return nil, err
	}
	sort.Slice(b.m.Entries, func(i, j int) bool { return b.m.Entries[i].Path < b.m.Entries[j].Path })
	for _, e := range b.m.Entries {
		b.m.Total += e.Size
	}
	return b.m, nil
}

type builder struct {
	clean, pool string
	rng         *rand.Rand
	m           *Manifest
	names       map[string]bool
	logSeed     []string
}

// place picks a unique relative path for a file of category c whose
// origin directory is srcDir.
func (b *builder) place(c Category, srcDir, name string) string {
	sub := sanitize(filepath.Base(srcDir))
	if sub == "" || sub == "." || sub == "/" {
		sub = "misc"
	}
	name = sanitize(name)
	rel := path.Join(dirFor(c), sub, name)
	for i := 1; b.names[rel]; i++ {
		ext := path.Ext(name)
		rel = path.Join(dirFor(c), sub, fmt.Sprintf("%s-%d%s", strings.TrimSuffix(name, ext), i, ext))
	}
	b.names[rel] = true
	return rel
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r < 32 {
			return '_'
		}
		return r
	}, s)
}

func (b *builder) mtime() time.Time {
	return BaseTime().Add(-time.Duration(b.rng.IntN(365*24*3600)) * time.Second)
}

func (b *builder) write(root, rel string, data []byte, mode os.FileMode) error {
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := os.Chtimes(p, BaseTime(), b.mtime()); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	return nil
}

func (b *builder) copyIn(cd candidate) error {
	data, err := os.ReadFile(cd.path)
	if err != nil {
		return nil // unreadable (permissions): skipped
	}
	rel := b.place(cd.cat, filepath.Dir(cd.path), filepath.Base(cd.path))
	mode := os.FileMode(0o644)
	if cd.cat == Binary {
		mode = 0o755
	}
	if err := b.write(b.clean, rel, data, mode); err != nil {
		return err
	}
	b.m.Entries = append(b.m.Entries, Entry{Path: rel, Category: cd.cat, Size: int64(len(data)), Source: cd.path})
	b.m.Stats[cd.cat].Found++
	b.m.Stats[cd.cat].Bytes += int64(len(data))
	return nil
}

func (b *builder) addGenerated(c Category, rel, gen string, data []byte) error {
	if err := b.write(b.clean, rel, data, 0o644); err != nil {
		return err
	}
	b.m.Entries = append(b.m.Entries, Entry{Path: rel, Category: c, Size: int64(len(data)), Source: "generated:" + gen})
	b.m.Stats[c].Generated++
	b.m.Stats[c].Bytes += int64(len(data))
	return nil
}

func (b *builder) harvest(cands map[Category][]candidate) {
	var text bytes.Buffer
	for _, cd := range cands[Text] {
		if text.Len() > 400<<10 {
			break
		}
		if data, err := os.ReadFile(cd.path); err == nil && !bytes.ContainsRune(data[:min(len(data), 512)], 0) {
			text.Write(data)
			text.WriteByte('\n')
		}
	}
	words := wordsOf(text.String())
	b.m.Words = words
	var logs bytes.Buffer
	for _, cd := range cands[Log] {
		if logs.Len() > 200<<10 {
			break
		}
		if data, err := os.ReadFile(cd.path); err == nil {
			logs.Write(data)
		}
	}
	b.logSeed = logSeedOf(logs.String())
}

// fillPool copies spare real binaries (not in the tree) into the pool.
func (b *builder) fillPool(spare []candidate, n int) error {
	for _, cd := range spare {
		if len(b.m.Pool) >= n {
			break
		}
		data, err := os.ReadFile(cd.path)
		if err != nil {
			continue
		}
		rel := path.Join("bin", fmt.Sprintf("%03d-%s", len(b.m.Pool), sanitize(filepath.Base(cd.path))))
		if err := b.write(b.pool, rel, data, 0o755); err != nil {
			return err
		}
		b.m.Pool = append(b.m.Pool, Entry{Path: rel, Category: Binary, Size: int64(len(data)), Source: cd.path})
	}
	return nil
}
