// Package attack derives the evaluation points of bunker's ransomware
// scanner from a clean corpus: simulated attacks (real AES-256-CTR and
// ChaCha20 encryption with random keys, full, intermittent, header-only,
// encoded, renamed, with ransom notes) and benign changes (compression,
// new media, binary upgrades, growing databases and logs, encrypted
// archives, edits, deletions, a mass source checkout).
//
// Which files a scenario touches, and every byte of the benign changes, is
// deterministic for a seed and a corpus; only cipher keys, nonces and the
// salts of encrypted archives come from crypto/rand.
package attack

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/bunkerhq/bunker/eval/corpus"
	"github.com/bunkerhq/bunker/eval/internal/synth"
	"github.com/bunkerhq/bunker/eval/labels"
)

// ErrSkipped is returned (wrapped) by Apply when a scenario cannot run on
// this machine, e.g. a missing xz binary.
var ErrSkipped = errors.New("scenario skipped")

// Config sizes the scenarios.
type Config struct {
	// Files is how many files a regular scenario touches (default 25, at
	// least the 20-file detection threshold).
	Files int
	// Few is how many files the threshold probes touch (default 5).
	Few int
}

func (c Config) withDefaults() Config {
	if c.Files <= 0 {
		c.Files = 25
	}
	if c.Few <= 0 {
		c.Few = 5
	}
	return c
}

// Scenario is one evaluation point derived from the clean point.
type Scenario struct {
	Name        string
	Kind        labels.Kind
	Description string
	// Probe marks attacks deliberately below the 20-file threshold.
	Probe bool
	run   func(*env) error
}

// Result is what Apply returns: the labels and, for tests, the keys used
// per attacked path (in memory only).
type Result struct {
	Labels *labels.Labels
	Keys   map[string]Key
}

// Scenarios returns every scenario, attacks first, in a stable order.
func Scenarios(cfg Config) []Scenario {
	cfg = cfg.withDefaults()
	return append(attacks(cfg), benign(cfg)...)
}

// Clone makes dst a copy of the tree src, hard-linking files when the file
// system allows (scenarios never write through a link: every change goes
// to a fresh inode) and copying otherwise. Modification times are kept.
func Clone(src, dst string) error { return clone(src, dst, true) }

// CloneCopy is Clone without hard links: every file is copied.
func CloneCopy(src, dst string) error { return clone(src, dst, false) }

func clone(src, dst string, link bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("clone: %w", err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("clone: %w", err)
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("clone: %w", err)
			}
			return nil
		}
		if link {
			if err := os.Link(p, target); err == nil {
				return nil
			}
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.Chtimes(dst, st.ModTime(), st.ModTime()); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// Apply mutates tree (a Clone of the clean point described by m) into the
// scenario's point and returns its labels. pool holds spare files from
// corpus.Build. The selection is deterministic for seed.
func (s Scenario) Apply(tree, pool string, m *corpus.Manifest, seed uint64) (*Result, error) {
	h := uint64(14695981039346656037)
	for _, c := range []byte(s.Name) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	rng := rand.New(rand.NewPCG(seed, h))
	e := &env{
		root: tree, pool: pool, m: m, rng: rng,
		prose: synth.NewProse(m.Words, rng),
		now:   corpus.BaseTime().Add(36 * time.Hour),
		lab: &labels.Labels{Scenario: s.Name, Kind: s.Kind, Description: s.Description, Probe: s.Probe,
			Files: map[string]labels.File{}},
		keys: map[string]Key{},
		cats: map[string]string{},
	}
	for _, en := range m.Entries {
		e.cats[en.Path] = string(en.Category)
	}
	if err := s.run(e); err != nil {
		if errors.Is(err, ErrSkipped) {
			e.lab.Skipped = err.Error()
			e.lab.Files = map[string]labels.File{}
			return &Result{Labels: e.lab, Keys: nil}, err
		}
		return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	return &Result{Labels: e.lab, Keys: e.keys}, nil
}

type env struct {
	root, pool string
	m          *corpus.Manifest
	rng        *rand.Rand
	prose      *synth.Prose
	now        time.Time
	lab        *labels.Labels
	keys       map[string]Key
	cats       map[string]string
}

func (e *env) abs(rel string) string { return filepath.Join(e.root, filepath.FromSlash(rel)) }

func (e *env) read(rel string) ([]byte, error) {
	b, err := os.ReadFile(e.abs(rel))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	return b, nil
}

func (e *env) exists(rel string) bool {
	_, err := os.Lstat(e.abs(rel))
	return err == nil
}

// tick advances the scenario clock, so changed files get distinct,
// deterministic modification times after the clean point.
func (e *env) tick() time.Time {
	e.now = e.now.Add(time.Duration(50+e.rng.IntN(2000)) * time.Millisecond)
	return e.now
}

// write stores data at rel through a temporary file and a rename, so a
// hard link to the clean point is never written through.
func (e *env) write(rel string, data []byte, mode fs.FileMode) error {
	p := e.abs(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	tmp := filepath.Join(filepath.Dir(p), fmt.Sprintf(".tmp-%d", e.rng.Uint64()))
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	t := e.tick()
	if err := os.Chtimes(tmp, t, t); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	return nil
}

// detach gives rel its own inode so it can be modified in place.
func (e *env) detach(rel string) error {
	p := e.abs(rel)
	tmp := p + ".detach"
	if err := copyFile(p, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("detach %s: %w", rel, err)
	}
	return nil
}

func (e *env) touch(rel string) error {
	t := e.tick()
	if err := os.Chtimes(e.abs(rel), t, t); err != nil {
		return fmt.Errorf("touch %s: %w", rel, err)
	}
	return nil
}

func (e *env) remove(rel string) error {
	if err := os.Remove(e.abs(rel)); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

func (e *env) mode(rel string) fs.FileMode {
	st, err := os.Stat(e.abs(rel))
	if err != nil {
		return 0o644
	}
	return st.Mode().Perm()
}

// mark records a label; a later mark of the same path wins, but a path
// that was added in this scenario stays "added".
func (e *env) mark(rel string, f labels.File) {
	if f.Category == "" {
		f.Category = e.cats[rel]
		if f.From != "" && f.Category == "" {
			f.Category = e.cats[f.From]
		}
	}
	if old, ok := e.lab.Files[rel]; ok && old.Change == labels.Added && f.Change == labels.Modified {
		f.Change = labels.Added
	}
	e.lab.Files[rel] = f
}

// entries returns clean entries of the given categories (all when none),
// sorted by path, filtered by keep.
func (e *env) entries(keep func(corpus.Entry) bool, cats ...corpus.Category) []corpus.Entry {
	want := map[corpus.Category]bool{}
	for _, c := range cats {
		want[c] = true
	}
	var out []corpus.Entry
	for _, en := range e.m.Entries {
		if (len(cats) == 0 || want[en.Category]) && (keep == nil || keep(en)) && e.exists(en.Path) {
			out = append(out, en)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// spread picks n entries round-robin across categories, so every kind of
// file is represented.
func (e *env) spread(list []corpus.Entry, n int) []corpus.Entry {
	by := map[corpus.Category][]corpus.Entry{}
	var order []corpus.Category
	for _, en := range list {
		if by[en.Category] == nil {
			order = append(order, en.Category)
		}
		by[en.Category] = append(by[en.Category], en)
	}
	for _, c := range order {
		l := by[c]
		e.rng.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
	}
	var out []corpus.Entry
	for len(out) < n {
		took := false
		for _, c := range order {
			if len(by[c]) > 0 && len(out) < n {
				out = append(out, by[c][0])
				by[c] = by[c][1:]
				took = true
			}
		}
		if !took {
			break
		}
	}
	return out
}

// shuffled returns n entries of list in a seeded random order.
func (e *env) shuffled(list []corpus.Entry, n int) []corpus.Entry {
	l := append([]corpus.Entry(nil), list...)
	e.rng.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
	if n < len(l) {
		l = l[:n]
	}
	return l
}

func dirOf(rel string) string { return path.Dir(rel) }
