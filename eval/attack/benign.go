package attack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/bunkerhq/bunker/eval/corpus"
	"github.com/bunkerhq/bunker/eval/internal/synth"
	"github.com/bunkerhq/bunker/eval/labels"
)

// Benign techniques (as written in labels).
const (
	TechZip         = "zip-archive"
	TechGzip        = "gzip"
	TechXz          = "xz"
	TechZstd        = "zstd"
	TechTarZstd     = "tar-zstd"
	TechNewMedia    = "new-media"
	TechUpgrade     = "binary-upgrade"
	TechGrowDB      = "sqlite-growth"
	TechAppendLog   = "log-append"
	TechLogRotate   = "log-rotate"
	TechEncArchive  = "encrypted-archive"
	TechEditText    = "text-edit"
	TechDelete      = "delete"
	TechCheckout    = "source-checkout"
	TechOfficeSave  = "office-resave"
	TechMoveArchive = "archive-and-remove"
)

func (e *env) benignMark(rel string, tech string, ch labels.Change, from string) {
	e.mark(rel, labels.File{Attacked: false, Technique: tech, Change: ch, From: from})
}

func gz(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return b.Bytes(), nil
}

func zst(data []byte) ([]byte, error) {
	w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	defer w.Close()
	return w.EncodeAll(data, nil), nil
}

// xzCompress runs the xz binary (the repository has no pure-Go xz
// encoder); the scenario is skipped when xz is not installed.
func xzCompress(data []byte) ([]byte, error) {
	bin, err := exec.LookPath("xz")
	if err != nil {
		return nil, fmt.Errorf("xz not installed: %w", ErrSkipped)
	}
	cmd := exec.Command(bin, "-T1", "-6", "-c")
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xz: %v: %s", err, stderr.String())
	}
	return out.Bytes(), nil
}

// compressInPlace replaces each file by name+ext compressed with fn, as
// `gzip FILE` does.
func (e *env) compressInPlace(list []corpus.Entry, ext, tech string, fn func([]byte) ([]byte, error)) error {
	for _, en := range list {
		data, err := e.read(en.Path)
		if err != nil {
			return err
		}
		c, err := fn(data)
		if err != nil {
			return err
		}
		if err := e.write(en.Path+ext, c, 0o644); err != nil {
			return err
		}
		if err := e.remove(en.Path); err != nil {
			return err
		}
		e.benignMark(en.Path+ext, tech, labels.Renamed, en.Path)
	}
	return nil
}

func (e *env) zipOf(list []corpus.Entry) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, en := range list {
		data, err := e.read(en.Path)
		if err != nil {
			return nil, err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: en.Path, Method: zip.Deflate, Modified: e.now})
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", en.Path, err)
		}
		if _, err := w.Write(data); err != nil {
			return nil, fmt.Errorf("zip %s: %w", en.Path, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return b.Bytes(), nil
}

func (e *env) tarOf(list []corpus.Entry) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, en := range list {
		data, err := e.read(en.Path)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: en.Path, Mode: 0o644, Size: int64(len(data)), ModTime: e.now, Typeflag: tar.TypeReg}); err != nil {
			return nil, fmt.Errorf("tar %s: %w", en.Path, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", en.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return b.Bytes(), nil
}

// docs are the files people compress and archive.
func docCats() []corpus.Category {
	return []corpus.Category{corpus.Text, corpus.Source, corpus.Office, corpus.PDF, corpus.Log, corpus.Image}
}

func (e *env) editText(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	for i := 0; i < 1+len(lines)/20; i++ {
		at := e.rng.IntN(len(lines) + 1)
		switch e.rng.IntN(3) {
		case 0:
			lines = append(lines[:at], append([]string{e.prose.Sentence(6)}, lines[at:]...)...)
		case 1:
			if at < len(lines) {
				lines = append(lines[:at], lines[at+1:]...)
			}
		default:
			if at < len(lines) {
				lines[at] = strings.Replace(lines[at], " ", " "+e.prose.Word()+" ", 1)
			}
		}
	}
	out := []byte(strings.Join(lines, "\n"))
	if bytes.Equal(out, data) {
		out = append(out, "\n"+e.prose.Sentence(5)+"\n"...)
	}
	return out
}

func benign(cfg Config) []Scenario {
	n := cfg.Files
	b := labels.Benign
	return []Scenario{
		{Name: "benign-zip", Kind: b, Description: fmt.Sprintf("%d documents copied into a new Downloads/*.zip (originals kept)", 2*n),
			run: func(e *env) error {
				data, err := e.zipOf(e.spread(e.entries(nil, docCats()...), 2*n))
				if err != nil {
					return err
				}
				rel := "Downloads/export/documents-2026-01.zip"
				if err := e.write(rel, data, 0o644); err != nil {
					return err
				}
				e.benignMark(rel, TechZip, labels.Added, "")
				return nil
			}},
		{Name: "benign-zip-and-remove", Kind: b, Description: fmt.Sprintf("%d documents moved into one zip archive (originals deleted)", n),
			run: func(e *env) error {
				list := e.spread(e.entries(nil, docCats()...), n)
				data, err := e.zipOf(list)
				if err != nil {
					return err
				}
				rel := "Documents/old-projects.zip"
				if err := e.write(rel, data, 0o644); err != nil {
					return err
				}
				e.benignMark(rel, TechMoveArchive, labels.Added, "")
				for _, en := range list {
					if err := e.remove(en.Path); err != nil {
						return err
					}
					e.benignMark(en.Path, TechMoveArchive, labels.Deleted, "")
				}
				return nil
			}},
		{Name: "benign-gzip", Kind: b, Description: fmt.Sprintf("%d text/log/source files compressed in place with gzip (x -> x.gz)", n),
			run: func(e *env) error {
				return e.compressInPlace(e.spread(e.entries(nil, corpus.Log, corpus.Text, corpus.Source), n), ".gz", TechGzip, gz)
			}},
		{Name: "benign-xz", Kind: b, Description: fmt.Sprintf("%d text/log/source files compressed in place with xz (x -> x.xz; needs the xz binary)", n),
			run: func(e *env) error {
				small := func(en corpus.Entry) bool { return en.Size <= 4<<20 } // xz -6 is slow on the 20 MiB files
				return e.compressInPlace(e.spread(e.entries(small, corpus.Log, corpus.Text, corpus.Source), n), ".xz", TechXz, xzCompress)
			}},
		{Name: "benign-zstd", Kind: b, Description: fmt.Sprintf("%d documents compressed in place with zstd (x -> x.zst)", n),
			run: func(e *env) error {
				return e.compressInPlace(e.spread(e.entries(nil, docCats()...), n), ".zst", TechZstd, zst)
			}},
		{Name: "benign-tar-zstd", Kind: b, Description: "the largest project directory archived into a new .tar.zst backup (originals kept)",
			run: func(e *env) error {
				count := map[string]int{}
				for _, en := range e.entries(nil, corpus.Source) {
					count[dirOf(en.Path)]++
				}
				best := ""
				for d, c := range count {
					if c > count[best] || (c == count[best] && d < best) {
						best = d
					}
				}
				list := e.entries(func(en corpus.Entry) bool { return strings.HasPrefix(en.Path, best+"/") })
				t, err := e.tarOf(list)
				if err != nil {
					return err
				}
				data, err := zst(t)
				if err != nil {
					return err
				}
				rel := "Backups/" + path.Base(best) + "-2026-01-16.tar.zst"
				if err := e.write(rel, data, 0o644); err != nil {
					return err
				}
				e.benignMark(rel, TechTarZstd, labels.Added, "")
				return nil
			}},
		{Name: "benign-new-media", Kind: b, Description: fmt.Sprintf("a camera import: %d JPEGs, %d PNGs, 3 MP4-like videos and 2 WAV recordings added", n, n/4),
			run: func(e *env) error {
				add := func(rel string, data []byte) error {
					if err := e.write(rel, data, 0o644); err != nil {
						return err
					}
					e.benignMark(rel, TechNewMedia, labels.Added, "")
					return nil
				}
				for i := 0; i < n; i++ {
					data, err := synth.JPEG(e.rng, 320+e.rng.IntN(640), 240+e.rng.IntN(480))
					if err != nil {
						return err
					}
					if err := add(fmt.Sprintf("Pictures/import-2026-01-16/DSC_%04d.JPG", 100+i), data); err != nil {
						return err
					}
				}
				for i := 0; i < n/4; i++ {
					data, err := synth.PNG(e.rng, 200+e.rng.IntN(300), 150+e.rng.IntN(200))
					if err != nil {
						return err
					}
					if err := add(fmt.Sprintf("Pictures/screenshots/Screenshot-%02d.png", i), data); err != nil {
						return err
					}
				}
				for i := 0; i < 3; i++ {
					if err := add(fmt.Sprintf("Videos/import-2026-01-16/VID_2026011%d.mp4", i), synth.MP4(e.rng, 256<<10+e.rng.IntN(1<<20))); err != nil {
						return err
					}
				}
				for i := 0; i < 2; i++ {
					if err := add(fmt.Sprintf("Music/voice-memo-%d.wav", i), synth.WAV(e.rng, 2+e.rng.IntN(4))); err != nil {
						return err
					}
				}
				return nil
			}},
		{Name: "benign-upgrade-binaries", Kind: b, Description: fmt.Sprintf("up to %d ELF binaries replaced by other real ELF binaries (a package upgrade)", n),
			run: func(e *env) error {
				bins := e.shuffled(e.entries(nil, corpus.Binary), n)
				if len(e.m.Pool) == 0 || len(bins) == 0 {
					return fmt.Errorf("no spare binaries in the pool: %w", ErrSkipped)
				}
				for i, en := range bins {
					spare := e.m.Pool[i%len(e.m.Pool)]
					data, err := os.ReadFile(e.pool + "/" + spare.Path)
					if err != nil {
						return fmt.Errorf("pool %s: %w", spare.Path, err)
					}
					if err := e.write(en.Path, data, 0o755); err != nil {
						return err
					}
					e.benignMark(en.Path, TechUpgrade, labels.Modified, "")
				}
				return nil
			}},
		{Name: "benign-grow-data", Kind: b, Description: "every SQLite database grows by inserted rows (at least +10%) and every log gets new lines appended",
			run: func(e *env) error {
				for _, en := range e.entries(nil, corpus.SQLite) {
					if !strings.HasPrefix(en.Source, "generated:") {
						continue // found databases have unknown schemas
					}
					if err := e.detach(en.Path); err != nil {
						return err
					}
					if err := synth.GrowSQLite(e.abs(en.Path), e.prose, en.Size+en.Size/10); err != nil {
						return err
					}
					if err := e.touch(en.Path); err != nil {
						return err
					}
					e.benignMark(en.Path, TechGrowDB, labels.Modified, "")
				}
				for _, en := range e.entries(nil, corpus.Log) {
					if err := e.detach(en.Path); err != nil {
						return err
					}
					f, err := os.OpenFile(e.abs(en.Path), os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						return fmt.Errorf("append %s: %w", en.Path, err)
					}
					_, werr := f.WriteString(synth.LogLines(e.rng, e.prose, nil, e.now, 50+e.rng.IntN(500)))
					if cerr := f.Close(); werr == nil {
						werr = cerr
					}
					if werr != nil {
						return fmt.Errorf("append %s: %w", en.Path, werr)
					}
					if err := e.touch(en.Path); err != nil {
						return err
					}
					e.benignMark(en.Path, TechAppendLog, labels.Modified, "")
				}
				return nil
			}},
		{Name: "benign-log-rotate", Kind: b, Description: "every log rotated: x.log -> x.log.1.gz, and a fresh x.log started",
			run: func(e *env) error {
				for _, en := range e.entries(nil, corpus.Log) {
					data, err := e.read(en.Path)
					if err != nil {
						return err
					}
					c, err := gz(data)
					if err != nil {
						return err
					}
					if err := e.write(en.Path+".1.gz", c, 0o644); err != nil {
						return err
					}
					e.benignMark(en.Path+".1.gz", TechLogRotate, labels.Added, en.Path)
					if err := e.write(en.Path, []byte(synth.LogLines(e.rng, e.prose, nil, e.now, 5+e.rng.IntN(40))), 0o644); err != nil {
						return err
					}
					e.benignMark(en.Path, TechLogRotate, labels.Modified, "")
				}
				return nil
			}},
		{Name: "benign-encrypted-archives", Kind: b, Description: fmt.Sprintf("%d new password-protected archives (WinZip AES zip, OpenPGP) added and every existing one re-encrypted", n),
			run: func(e *env) error {
				srcs := e.spread(e.entries(nil, corpus.Text, corpus.Office, corpus.PDF), n)
				for i, en := range srcs {
					data, err := e.read(en.Path)
					if err != nil {
						return err
					}
					var out []byte
					var rel string
					if i%2 == 0 {
						name := path.Base(en.Path)
						out, err = synth.ZipAES(map[string][]byte{name: data}, []string{name}, "s3cret "+e.prose.Word(), e.now)
						rel = fmt.Sprintf("Vault/new/%s.zip", name)
					} else {
						out, err = synth.PGP(data, "pass "+e.prose.Word())
						rel = fmt.Sprintf("Vault/new/%s.gpg", path.Base(en.Path))
					}
					if err != nil {
						return err
					}
					if err := e.write(rel, out, 0o600); err != nil {
						return err
					}
					e.benignMark(rel, TechEncArchive, labels.Added, "")
				}
				for _, en := range e.entries(func(en corpus.Entry) bool { return strings.HasPrefix(en.Source, "generated:") }, corpus.Encrypted) {
					plain := []byte(strings.Repeat(e.prose.Paragraph()+"\n", 5+e.rng.IntN(40)))
					var out []byte
					var err error
					if strings.HasSuffix(en.Path, ".zip") {
						out, err = synth.ZipAES(map[string][]byte{"secrets.txt": plain}, []string{"secrets.txt"}, "new "+e.prose.Word(), e.now)
					} else {
						out, err = synth.PGP(plain, "new "+e.prose.Word())
					}
					if err != nil {
						return err
					}
					if err := e.write(en.Path, out, 0o600); err != nil {
						return err
					}
					e.benignMark(en.Path, TechEncArchive, labels.Modified, "")
				}
				return nil
			}},
		{Name: "benign-edit-text", Kind: b, Description: fmt.Sprintf("%d text and source files edited (lines inserted, deleted, changed)", n),
			run: func(e *env) error {
				for _, en := range e.spread(e.entries(nil, corpus.Text, corpus.Source), n) {
					data, err := e.read(en.Path)
					if err != nil {
						return err
					}
					if err := e.write(en.Path, e.editText(data), e.mode(en.Path)); err != nil {
						return err
					}
					e.benignMark(en.Path, TechEditText, labels.Modified, "")
				}
				return nil
			}},
		{Name: "benign-delete", Kind: b, Description: "10 files deleted",
			run: func(e *env) error {
				for _, en := range e.spread(e.entries(nil), 10) {
					if err := e.remove(en.Path); err != nil {
						return err
					}
					e.benignMark(en.Path, TechDelete, labels.Deleted, "")
				}
				return nil
			}},
		{Name: "benign-checkout", Kind: b, Description: "a branch checkout: 60% of source files edited, 10 added, 5 deleted",
			run: func(e *env) error {
				src := e.entries(nil, corpus.Source)
				list := e.shuffled(src, max(len(src)*6/10, n))
				del := min(5, len(list)/4)
				for _, en := range list[:del] {
					if err := e.remove(en.Path); err != nil {
						return err
					}
					e.benignMark(en.Path, TechCheckout, labels.Deleted, "")
				}
				for _, en := range list[del:] {
					data, err := e.read(en.Path)
					if err != nil {
						return err
					}
					if err := e.write(en.Path, e.editText(data), e.mode(en.Path)); err != nil {
						return err
					}
					e.benignMark(en.Path, TechCheckout, labels.Modified, "")
				}
				for i := 0; i < 10 && len(list) > 0; i++ {
					base := list[i%len(list)]
					data, err := e.read(base.Path)
					if err != nil {
						if !e.exists(base.Path) {
							continue
						}
						return err
					}
					ext := path.Ext(base.Path)
					rel := fmt.Sprintf("%s/%s_%d%s", dirOf(base.Path), e.prose.Word(), i, ext)
					if e.exists(rel) {
						continue
					}
					if err := e.write(rel, e.editText(data), 0o644); err != nil {
						return err
					}
					e.benignMark(rel, TechCheckout, labels.Added, "")
				}
				return nil
			}},
		{Name: "benign-office-resave", Kind: b, Description: "every office document saved again with new content (whole compressed container rewritten)",
			run: func(e *env) error {
				for _, en := range e.entries(nil, corpus.Office) {
					var data []byte
					var err error
					paras := 10 + e.rng.IntN(60)
					switch path.Ext(en.Path) {
					case ".docx":
						data, err = synth.Docx(e.prose, paras, e.now)
					case ".xlsx":
						data, err = synth.Xlsx(e.prose, paras*3, e.now)
					case ".odt":
						data, err = synth.Odt(e.prose, paras, e.now)
					default:
						continue
					}
					if err != nil {
						return err
					}
					if err := e.write(en.Path, data, 0o644); err != nil {
						return err
					}
					e.benignMark(en.Path, TechOfficeSave, labels.Modified, "")
				}
				return nil
			}},
	}
}
