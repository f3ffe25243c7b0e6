// Command evalbaseline is a deliberately simple reference detector for the
// evaluation set (not bunker's scanner): it compares every point with the
// clean point and flags changed files that gained high-entropy content
// without a known container format, lost their format's magic number, or
// are encoded ciphertext, plus same-named notes in many directories. It
// writes results in the neutral form evalscore reads:
//
//	go run ./eval/cmd/evalbaseline -dir DIR > results.json
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/bunkerhq/bunker/eval/score"
	"github.com/bunkerhq/bunker/eval/suite"
)

func entropy(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var n [256]int
	for _, c := range b {
		n[c]++
	}
	h := 0.0
	for _, k := range n {
		if k > 0 {
			p := float64(k) / float64(len(b))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// maxBlockEntropy samples 4 KiB blocks across b.
func maxBlockEntropy(b []byte) float64 {
	const blk = 4096
	best := 0.0
	step := max(len(b)/16, blk)
	for off := 0; off < len(b); off += step {
		best = max(best, entropy(b[off:min(off+blk, len(b))]))
	}
	return best
}

func magic(b []byte) bool {
	prefixes := []string{"\x1f\x8b", "PK\x03\x04", "PK\x05\x06", "\xfd7zXZ\x00", "\x28\xb5\x2f\xfd", "\x89PNG", "\xff\xd8\xff", "GIF8",
		"%PDF", "\x7fELF", "SQLite format 3", "BZh", "7z\xbc\xaf", "RIFF", "OTTO", "\x00\x01\x00\x00", "wOFF", "wOF2", "\x8c\x0d", "\xc3"}
	for _, p := range prefixes {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return len(b) > 8 && string(b[4:8]) == "ftyp"
}

// decodedEntropy returns the entropy of a base64 or hex body (0 if neither).
func decodedEntropy(b []byte) float64 {
	s := bytes.TrimSpace(b[:min(len(b), 1<<16)])
	if d, err := hex.DecodeString(string(s[:len(s)/2*2])); err == nil && len(d) > 256 {
		return entropy(d)
	}
	if d, err := base64.StdEncoding.DecodeString(string(s[:len(s)/4*4])); err == nil && len(d) > 256 {
		return entropy(d)
	}
	return 0
}

func suspicious(data, old []byte) bool {
	high := maxBlockEntropy(data) > 7.3
	switch {
	case decodedEntropy(data) > 7.3:
		return true
	case !magic(data) && high && (old == nil || !magic(old) || entropy(old[:min(len(old), 1<<16)]) < 6):
		return true
	case old != nil && magic(old) && !magic(data) && high:
		return true
	case old != nil && !magic(old) && maxBlockEntropy(old) < 6.5 && high:
		return true
	}
	return false
}

func scanPoint(clean, tree string) (score.PointResult, error) {
	var flagged []string
	names := map[string]map[string]bool{} // new base name -> dirs
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		var old []byte
		if ci, err := os.Stat(filepath.Join(clean, rel)); err == nil {
			if os.SameFile(ci, info) {
				return nil
			}
			if old, err = os.ReadFile(filepath.Join(clean, rel)); err != nil {
				return err
			}
		} else if info.Size() < 64<<10 {
			b := path.Base(rel)
			if names[b] == nil {
				names[b] = map[string]bool{}
			}
			names[b][path.Dir(rel)] = true
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if old != nil && bytes.Equal(old, data) {
			return nil
		}
		if old == nil && magic(data) {
			delete(names[path.Base(rel)], path.Dir(rel)) // a container, not a note
		}
		if suspicious(data, old) {
			flagged = append(flagged, rel)
		}
		return nil
	})
	if err != nil {
		return score.PointResult{}, fmt.Errorf("scan %s: %w", tree, err)
	}
	for b, dirs := range names {
		if len(dirs) >= 3 {
			for d := range dirs {
				flagged = append(flagged, path.Join(d, b))
			}
		}
	}
	sort.Strings(flagged)
	flagged = compact(flagged)
	v := score.Clean
	switch {
	case len(flagged) >= score.Threshold:
		v = score.Infected
	case len(flagged) >= 3:
		v = score.Suspicious
	}
	return score.PointResult{Verdict: v, Flagged: flagged}, nil
}

func compact(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func main() {
	dir := flag.String("dir", "", "directory written by evalgen")
	flag.Parse()
	b, err := os.ReadFile(filepath.Join(*dir, "manifest.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "evalbaseline:", err)
		os.Exit(1)
	}
	var m suite.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		fmt.Fprintln(os.Stderr, "evalbaseline:", err)
		os.Exit(1)
	}
	res := score.Results{Scanner: "evalbaseline (entropy + magic reference)"}
	clean := filepath.Join(*dir, m.Clean)
	res.Points = append(res.Points, score.PointResult{Scenario: "clean", Verdict: score.Clean})
	for _, p := range m.Points {
		r, err := scanPoint(clean, filepath.Join(*dir, p.Dir))
		if err != nil {
			fmt.Fprintln(os.Stderr, "evalbaseline:", err)
			os.Exit(1)
		}
		r.Scenario = p.Name
		res.Points = append(res.Points, r)
	}
	out, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "evalbaseline:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
