package scan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
)

// ChangeKind says how a file differs between two points.
type ChangeKind uint8

// Change kinds.
const (
	// Added: only New is set.
	Added ChangeKind = iota + 1
	// Modified: Old and New are the same path with different content.
	Modified
	// Deleted: only Old is set.
	Deleted
	// Renamed: Old and New are different paths known to be one file.
	Renamed
)

// String names the kind.
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Modified:
		return "modified"
	case Deleted:
		return "deleted"
	case Renamed:
		return "renamed"
	}
	return fmt.Sprintf("ChangeKind(%d)", k)
}

// FileRef is one version of a file in a point.
type FileRef struct {
	// Path is the file's path in its point, slash-separated.
	Path string
	// Size is the content size in bytes.
	Size int64
	// ID optionally identifies the content (a content hash): equal
	// non-empty IDs mean equal content, which lets [Judge] skip unchanged
	// content and pair a deleted file with an added one.
	ID string
	// Open returns the content; it must serve Size bytes. If the returned
	// value is also an io.Closer, Judge closes it.
	Open func(ctx context.Context) (io.ReaderAt, error)
}

// Change is one difference between a point and the previous point of the
// same source.
type Change struct {
	Kind     ChangeKind
	Old, New *FileRef
}

// Path is the current path of the change (the old one for deletions).
func (c Change) Path() string {
	if c.New != nil {
		return c.New.Path
	}
	if c.Old != nil {
		return c.Old.Path
	}
	return ""
}

// Level is the verdict on a point.
type Level uint8

// Verdict levels.
const (
	Clean Level = iota
	Suspicious
	Infected
)

// String names the level.
func (l Level) String() string {
	switch l {
	case Clean:
		return "clean"
	case Suspicious:
		return "suspicious"
	case Infected:
		return "infected"
	}
	return fmt.Sprintf("Level(%d)", l)
}

// Evidence is one finding behind a verdict: about a file (Path is the
// file) or about the point (Path names the pattern, e.g. "*.lockd").
type Evidence struct {
	Path   string
	Reason string
	// Weight is the finding's contribution to the score.
	Weight float64
	// Strong marks file findings that count towards infection, and point
	// findings that corroborate them (mass renames, ransom notes).
	Strong bool
	// Files lists, for a point finding, the files the pattern is made of
	// (the renamed files, the notes, the new random files), sorted; it is
	// nil for file findings.
	Files []string
}

// Stats count what a verdict is based on.
type Stats struct {
	Changes  int // changes given
	Added    int // added files not paired with a deletion
	Modified int // modified files, and renames with changed content
	Deleted  int // deleted files not paired with an addition
	Renamed  int // renames, given or inferred from delete+add pairs
	Examined int // files analysed
	Strong   int // files with strong evidence
	Weak     int // files with weak evidence
	// Unreadable files could not be opened or read; they are listed as
	// evidence with weight 0.
	Unreadable int
	// BytesChanged is the size of the examined files' new versions: the
	// changed data the scan had to judge. BytesRead is what it read of
	// them and of their previous versions.
	BytesChanged int64
	BytesRead    int64
}

// Verdict is the judgement of one point.
type Verdict struct {
	Level    Level
	Score    float64
	Evidence []Evidence
	Stats    Stats
}

// Point-level weights and thresholds.
const (
	// renameMin is how many content-changing renames to one new extension
	// make a mass rename.
	renameMin = 5
	// noteDirs is how many directories must hold the same note.
	noteDirs = 3
	// noteMaxSize bounds the size of a ransom note candidate.
	noteMaxSize = 64 << 10
	// spikeMin is the least number of deletions that can be a spike.
	spikeMin = 20
	// newWeakCap bounds the summed weight of weak findings on new files.
	newWeakCap = 1.5
)

// isNewFinding reports whether a reason is one [Compare] gives new files.
func isNewFinding(reason string) bool {
	return strings.HasPrefix(reason, "new ")
}

// sameStats reports whether two profiles have the same size and format
// and identical statistics in every cell sampled in both: the content most
// likely did not change.
func sameStats(a, b *Profile) bool {
	if a.Size != b.Size || a.Format != b.Format {
		return false
	}
	n, j := 0, 0
	for i := range b.Regions {
		y := &b.Regions[i]
		for j < len(a.Regions) && a.Regions[j].Offset < y.Offset {
			j++
		}
		if j == len(a.Regions) || a.Regions[j].Offset != y.Offset {
			continue
		}
		x := &a.Regions[j]
		if x.Length != y.Length || x.Entropy != y.Entropy || x.ChiSquare != y.ChiSquare {
			return false
		}
		n++
	}
	return n > 0
}

// pair is one unit of analysis.
type pair struct {
	old, cur *FileRef
	renamed  bool
	note     bool // candidate ransom note: read its body
}

// result is what the analysis of a pair found.
type result struct {
	ev       Evidence
	cur      *Profile
	noteHash [32]byte
	noteKW   bool
	same     bool // both versions have identical sampled statistics
	err      error
	read     int64
}

// Version names the rules by which [Judge] reaches its verdicts. It changes
// whenever they do, so that verdicts kept from an earlier version are
// computed again rather than trusted.
const Version = 2

// Judge compares a point with the previous point of the same source, given
// the changes between them, and returns the verdict.
//
// Deleted and added files are paired into renames when they have the same
// content ID, when the new path is the old path with extensions appended or
// its extension replaced, or when they sit in the same directory with
// nearly the same size (the new one at most 4 KiB + 1% larger). Every
// content change is analysed with [Analyze]; the old version is read too
// (at the offsets of the new one's dense or random cells, so cells compare
// one to one) unless the new one is a valid file without random cells,
// which no previous version could make evidence, and the pair is judged
// with [Compare]. Files are analysed on Options.Parallelism goroutines.
//
// Point findings: at least 10 new random files of one extension, not
// paired, while at least half as many files were deleted (weight 3,
// corroborating); at least 5 content-changing renames to one new extension
// whose new content is not a valid known format (weight 3, or 5 from 10
// files; corroborating); the same small text/HTML file name or body added
// in at least 3 directories (weight 5 and corroborating when it speaks of
// encryption and payment, else weight 1 and only when files are encrypted
// too); deletions of at least 20 files and half the previous point
// (weight 3), or 500 when the previous count is unknown (weight 1); content
// changes of at least 100 files and half the previous point (weight 1).
//
// Point findings list the files they are made of in [Evidence.Files]
// (the renamed files, the notes, the new random files).
//
// The score is the sum of the weights. The point is infected when at
// least Options.InfectedFiles files have strong evidence and they are at
// least 1% of the examined files or a corroborating finding exists, or
// when 3 files have strong evidence and a corroborating finding exists. It
// is suspicious when the score reaches Options.SuspiciousScore, when two
// files have strong evidence, or on any corroborating finding; otherwise
// clean.
func Judge(ctx context.Context, changes []Change, opts Options) (Verdict, error) {
	opts = opts.withDefaults()
	var v Verdict
	v.Stats.Changes = len(changes)
	pairs, deleted := pairChanges(changes, &v.Stats)
	results := make([]result, len(pairs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(opts.Parallelism, max(len(pairs), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ws workspace
			for i := range next {
				results[i] = examine(ctx, pairs[i], opts, &ws)
			}
		}()
	}
	var cerr error
feed:
	for i := range pairs {
		select {
		case next <- i:
		case <-ctx.Done():
			cerr = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if cerr == nil {
		cerr = ctx.Err()
	}
	if cerr != nil {
		return v, fmt.Errorf("judge point: %w", cerr)
	}
	var evs []Evidence
	newWeak := 0.0
	for i, r := range results {
		v.Stats.BytesRead += r.read
		if r.err != nil {
			if errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded) {
				return v, fmt.Errorf("judge point: %w", r.err)
			}
			v.Stats.Unreadable++
			evs = append(evs, Evidence{Path: pairs[i].cur.Path, Reason: "unreadable: " + r.err.Error()})
			continue
		}
		v.Stats.Examined++
		v.Stats.BytesChanged += pairs[i].cur.Size
		if r.ev.Weight > 0 {
			if r.ev.Strong {
				v.Stats.Strong++
			} else {
				v.Stats.Weak++
			}
			if pairs[i].old == nil {
				newWeak += r.ev.Weight
			}
			evs = append(evs, r.ev)
		}
	}
	// New files alone (random blobs, malformed files) never make a point
	// suspicious: their weights together count at most newWeakCap.
	if newWeak > newWeakCap {
		f := newWeakCap / newWeak
		for i := range evs {
			if evs[i].Weight > 0 && !evs[i].Strong && isNewFinding(evs[i].Reason) {
				evs[i].Weight *= f
			}
		}
	}
	corroborated := false
	point := pointEvidence(pairs, results, deleted, opts, v.Stats)
	for _, e := range point {
		if e.Strong {
			corroborated = true
		}
		evs = append(evs, e)
	}
	for _, e := range evs {
		v.Score += e.Weight
	}
	strong := v.Stats.Strong
	switch {
	case strong >= opts.InfectedFiles && (strong*100 >= v.Stats.Examined || corroborated),
		strong >= 3 && corroborated:
		v.Level = Infected
	case v.Score >= opts.SuspiciousScore || strong >= 2 || corroborated:
		v.Level = Suspicious
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].Weight != evs[j].Weight {
			return evs[i].Weight > evs[j].Weight
		}
		return evs[i].Path < evs[j].Path
	})
	if len(evs) > opts.MaxEvidence {
		evs = evs[:opts.MaxEvidence]
	}
	v.Evidence = evs
	return v, nil
}

// pairChanges turns changes into units of analysis, pairing deletions with
// additions that look like renames. It returns the pairs, the deletions
// left over.
func pairChanges(changes []Change, st *Stats) ([]pair, []*FileRef) {
	var pairs []pair
	var adds, dels []*FileRef
	for _, c := range changes {
		switch {
		case c.Old != nil && c.New != nil:
			renamed := c.Kind == Renamed || c.Old.Path != c.New.Path
			if renamed {
				st.Renamed++
			}
			if c.Old.ID != "" && c.Old.ID == c.New.ID {
				continue
			}
			st.Modified++
			pairs = append(pairs, pair{old: c.Old, cur: c.New, renamed: renamed})
		case c.New != nil:
			adds = append(adds, c.New)
		case c.Old != nil:
			dels = append(dels, c.Old)
		}
	}
	sort.Slice(adds, func(i, j int) bool { return adds[i].Path < adds[j].Path })
	byPath := make(map[string]int, len(dels))
	byStem := make(map[string][]int)
	byID := make(map[string][]int)
	byDir := make(map[string][]int)
	for i, d := range dels {
		byPath[d.Path] = i
		byStem[stemPath(d.Path)] = append(byStem[stemPath(d.Path)], i)
		if d.ID != "" {
			byID[d.ID] = append(byID[d.ID], i)
		}
		byDir[path.Dir(d.Path)] = append(byDir[path.Dir(d.Path)], i)
	}
	for _, l := range byDir {
		sort.Slice(l, func(a, b int) bool { return dels[l[a]].Size < dels[l[b]].Size })
	}
	used := make([]bool, len(dels))
	take := func(l []int, ok func(*FileRef) bool) int {
		for _, i := range l {
			if !used[i] && ok(dels[i]) {
				used[i] = true
				return i
			}
		}
		return -1
	}
	// Pairings by content and by name come first, for every addition, so
	// that the weaker pairing by directory and size cannot take a deletion
	// a later addition names (a new note taking the place of a file the
	// attacker renamed).
	match := make([]int, len(adds))
	for k, a := range adds {
		m := -1
		if a.ID != "" {
			m = take(byID[a.ID], func(*FileRef) bool { return true })
			if m >= 0 {
				match[k] = -2
				continue
			}
		}
		// The old path with extensions appended.
		for p := a.Path; m < 0; {
			e := path.Ext(p)
			if e == "" || len(e) == len(path.Base(p)) {
				break
			}
			p = strings.TrimSuffix(p, e)
			if i, ok := byPath[p]; ok && !used[i] {
				used[i] = true
				m = i
			}
		}
		if m < 0 {
			m = take(byStem[stemPath(a.Path)], func(*FileRef) bool { return true })
		}
		match[k] = m
	}
	for k, a := range adds {
		m := match[k]
		if m == -2 {
			st.Renamed++
			continue
		}
		if m < 0 {
			// The closest smaller-or-equal size first.
			l := byDir[path.Dir(a.Path)]
			hi := sort.Search(len(l), func(k int) bool { return dels[l[k]].Size > a.Size })
			for k := hi - 1; k >= 0; k-- {
				d := dels[l[k]]
				if a.Size > d.Size+4096+d.Size/100 {
					break
				}
				if !used[l[k]] {
					used[l[k]] = true
					m = l[k]
					break
				}
			}
		}
		if m >= 0 {
			st.Renamed++
			st.Modified++
			pairs = append(pairs, pair{old: dels[m], cur: a, renamed: true})
			continue
		}
		st.Added++
		pairs = append(pairs, pair{cur: a, note: a.Size > 0 && a.Size <= noteMaxSize && noteName(a.Path)})
	}
	var left []*FileRef
	for i, d := range dels {
		if !used[i] {
			left = append(left, d)
		}
	}
	st.Deleted = len(left)
	return pairs, left
}

// stemPath is the path without its last extension.
func stemPath(p string) string {
	e := path.Ext(p)
	if len(e) == len(path.Base(p)) {
		return p
	}
	return strings.TrimSuffix(p, e)
}

// noteName reports whether a file name could be a ransom note.
func noteName(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".txt", ".html", ".htm", ".hta", ".rtf", ".md", ".nfo", ".url", "":
		return true
	}
	return false
}

// examine analyses one pair.
func examine(ctx context.Context, p pair, opts Options, ws *workspace) result {
	var r result
	ra, err := open(ctx, p.cur)
	if err != nil {
		r.err = err
		return r
	}
	defer closeReader(ra)
	spans := opts.plan(p.cur.Size)
	cur, err := analyzePlan(ctx, ra, p.cur.Size, p.cur.Path, opts, spans, "", true, ws)
	r.read += cur.BytesRead
	if err != nil {
		r.err = err
		return r
	}
	r.cur = &cur
	if p.note {
		body := ws.note(int(p.cur.Size))
		if n, err := ra.ReadAt(body, 0); n == len(body) {
			r.read += int64(n)
			r.noteHash = sha256.Sum256(body)
			r.noteKW = ransomWords(body)
		} else if err != nil {
			r.err = fmt.Errorf("read note %s: %w", p.cur.Path, err)
			return r
		}
	}
	if p.old == nil {
		r.ev = Compare(nil, &cur)
		return r
	}
	if !p.renamed && cur.Valid && cur.RandomCells() == 0 {
		// A valid file without ciphertext-like cells is no evidence
		// whatever it was before (see Compare): the old version is not
		// read.
		r.ev = Evidence{Path: p.cur.Path}
		return r
	}
	ro, err := open(ctx, p.old)
	if err != nil {
		r.err = err
		return r
	}
	defer closeReader(ro)
	// Whether the old version was valid matters only when the new one is
	// broken, or is text that may be the encoding of a former binary (see
	// Compare): otherwise its structure is not checked.
	structure := !cur.Valid || cur.Format == FormatText
	// The old version is sampled where the new one has dense or random
	// cells (the only cells a comparison can use), at the same offsets,
	// plus its head for identification and, for the structure check, its
	// own tail.
	ospans := []span{{0, int64(max(opts.CellSize, IdentifyHeader))}}
	for _, rg := range cur.Regions {
		if rg.Class.Random() || rg.Class == ClassDense {
			if last := &ospans[len(ospans)-1]; last.off+last.n == rg.Offset {
				last.n += int64(rg.Length)
			} else if rg.Offset > last.off+last.n {
				ospans = append(ospans, span{rg.Offset, int64(rg.Length)})
			}
		}
	}
	if t := p.old.Size - int64(opts.TailSize); structure && t >= ospans[len(ospans)-1].off+ospans[len(ospans)-1].n {
		ospans = append(ospans, span{t, int64(opts.TailSize)})
	}
	old, err := analyzePlan(ctx, ro, p.old.Size, p.old.Path, opts, ospans, "", structure, ws)
	r.read += old.BytesRead
	if err != nil {
		r.err = err
		return r
	}
	r.ev = Compare(&old, &cur)
	r.ev.Path = p.cur.Path
	r.same = sameStats(&old, &cur)
	return r
}

func open(ctx context.Context, f *FileRef) (io.ReaderAt, error) {
	if f.Open == nil {
		return nil, fmt.Errorf("open %s: no opener", f.Path)
	}
	r, err := f.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Path, err)
	}
	return r, nil
}

func closeReader(r io.ReaderAt) {
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
}

// ransomWords reports whether a text speaks of encryption and of what is
// wanted for the key (a currency, a wallet, a decryptor) or of payment and
// a way to reach its authors, as ransom notes do. It lower-cases the ASCII
// letters of b in place.
func ransomWords(b []byte) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	has := func(words ...string) bool {
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				return true
			}
		}
		return false
	}
	if !has("encrypt", "decrypt", " locked", "ransom") {
		return false
	}
	// Licences and changelogs mention encryption, payment and addresses;
	// a note names what it wants paid or how to reach its authors.
	return has("bitcoin", "btc", "monero", "xmr", "wallet", "ransom", "decryptor", "decryption key", "private key", ".onion", "tor browser") ||
		has("payment", "pay ") && has("contact us", "personal id", "your id")
}

// pointEvidence finds the point-level patterns.
func pointEvidence(pairs []pair, results []result, deleted []*FileRef, opts Options, st Stats) []Evidence {
	strong := st.Strong
	var out []Evidence
	// Mass rename to one new extension.
	exts := map[string]int{}
	extFiles := map[string][]string{}
	for i, p := range pairs {
		r := &results[i]
		if !p.renamed || p.old == nil || r.err != nil || r.cur == nil {
			continue
		}
		oe, ne := strings.ToLower(path.Ext(p.old.Path)), strings.ToLower(path.Ext(p.cur.Path))
		if ne == oe {
			continue
		}
		if !r.same && (r.ev.Strong || !(r.cur.Valid && r.cur.Format.Known())) {
			exts[ne]++
			extFiles[ne] = append(extFiles[ne], p.cur.Path)
		}
	}
	for _, e := range sortedKeys(exts) {
		n := exts[e]
		if n < renameMin {
			continue
		}
		w := 3.0
		if n >= 2*renameMin {
			w = 5
		}
		name := "*" + e
		if e == "" {
			name = "(no extension)"
		}
		out = append(out, Evidence{Path: name, Weight: w, Strong: true, Files: sortedCopy(extFiles[e]),
			Reason: fmt.Sprintf("%d files renamed to %s with content no longer a valid known format", n, name)})
	}
	// Random files replacing deleted ones without being paired to them
	// (moved and renamed beyond recognition).
	rnd := map[string]int{}
	rndFiles := map[string][]string{}
	for i, p := range pairs {
		if p.old == nil && results[i].err == nil && results[i].ev.Weight > 0 && strings.HasPrefix(results[i].ev.Reason, "new file of unknown format") {
			e := strings.ToLower(path.Ext(p.cur.Path))
			rnd[e]++
			rndFiles[e] = append(rndFiles[e], p.cur.Path)
		}
	}
	for _, e := range sortedKeys(rnd) {
		if n := rnd[e]; n >= 2*renameMin && 2*len(deleted) >= n {
			out = append(out, Evidence{Path: "*" + e, Weight: 3, Strong: true, Files: sortedCopy(rndFiles[e]),
				Reason: fmt.Sprintf("%d new random files *%s while %d files were deleted", n, e, len(deleted))})
		}
	}
	// Ransom notes: same name or same body in several directories.
	// A group speaks of ransom when most of its directories hold a copy
	// that does (files sharing a common name such as "copyright" mostly
	// do not, even when a few mention encryption and an address).
	type group struct {
		dirs   map[string]bool
		kwDirs map[string]bool
		kw     bool
		path   string
		files  map[string]bool
	}
	groups := map[string]*group{}
	add := func(key, dir, p string, kw bool) {
		g := groups[key]
		if g == nil {
			g = &group{dirs: map[string]bool{}, kwDirs: map[string]bool{}, path: p, files: map[string]bool{}}
			groups[key] = g
		}
		g.dirs[dir] = true
		g.files[p] = true
		if kw {
			g.kwDirs[dir] = true
		}
		g.kw = len(g.kwDirs) >= noteDirs && 2*len(g.kwDirs) >= len(g.dirs)
	}
	for i, p := range pairs {
		r := &results[i]
		if !p.note || r.err != nil || r.cur == nil || r.cur.Format != FormatText && r.cur.Format != FormatUnknown {
			continue
		}
		dir := path.Dir(p.cur.Path)
		add("name:"+strings.ToLower(path.Base(p.cur.Path)), dir, p.cur.Path, r.noteKW)
		add(fmt.Sprintf("body:%x", r.noteHash), dir, p.cur.Path, r.noteKW)
	}
	bestKW, bestPlain := (*group)(nil), (*group)(nil)
	for _, k := range sortedKeys(groups) {
		g := groups[k]
		if len(g.dirs) < noteDirs {
			continue
		}
		if g.kw && (bestKW == nil || len(g.dirs) > len(bestKW.dirs)) {
			bestKW = g
		}
		if !g.kw && (bestPlain == nil || len(g.dirs) > len(bestPlain.dirs)) {
			bestPlain = g
		}
	}
	if bestKW != nil {
		// Every note group that speaks of ransom names its files; the
		// heaviest names the finding.
		files := map[string]bool{}
		for _, g := range groups {
			if g.kw && len(g.dirs) >= noteDirs {
				for f := range g.files {
					files[f] = true
				}
			}
		}
		out = append(out, Evidence{Path: bestKW.path, Weight: 5, Strong: true, Files: sortedKeys(files),
			Reason: fmt.Sprintf("ransom note: the same note added in %d directories", len(bestKW.dirs))})
	} else if bestPlain != nil && strong > 0 {
		out = append(out, Evidence{Path: bestPlain.path, Weight: 1, Files: sortedKeys(bestPlain.files),
			Reason: fmt.Sprintf("possible ransom note: the same small file added in %d directories", len(bestPlain.dirs))})
	}
	// Deletion spike.
	d := len(deleted)
	switch {
	case opts.PreviousFiles > 0 && d >= spikeMin && 2*d >= opts.PreviousFiles:
		out = append(out, Evidence{Path: "(deletions)", Weight: 3,
			Reason: fmt.Sprintf("%d of %d files deleted", d, opts.PreviousFiles)})
	case opts.PreviousFiles <= 0 && d >= 500:
		out = append(out, Evidence{Path: "(deletions)", Weight: 1,
			Reason: fmt.Sprintf("%d files deleted", d)})
	}
	// Change spike: informative only.
	if c := st.Modified; opts.PreviousFiles > 0 && c >= 100 && 2*c >= opts.PreviousFiles {
		out = append(out, Evidence{Path: "(changes)", Weight: 1,
			Reason: fmt.Sprintf("%d of %d files changed", c, opts.PreviousFiles)})
	}
	return out
}

// sortedCopy returns a sorted copy of s.
func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
