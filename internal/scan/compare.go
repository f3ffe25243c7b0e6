package scan

import "fmt"

// minProbes is the fewest probes two cells must share for their
// comparison to say whether a cell was rewritten.
const minProbes = 8

// Evidence weights. A strong file finding weighs 1; the point-level
// findings are documented in [Judge].
const (
	weightStrong    = 1.0
	weightBroken    = 0.3
	weightNewBroken = 0.1
	weightNewRandom = 0.05
)

// Compare judges one file from its previous and current profiles. old is
// nil for a new file. It returns evidence with Weight 0 when the change is
// not suspicious. Cells are compared at equal offsets.
//
// Strong evidence (Weight 1, Strong true) is:
//   - a structure that was valid before and is broken now, while the new
//     version has ciphertext-like cells, unless every compared cell kept
//     at least a quarter of its probed bytes and the first quarter of the
//     file's first cell kept all of them (a few bytes edited or
//     corrupted in place; weak);
//   - cells that turned from text or plain data into uniform random bytes
//     or base64/hex of random bytes: two or more, or one when it is the
//     first cell, the file is now malformed or has at most two cells.
//     Nearly constant old cells (zeroed or preallocated space) do not
//     count. For valid files of a known format whose layout may move
//     (ZIP, PDF, ELF, tar, SQLite, media...) the cells count only when the
//     size was kept, or grew by at most 4 KiB + 1% while some sampled
//     cells are unchanged (in-place encryption with a footer); text that is still valid text needs half
//     its compared cells turned, since an embedded base64 attachment is
//     not an attack;
//   - a valid file of a known binary format (image, archive, PDF...) that
//     is now text whose sampled cells are at least half base64/hex of
//     random bytes: the file replaced by its encoded ciphertext;
//   - at least half the compared cells turning from dense but non-uniform
//     data (media such as JPEG or MP3 frames) into uniform random bytes
//     (or base64/hex of them), under the same layout condition.
//
// Weak evidence is a broken structure without random data (0.3), and for
// new files a malformed known format (0.1) or an unknown format that is
// entirely random (0.05). A file that became a valid archive or media file
// is never evidence, nor is a file that was random before and still is.
func Compare(old, cur *Profile) Evidence {
	ev := Evidence{Path: cur.Name}
	if old == nil {
		switch {
		case cur.Format.Known() && !cur.Valid:
			ev.Weight = weightNewBroken
			ev.Reason = fmt.Sprintf("new %s file is malformed: %s", cur.Format, cur.Problem)
		case !cur.Format.Known() && cur.JudgedCells() > 0 && cur.RandomCells() == cur.JudgedCells():
			ev.Weight = weightNewRandom
			ev.Reason = "new file of unknown format holds only random data"
		}
		return ev
	}
	if cur.Valid && cur.Format.Compressed() && cur.Format != old.Format {
		return ev
	}
	newly, encoded, compared, dense, kept, rewritten := 0, 0, 0, 0, 0, 0
	probed, headEdited := 0, false
	first := int64(-1)
	j := 0
	for i := range cur.Regions {
		nc := &cur.Regions[i]
		for j < len(old.Regions) && old.Regions[j].Offset < nc.Offset {
			j++
		}
		if j >= len(old.Regions) || old.Regions[j].Offset != nc.Offset {
			continue
		}
		oc := &old.Regions[j]
		probed++
		common, differ, head := probeDiff(oc, nc)
		if common < minProbes || 4*differ >= 3*common {
			rewritten++
		}
		// Only the file's own head counts: encryption that keeps the magic
		// bytes starts there, while an edit in the middle of a file often
		// lands near the head of some cell (about a third of the edits of
		// the benchmark's change step do).
		headEdited = headEdited || head && nc.Offset == 0
		if oc.Class == ClassTiny || nc.Class == ClassTiny || oc.Entropy < 1 {
			// Nearly constant old cells (zeroed, preallocated or sparse
			// space) legitimately fill with anything.
			continue
		}
		compared++
		if oc.Length == nc.Length && oc.Entropy == nc.Entropy && oc.ChiSquare == nc.ChiSquare {
			kept++
		}
		if nc.Class.Random() && oc.Class == ClassDense {
			dense++
		}
		if nc.Class.Random() && (oc.Class == ClassText || oc.Class == ClassPlain) && oc.Entropy < 7.2 {
			newly++
			if nc.Class == ClassEncoded {
				encoded++
			}
			if first < 0 {
				first = nc.Offset
			}
		}
	}
	// The denominator of the ratios: cells of the new version that exist
	// in the old one (which may have been sampled only where needed).
	comparable := 0
	for i := range cur.Regions {
		if rg := &cur.Regions[i]; rg.Class != ClassTiny && rg.Offset+int64(rg.Length) <= old.Size {
			comparable++
		}
	}
	compared = max(compared, comparable)
	random := cur.RandomCells()
	broken := old.Valid && !cur.Valid && old.Format.Known()
	// A valid binary format whose content is now text made mostly of
	// base64/hex of random bytes: the file was replaced by its encoded
	// ciphertext (text is valid text, so it is not "broken").
	judged := cur.JudgedCells()
	encodedNow := old.Valid && old.Format.Known() && old.Format != FormatText &&
		cur.Valid && cur.Format == FormatText && random > 0 && 2*random >= judged
	grown := cur.Size - old.Size
	// The layout was kept when the size was, or when it grew by a footer
	// at most (4 KiB + 1%) while some cells are unchanged at their
	// offsets: a rewritten container (a re-saved document) has none.
	sameLayout := grown == 0 || grown > 0 && grown <= 4096+old.Size/100 && kept > 0
	loose := !cur.Valid || cur.Format == FormatText || cur.Format == FormatUnknown
	enough := newly >= 2 || (newly == 1 && (first == 0 || !cur.Valid || compared <= 2))
	if cur.Valid && cur.Format == FormatText && 2*newly < compared {
		// Text that is still text and only partly turned into base64 or
		// hex is more likely an embedded attachment than a re-encoding.
		enough = false
	}
	// Damage confined to a few bytes of each compared cell, away from the
	// head, is corruption or an edit in place (a compressed stream stays
	// random either way): encryption rewrites whole cells, and from the
	// head on when it keeps the magic bytes.
	local := probed > 0 && rewritten == 0 && !headEdited
	switch {
	case broken && random > 0 && !local:
		ev.Weight, ev.Strong = weightStrong, true
		ev.Reason = fmt.Sprintf("%s was valid, now broken (%s); %d of %d sampled cells random", old.Format, problemOrFormat(cur), random, len(cur.Regions))
	case encodedNow:
		ev.Weight, ev.Strong = weightStrong, true
		ev.Reason = fmt.Sprintf("%s replaced by text: %d of %d sampled cells base64/hex of random data", old.Format, random, judged)
	case enough && (loose || sameLayout):
		ev.Weight, ev.Strong = weightStrong, true
		what := "random data"
		if encoded == newly {
			what = "base64/hex of random data"
		}
		ev.Reason = fmt.Sprintf("%d of %d compared cells turned from plain into %s, first at offset %d", newly, compared, what, first)
	case dense >= 2 && 2*(dense+newly) >= compared && (loose || sameLayout):
		ev.Weight, ev.Strong = weightStrong, true
		ev.Reason = fmt.Sprintf("%d of %d compared cells turned from dense but structured (media, compressed) into uniform random data", dense+newly, compared)
	case broken && local:
		ev.Weight = weightBroken
		ev.Reason = fmt.Sprintf("%s was valid, now broken: %s (changed in a few places only, not rewritten)", old.Format, problemOrFormat(cur))
	case broken:
		ev.Weight = weightBroken
		ev.Reason = fmt.Sprintf("%s was valid, now broken: %s", old.Format, problemOrFormat(cur))
	}
	return ev
}

func problemOrFormat(p *Profile) string {
	if p.Problem != "" {
		return p.Problem
	}
	return "now " + string(p.Format) + " format"
}
