// Package labels defines the ground truth of bunker's ransomware-scanner
// evaluation: for every scenario (a point derived from the clean point),
// which paths changed and whether each change was an attack.
//
// A Labels file lists exactly the paths that differ from the clean point:
// added, modified and renamed-to paths (present in the scenario tree) and
// deleted paths (absent). Paths not listed are byte-identical to the clean
// point and implicitly benign.
package labels

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind says whether a scenario is an attack or a benign change.
type Kind string

// Scenario kinds.
const (
	Attack Kind = "attack"
	Benign Kind = "benign"
)

// Change is how a path differs from the clean point.
type Change string

// Changes.
const (
	Added    Change = "added"
	Modified Change = "modified"
	Renamed  Change = "renamed" // present under a new name; From is the old one
	Deleted  Change = "deleted"
)

// Technique families used for the recall targets.
const (
	FamilyFull         = "full"         // whole file encrypted (raw, encoded or renamed)
	FamilyIntermittent = "intermittent" // only some ranges encrypted
	FamilyRename       = "rename"       // renamed without encryption
	FamilyNote         = "note"         // ransom note
)

// File is the label of one path.
type File struct {
	Attacked  bool   `json:"attacked"`
	Technique string `json:"technique"`
	Family    string `json:"family,omitempty"`
	Change    Change `json:"change"`
	From      string `json:"from,omitempty"`
	Category  string `json:"category,omitempty"`
	// Cipher, Encrypted and Encoding describe an encryption attack (never
	// the key): the cipher, the encrypted [offset, length) ranges of the
	// original file, and how the ciphertext is stored (raw, base64, hex).
	Cipher    string     `json:"cipher,omitempty"`
	Encrypted [][2]int64 `json:"encrypted,omitempty"`
	Encoding  string     `json:"encoding,omitempty"`
}

// Labels is the ground truth of one scenario.
type Labels struct {
	Scenario    string `json:"scenario"`
	Kind        Kind   `json:"kind"`
	Description string `json:"description"`
	// Probe marks attack scenarios deliberately below the 20-file
	// threshold; the "infected" target does not apply to them.
	Probe bool `json:"probe,omitempty"`
	// Skipped is set (with a reason) when the scenario could not run on
	// this machine; its tree then equals the clean point.
	Skipped string          `json:"skipped,omitempty"`
	Files   map[string]File `json:"files"`
}

// Present reports whether a labelled path exists in the scenario tree.
func (f File) Present() bool { return f.Change != Deleted }

// AttackedPresent returns the sorted attacked paths present in the tree.
func (l *Labels) AttackedPresent() []string {
	var out []string
	for p, f := range l.Files {
		if f.Attacked && f.Present() {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Touched is the number of files the scenario touched as an attack:
// attacked present paths (an encrypted-and-renamed file counts once).
func (l *Labels) Touched() int { return len(l.AttackedPresent()) }

// Write stores l as dir/<scenario>.json.
func (l *Labels) Write(dir string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(l); err != nil {
		return fmt.Errorf("labels %s: %w", l.Scenario, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("labels %s: %w", l.Scenario, err)
	}
	if err := os.WriteFile(filepath.Join(dir, l.Scenario+".json"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("labels %s: %w", l.Scenario, err)
	}
	return nil
}

// Read loads one labels file.
func Read(path string) (*Labels, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	var l Labels
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("labels %s: %w", path, err)
	}
	if l.Files == nil {
		l.Files = map[string]File{}
	}
	return &l, nil
}

// ReadDir loads every *.json in dir, sorted by scenario name.
func ReadDir(dir string) ([]*Labels, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	var out []*Labels
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		l, err := Read(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scenario < out[j].Scenario })
	return out, nil
}
