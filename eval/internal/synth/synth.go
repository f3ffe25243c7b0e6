// Package synth generates real, structurally valid files for the evaluation
// corpus when the machine has none of a kind: office documents (OOXML and
// ODF ZIP containers), PDFs with a correct xref table, SQLite databases,
// JPEG/PNG images, WAV audio, MP4-like video containers, encrypted archives
// (WinZip AES and OpenPGP) and log files.
//
// Every generator is deterministic given its *rand.Rand, except the
// encrypted archives whose salts come from crypto/rand.
package synth

import (
	"math/rand/v2"
	"strings"
)

// Prose produces text from a vocabulary harvested from real documents.
type Prose struct {
	words []string
	rng   *rand.Rand
}

// defaultWords is used only when no real text was found on the machine.
const defaultWords = `the backup of a system keeps every file that the user wants to restore after
a failure of the disk or a mistake and the server stores chunks in a vault which
is encrypted with a key derived from a password so the operator can verify
snapshots and prune old points while the client uploads only new data`

// NewProse returns a Prose over words (falls back to a small built-in
// vocabulary when words is empty).
func NewProse(words []string, rng *rand.Rand) *Prose {
	if len(words) == 0 {
		words = strings.Fields(defaultWords)
	}
	return &Prose{words: words, rng: rng}
}

// Words harvests up to max lowercase-ish words from text.
func Words(text string, max int) []string {
	var out []string
	for _, f := range strings.Fields(text) {
		f = strings.Trim(f, ".,;:()[]{}<>\"'`*#-_=/\\|!?")
		if len(f) < 2 || len(f) > 16 {
			continue
		}
		ok := true
		for _, r := range f {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, f)
			if len(out) >= max {
				break
			}
		}
	}
	return out
}

// Sentence returns a sentence of n to 2n words.
func (p *Prose) Sentence(n int) string {
	k := n + p.rng.IntN(n+1)
	var b strings.Builder
	for i := 0; i < k; i++ {
		w := p.words[p.rng.IntN(len(p.words))]
		if i == 0 && len(w) > 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	b.WriteByte('.')
	return b.String()
}

// Paragraph returns a paragraph of a few sentences.
func (p *Prose) Paragraph() string {
	n := 2 + p.rng.IntN(5)
	s := make([]string, n)
	for i := range s {
		s[i] = p.Sentence(6)
	}
	return strings.Join(s, " ")
}

// Word returns one random word.
func (p *Prose) Word() string { return p.words[p.rng.IntN(len(p.words))] }

// Rng exposes the generator's random source.
func (p *Prose) Rng() *rand.Rand { return p.rng }
