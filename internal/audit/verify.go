package audit

import (
	"cmp"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sort"
)

// Kinds of problem Verify reports.
const (
	// KindEdited: an entry's content no longer matches its hash, its hash
	// was changed, or it was changed and rehashed so that the next entry's
	// prev no longer matches it.
	KindEdited = "edited"
	// KindDeleted: entries are missing between two others, or before the
	// first one. Problem.Seq is the first missing entry.
	KindDeleted = "deleted"
	// KindInserted: an entry that does not belong: a second entry with a
	// seq already taken, an entry whose place was made by renumbering the
	// ones after it, one that the next entry's prev links past, or seq 0.
	KindInserted = "inserted"
	// KindReordered: an entry that is out of order in the log.
	KindReordered = "reordered"
	// KindBadCheckpoint: a checkpoint whose signature does not verify or
	// is by another key, or a genuine checkpoint whose hash is not the hash
	// of the entry at its seq (the log was rewritten up to that entry).
	KindBadCheckpoint = "bad-checkpoint"
	// KindTruncated: a genuine checkpoint names a seq beyond the last
	// entry: entries were removed from the end. Problem.Seq is the first
	// missing entry.
	KindTruncated = "truncated"
)

// Problem is one thing wrong with a log, about the entry (or checkpoint)
// with sequence number Seq.
type Problem struct {
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Report is the result of Verify.
type Report struct {
	Entries        int       `json:"entries"`         // entries given
	Checkpoints    int       `json:"checkpoints"`     // checkpoints given
	LastSeq        uint64    `json:"last_seq"`        // highest entry seq in the log
	LastCheckpoint uint64    `json:"last_checkpoint"` // highest seq vouched for by a genuine, matching checkpoint
	Problems       []Problem `json:"problems"`        // in seq order
}

// OK reports whether the log verified without problems.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// item is one entry under verification.
type item struct {
	pos    int    // position in the input
	e      Entry  //
	seq    uint64 // the seq the entry had when it was hashed
	shift  int    // seq - e.Seq: -1 or +1 if the entry was renumbered
	ok     bool   // e.Hash is the hash of the content at seq
	broken string // why the entry does not match its hash, if it does not
}

// Verify checks a whole log: that the entries form an unbroken chain from
// seq 1 in order, and that every checkpoint is signed by pub and matches
// the entry it names. It reports each problem with the seq it concerns and
// its kind, naming the cause rather than every symptom: a deleted entry is
// one problem, not also a broken link; an entry moved elsewhere is one
// reordered entry.
//
// Entries after the last checkpoint are protected only by the chain: an
// attacker can rewrite or drop them, or append forged ones, without Verify
// noticing. Report.LastCheckpoint says how far the signatures reach. pub
// must come from somewhere the attacker cannot write, not from the export
// being verified.
func Verify(entries []Entry, checkpoints []Checkpoint, pub ed25519.PublicKey) Report {
	v := verifier{report: Report{Entries: len(entries), Checkpoints: len(checkpoints)}}
	v.checkSignatures(checkpoints, pub)
	v.hashEntries(entries)
	v.resolveDuplicates()
	v.resolveOrder()
	v.findGaps()
	v.checkLinks()
	v.checkCheckpoints()
	slices.SortStableFunc(v.report.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
	return v.report
}

type verifier struct {
	report  Report
	items   []*item             // after resolveOrder: sorted by seq, one per seq
	bySeq   map[uint64]*item    // after resolveDuplicates
	genuine []Checkpoint        // checkpoints with a good signature, by seq
	sealed  map[uint64][]string // hashes genuine checkpoints give for each seq
}

func (v *verifier) problem(seq uint64, kind, format string, args ...any) {
	v.report.Problems = append(v.report.Problems, Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (v *verifier) checkSignatures(checkpoints []Checkpoint, pub ed25519.PublicKey) {
	v.sealed = map[uint64][]string{}
	for _, c := range checkpoints {
		if err := c.Verify(pub); err != nil {
			v.problem(c.Seq, KindBadCheckpoint, "%v", err)
			continue
		}
		v.genuine = append(v.genuine, c)
		v.sealed[c.Seq] = append(v.sealed[c.Seq], c.Hash)
	}
	slices.SortStableFunc(v.genuine, func(a, b Checkpoint) int { return cmp.Compare(a.Seq, b.Seq) })
}

// hashEntries checks each entry against its hash, recognising entries that
// hash correctly at a neighbouring seq (renumbered to make room for, or to
// close the gap of, another entry).
func (v *verifier) hashEntries(entries []Entry) {
	for pos, e := range entries {
		it := &item{pos: pos, e: e, seq: e.Seq}
		v.items = append(v.items, it)
		detail, err := e.check()
		if err != nil {
			it.broken = fmt.Sprintf("entry %d is invalid: %v", e.Seq, err)
			continue
		}
		if _, err := decodeHash(e.Hash); err != nil {
			it.broken = fmt.Sprintf("entry %d's hash is %v", e.Seq, err)
			continue
		}
		h, err := e.hashWith(e.Seq, detail)
		if err != nil {
			it.broken = fmt.Sprintf("entry %d cannot be hashed: %v", e.Seq, err)
			continue
		}
		if h == e.Hash {
			it.ok = true
			continue
		}
		for _, shift := range []int{-1, +1} {
			if (shift < 0 && e.Seq <= 1) || (shift > 0 && e.Seq == ^uint64(0)) {
				continue
			}
			seq := uint64(int64(e.Seq) + int64(shift))
			if h, err := e.hashWith(seq, detail); err == nil && h == e.Hash {
				it.seq, it.shift, it.ok = seq, shift, true
				break
			}
		}
		if !it.ok {
			it.broken = fmt.Sprintf("entry %d's content does not match its hash", e.Seq)
		}
	}
}

// resolveDuplicates keeps, for each seq, the entry that fits the chain best
// and reports every other one as inserted, then reports the kept entries
// that do not match their hash as edited.
func (v *verifier) resolveDuplicates() {
	groups := map[uint64][]*item{}
	for _, it := range v.items {
		groups[it.seq] = append(groups[it.seq], it)
	}
	hashesAt := func(seq uint64) []string {
		var hs []string
		for _, it := range groups[seq] {
			hs = append(hs, it.e.Hash)
		}
		return hs
	}
	score := func(it *item) int {
		s := 0
		if it.ok {
			s += 2
		}
		if (it.seq == 1 && it.e.Prev == GenesisPrev) || slices.Contains(hashesAt(it.seq-1), it.e.Prev) {
			s++
		}
		for _, next := range groups[it.seq+1] {
			if next.e.Prev == it.e.Hash {
				s++
				break
			}
		}
		if slices.Contains(v.sealed[it.seq], it.e.Hash) {
			s += 4
		}
		return s
	}
	v.bySeq = map[uint64]*item{}
	var kept []*item
	for _, it := range v.items {
		if it.seq == 0 {
			v.problem(0, KindInserted, "an entry has seq 0, which no entry has")
			continue
		}
		group := groups[it.seq]
		best := group[0]
		for _, other := range group[1:] {
			a, b := score(other), score(best)
			// A renumbered entry was moved to make room for the other
			// one, so it is the original.
			if a > b || (a == b && other.shift != 0 && best.shift == 0) {
				best = other
			}
		}
		if it != best {
			how := ""
			if best.shift < 0 {
				how = ", and the entries after it were renumbered to make room"
			}
			v.problem(it.seq, KindInserted, "entry %d appears more than once; the copy at position %d does not fit the chain%s", it.seq, it.pos+1, how)
			continue
		}
		v.bySeq[it.seq] = it
		kept = append(kept, it)
		if it.broken != "" {
			v.problem(it.seq, KindEdited, "%s", it.broken)
		}
	}
	v.items = kept
}

// resolveOrder reports the entries that must move for the log to be in
// order (those outside a longest increasing run of seqs), then sorts.
func (v *verifier) resolveOrder() {
	inOrder := longestIncreasing(v.items)
	for i, it := range v.items {
		if !inOrder[i] {
			v.problem(it.seq, KindReordered, "entry %d is out of order: it is at position %d", it.seq, it.pos+1)
		}
	}
	slices.SortFunc(v.items, func(a, b *item) int { return cmp.Compare(a.seq, b.seq) })
	if n := len(v.items); n > 0 {
		v.report.LastSeq = v.items[n-1].seq
	}
}

// longestIncreasing marks the items on one longest strictly increasing
// subsequence of seqs.
func longestIncreasing(items []*item) []bool {
	tails := []int{}                // tails[k]: index of the smallest last item of a run of length k+1
	prev := make([]int, len(items)) // predecessor of each item on its run
	for i, it := range items {
		k := sort.Search(len(tails), func(k int) bool { return items[tails[k]].seq >= it.seq })
		prev[i] = -1
		if k > 0 {
			prev[i] = tails[k-1]
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	on := make([]bool, len(items))
	if len(tails) > 0 {
		for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
			on[i] = true
		}
	}
	return on
}

// findGaps reports missing seqs between entries and before the first.
func (v *verifier) findGaps() {
	want := uint64(1)
	for _, it := range v.items {
		if it.seq > want {
			how := ""
			if it.shift > 0 {
				how = ", and the entries after it were renumbered to close the gap"
			}
			if it.seq-want == 1 {
				v.problem(want, KindDeleted, "entry %d is missing%s", want, how)
			} else {
				v.problem(want, KindDeleted, "entries %d to %d are missing%s", want, it.seq-1, how)
			}
		}
		want = it.seq + 1
	}
}

// checkLinks checks each entry's prev against the hash of the entry before
// it, where both are authentic, and names the entry that explains each
// break.
func (v *verifier) checkLinks() {
	hashBefore := func(i int) (string, bool) { // the hash entry i must link to
		it := v.items[i]
		if it.seq == 1 {
			return GenesisPrev, true
		}
		if i > 0 && v.items[i-1].seq == it.seq-1 {
			return v.items[i-1].e.Hash, true
		}
		return "", false
	}
	broken := func(i int) bool {
		if i >= len(v.items) || !v.items[i].ok {
			return false
		}
		want, adjacent := hashBefore(i)
		if !adjacent || (i > 0 && v.items[i].seq != 1 && !v.items[i-1].ok) {
			return false
		}
		return v.items[i].e.Prev != want
	}
	for i := 0; i < len(v.items); i++ {
		if !broken(i) {
			continue
		}
		it := v.items[i]
		if it.seq == 1 {
			v.problem(1, KindEdited, "entry 1 does not start the chain: its prev is not %.8s…", GenesisPrev)
			if broken(i + 1) {
				i++ // entry 1 was rehashed after its prev was changed
			}
			continue
		}
		p := v.items[i-1]
		// Linking past p to the entry before it: p was put in between.
		if before, ok := hashBefore(i - 1); ok && it.e.Prev == before {
			v.problem(p.seq, KindInserted, "entry %d does not belong: entry %d's prev links past it to entry %d", p.seq, it.seq, p.seq-1)
			continue
		}
		// Either p was changed and rehashed, or this entry's prev was
		// changed and this entry rehashed. A break after this entry too, a
		// checkpoint vouching for p's hash, or one refuting this entry's
		// hash points at this entry.
		pSealed := slices.Contains(v.sealed[p.seq], p.e.Hash)
		itRefuted := len(v.sealed[it.seq]) > 0 && !slices.Contains(v.sealed[it.seq], it.e.Hash)
		if next := broken(i + 1); next || pSealed || itRefuted {
			v.problem(it.seq, KindEdited, "entry %d was changed, its prev included, and its hash recomputed: its prev is not the hash of entry %d", it.seq, p.seq)
			if next {
				i++
			}
			continue
		}
		v.problem(p.seq, KindEdited, "entry %d was changed and its hash recomputed: entry %d's prev no longer matches it", p.seq, it.seq)
	}
}

// checkCheckpoints compares each genuine checkpoint with the entry it
// names.
func (v *verifier) checkCheckpoints() {
	var changes []uint64 // seqs of problems that change hashes, sorted
	for _, p := range v.report.Problems {
		switch p.Kind {
		case KindEdited, KindDeleted, KindInserted:
			changes = append(changes, p.Seq)
		}
	}
	slices.Sort(changes)
	explained := func(from, to uint64) bool { // a change in (from, to]
		i := sort.Search(len(changes), func(i int) bool { return changes[i] > from })
		return i < len(changes) && changes[i] <= to
	}
	// anchor is the seq of the last checkpoint whose hash the entry at its
	// seq has: the chain's hashes are authentic up to there. mismatch is
	// the seq of the last checkpoint reported as not matching.
	var anchor, mismatch uint64
	var beyond *Checkpoint
	for i, c := range v.genuine {
		if c.Seq > v.report.LastSeq {
			beyond = &v.genuine[i]
			continue
		}
		it := v.bySeq[c.Seq]
		if it == nil {
			continue // deleted: reported already
		}
		if it.e.Hash == c.Hash {
			anchor = c.Seq
			if it.ok {
				v.report.LastCheckpoint = c.Seq
			}
			continue
		}
		if !it.ok || mismatch > anchor || explained(anchor, c.Seq) {
			continue
		}
		v.problem(c.Seq, KindBadCheckpoint, "checkpoint %d is genuine, but entry %d hashes to %.12s…, not %.12s…: an entry from %d to %d was changed and every hash after it recomputed",
			c.Seq, c.Seq, it.e.Hash, c.Hash, anchor+1, c.Seq)
		mismatch = c.Seq
	}
	if beyond != nil {
		first := v.report.LastSeq + 1
		v.problem(first, KindTruncated, "the log ends at entry %d, but checkpoint %d was signed: entries %d to %d were removed from the end",
			v.report.LastSeq, beyond.Seq, first, beyond.Seq)
	}
}
