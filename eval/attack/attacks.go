package attack

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/bunkerhq/bunker/eval/corpus"
	"github.com/bunkerhq/bunker/eval/labels"
)

// victimCats are what ransomware goes for: user data, not system binaries
// and not files that are already ciphertext.
func victimCats() []corpus.Category {
	return []corpus.Category{
		corpus.Text, corpus.Source, corpus.Log, corpus.Image, corpus.PDF, corpus.Archive,
		corpus.SQLite, corpus.Office, corpus.Media,
	}
}

// Techniques (as written in labels).
const (
	TechFullAES       = "full-aes-ctr"
	TechFullChaCha    = "full-chacha20"
	TechStripes10M    = "intermittent-1m-per-10m"
	TechFirst64K      = "intermittent-first-64k"
	TechHeader4K      = "header-4k"
	TechKeepFirst16   = "keep-first-16"
	TechBase64        = "base64-ciphertext"
	TechHex           = "hex-ciphertext"
	TechEncryptRename = "encrypt-rename"
	TechRenameOnly    = "rename-only"
	TechRansomNote    = "ransom-note"
)

// Family returns the recall family of an attack technique.
func Family(tech string) string {
	switch tech {
	case TechStripes10M, TechFirst64K, TechHeader4K:
		return labels.FamilyIntermittent
	case TechRenameOnly:
		return labels.FamilyRename
	case TechRansomNote:
		return labels.FamilyNote
	}
	return labels.FamilyFull
}

// encSpec describes how one file is attacked.
type encSpec struct {
	tech     string
	cipher   Cipher
	ranges   func(size int64) []Range // nil: whole file
	encoding Encoding
	ext      string // appended to the name when set
}

// encrypt attacks one clean file in place (or under a new name).
func (e *env) encrypt(rel string, s encSpec) error {
	plain, err := e.read(rel)
	if err != nil {
		return err
	}
	k, err := newKey(s.cipher)
	if err != nil {
		return err
	}
	if s.ranges != nil {
		k.Ranges = s.ranges(int64(len(plain)))
	}
	if s.encoding != "" {
		k.Encoding = s.encoding
	}
	ct, err := k.Encrypt(plain)
	if err != nil {
		return fmt.Errorf("encrypt %s: %w", rel, err)
	}
	dst := rel + s.ext
	if err := e.write(dst, ct, e.mode(rel)); err != nil {
		return err
	}
	f := labels.File{Attacked: true, Technique: s.tech, Family: Family(s.tech), Change: labels.Modified,
		Cipher: string(k.Cipher), Encoding: string(k.Encoding)}
	if k.Ranges == nil {
		f.Encrypted = [][2]int64{{0, int64(len(plain))}}
	}
	for _, r := range k.Ranges {
		if end := min(r.Off+r.Len, int64(len(plain))); end > r.Off {
			f.Encrypted = append(f.Encrypted, [2]int64{r.Off, end - r.Off})
		}
	}
	if dst != rel {
		if err := e.remove(rel); err != nil {
			return err
		}
		f.Change, f.From = labels.Renamed, rel
	}
	e.mark(dst, f)
	e.keys[dst] = k
	return nil
}

func (e *env) victims(n int, keep func(corpus.Entry) bool) []corpus.Entry {
	return e.spread(e.entries(keep, victimCats()...), n)
}

// largest returns the n largest victims (ties by path), so intermittent
// encryption hits the 20 MiB files first.
func (e *env) largest(n int) []corpus.Entry {
	l := e.entries(nil, victimCats()...)
	sort.SliceStable(l, func(i, j int) bool { return l[i].Size > l[j].Size })
	if n < len(l) {
		l = l[:n]
	}
	return l
}

// atLeast prefers victims of at least min bytes, topping up with the
// largest smaller ones when there are not enough.
func (e *env) atLeast(n int, minSize int64) []corpus.Entry {
	out := e.victims(n, func(en corpus.Entry) bool { return en.Size >= minSize })
	if len(out) < n {
		have := map[string]bool{}
		for _, en := range out {
			have[en.Path] = true
		}
		for _, en := range e.largest(4 * n) {
			if len(out) >= n {
				break
			}
			if !have[en.Path] {
				out = append(out, en)
				have[en.Path] = true
			}
		}
	}
	return out
}

func (e *env) encryptAll(list []corpus.Entry, s encSpec) error {
	for _, en := range list {
		if err := e.encrypt(en.Path, s); err != nil {
			return err
		}
	}
	return nil
}

// randomExt returns a fresh extension like ".qzkfwa", as families that
// append a per-victim id do.
func (e *env) randomExt() string {
	var b strings.Builder
	b.WriteByte('.')
	for i := 0; i < 6; i++ {
		b.WriteByte(byte('a' + e.rng.IntN(26)))
	}
	return b.String()
}

func ransomBody(html bool) (string, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("note id: %w", err)
	}
	text := "Your files have been encrypted.\n\nAll your documents, photos and databases were encrypted with a strong algorithm.\n" +
		"To restore them you need the private key held on our server.\nDo not rename or modify the files, you may lose them forever.\n\n" +
		"Your personal ID: " + hex.EncodeToString(id) + "\nContact us via the TOR site listed below and follow the instructions.\n"
	if html {
		return "<html><head><title>RESTORE YOUR FILES</title></head><body><h1>Your files have been encrypted</h1><pre>" + text + "</pre></body></html>\n", nil
	}
	return text, nil
}

// notes drops README_RESTORE.txt and .html (same bodies) in every
// directory of dirs.
func (e *env) notes(dirs map[string]bool) error {
	txt, err := ransomBody(false)
	if err != nil {
		return err
	}
	htm, err := ransomBody(true)
	if err != nil {
		return err
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	sort.Strings(list)
	for _, d := range list {
		for name, body := range map[string]string{"README_RESTORE.txt": txt, "README_RESTORE.html": htm} {
			rel := d + "/" + name
			if d == "." {
				rel = name
			}
			if err := e.write(rel, []byte(body), 0o644); err != nil {
				return err
			}
			e.mark(rel, labels.File{Attacked: true, Technique: TechRansomNote, Family: labels.FamilyNote, Change: labels.Added, Category: "note"})
		}
	}
	return nil
}

func attacks(cfg Config) []Scenario {
	n, few := cfg.Files, cfg.Few
	full := func(c Cipher, tech string) encSpec { return encSpec{tech: tech, cipher: c} }
	a := labels.Attack
	return []Scenario{
		{Name: "attack-full-aes", Kind: a, Description: fmt.Sprintf("%d files fully encrypted in place with AES-256-CTR, random key per file", n),
			run: func(e *env) error { return e.encryptAll(e.victims(n, nil), full(AES256CTR, TechFullAES)) }},
		{Name: "attack-full-chacha20", Kind: a, Description: fmt.Sprintf("%d files fully encrypted in place with ChaCha20", n),
			run: func(e *env) error { return e.encryptAll(e.victims(n, nil), full(ChaCha20, TechFullChaCha)) }},
		{Name: "attack-full-few", Kind: a, Probe: true, Description: fmt.Sprintf("threshold probe: only %d files fully encrypted (AES-256-CTR)", few),
			run: func(e *env) error { return e.encryptAll(e.victims(few, nil), full(AES256CTR, TechFullAES)) }},
		{Name: "attack-full-at-threshold", Kind: a, Description: "exactly 20 files fully encrypted (AES-256-CTR): the smallest point that must be infected",
			run: func(e *env) error { return e.encryptAll(e.victims(20, nil), full(AES256CTR, TechFullAES)) }},
		{Name: "attack-full-19", Kind: a, Probe: true, Description: "threshold probe: 19 files fully encrypted (ChaCha20), one below the threshold",
			run: func(e *env) error { return e.encryptAll(e.victims(19, nil), full(ChaCha20, TechFullChaCha)) }},
		{Name: "attack-intermittent-10m", Kind: a, Description: fmt.Sprintf("the %d largest files: 1 MiB of every 10 MiB encrypted (ChaCha20)", n),
			run: func(e *env) error {
				return e.encryptAll(e.largest(n), encSpec{tech: TechStripes10M, cipher: ChaCha20,
					ranges: func(sz int64) []Range { return stripes(sz, 1<<20, 10<<20) }})
			}},
		{Name: "attack-intermittent-64k", Kind: a, Description: fmt.Sprintf("%d files (preferably > 128 KiB): only the first 64 KiB encrypted (AES-256-CTR)", n),
			run: func(e *env) error {
				return e.encryptAll(e.atLeast(n, 128<<10), encSpec{tech: TechFirst64K, cipher: AES256CTR,
					ranges: func(int64) []Range { return []Range{{0, 64 << 10}} }})
			}},
		{Name: "attack-intermittent-few", Kind: a, Probe: true, Description: fmt.Sprintf("threshold probe: first 64 KiB of only %d files", few),
			run: func(e *env) error {
				return e.encryptAll(e.atLeast(few, 128<<10), encSpec{tech: TechFirst64K, cipher: AES256CTR,
					ranges: func(int64) []Range { return []Range{{0, 64 << 10}} }})
			}},
		{Name: "attack-header-4k", Kind: a, Description: fmt.Sprintf("%d files (preferably > 16 KiB): only the first 4 KiB encrypted (ChaCha20)", n),
			run: func(e *env) error {
				return e.encryptAll(e.atLeast(n, 16<<10), encSpec{tech: TechHeader4K, cipher: ChaCha20,
					ranges: func(int64) []Range { return []Range{{0, 4 << 10}} }})
			}},
		{Name: "attack-keep-first-16", Kind: a, Description: fmt.Sprintf("%d files encrypted except their first 16 bytes, so magic numbers survive (AES-256-CTR)", n),
			run: func(e *env) error {
				// Files of 16 bytes or less would be left as they are.
				return e.encryptAll(e.victims(n, func(en corpus.Entry) bool { return en.Size > 16 }), encSpec{tech: TechKeepFirst16, cipher: AES256CTR,
					ranges: func(sz int64) []Range { return []Range{{16, max(sz-16, 0)}} }})
			}},
		{Name: "attack-base64", Kind: a, Description: fmt.Sprintf("%d files replaced by the base64 of their ChaCha20 ciphertext", n),
			run: func(e *env) error {
				return e.encryptAll(e.victims(n, nil), encSpec{tech: TechBase64, cipher: ChaCha20, encoding: Base64})
			}},
		{Name: "attack-hex", Kind: a, Description: fmt.Sprintf("%d files replaced by the hex of their AES-256-CTR ciphertext", n),
			run: func(e *env) error {
				return e.encryptAll(e.victims(n, nil), encSpec{tech: TechHex, cipher: AES256CTR, encoding: Hex})
			}},
		{Name: "attack-encrypt-rename", Kind: a, Description: fmt.Sprintf("%d files encrypted (AES-256-CTR) and renamed x.ext -> x.ext.<one new random extension>", n),
			run: func(e *env) error {
				return e.encryptAll(e.victims(n, nil), encSpec{tech: TechEncryptRename, cipher: AES256CTR, ext: e.randomExt()})
			}},
		{Name: "attack-rename-only", Kind: a, Probe: true, Description: fmt.Sprintf("probe: %d files renamed to one new extension without encryption (content intact, so not held to the infected target)", n),
			run: func(e *env) error {
				ext := e.randomExt()
				for _, en := range e.victims(n, nil) {
					data, err := e.read(en.Path)
					if err != nil {
						return err
					}
					if err := e.write(en.Path+ext, data, e.mode(en.Path)); err != nil {
						return err
					}
					if err := e.remove(en.Path); err != nil {
						return err
					}
					e.mark(en.Path+ext, labels.File{Attacked: true, Technique: TechRenameOnly, Family: labels.FamilyRename, Change: labels.Renamed, From: en.Path})
				}
				return nil
			}},
		{Name: "attack-ransom-notes", Kind: a, Description: fmt.Sprintf("%d files encrypted with ChaCha20 plus README_RESTORE.txt/.html with one body in every affected directory", n),
			run: func(e *env) error {
				list := e.victims(n, nil)
				dirs := map[string]bool{}
				for _, en := range list {
					dirs[dirOf(en.Path)] = true
				}
				if err := e.encryptAll(list, full(ChaCha20, TechFullChaCha)); err != nil {
					return err
				}
				return e.notes(dirs)
			}},
		{Name: "attack-mass", Kind: a, Description: "70% of every file (binaries included) encrypted with AES-256-CTR and renamed to one new extension, notes in every directory touched",
			run: func(e *env) error {
				all := e.entries(nil)
				list := e.shuffled(all, len(all)*7/10)
				ext := e.randomExt()
				dirs := map[string]bool{}
				for _, en := range list {
					dirs[dirOf(en.Path)] = true
				}
				if err := e.encryptAll(list, encSpec{tech: TechEncryptRename, cipher: AES256CTR, ext: ext}); err != nil {
					return err
				}
				return e.notes(dirs)
			}},
	}
}
