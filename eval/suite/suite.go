// Package suite builds the whole evaluation set of bunker's ransomware
// scanner in one directory:
//
//	DIR/clean/            the clean point (real files plus generated ones)
//	DIR/<scenario>/       one point per scenario, derived from clean
//	DIR/labels/<s>.json   ground truth per scenario (outside every tree)
//	DIR/pool/             spare files the scenarios draw from (not a point)
//	DIR/manifest.json     what was found, generated and produced
package suite

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/eval/attack"
	"github.com/bunkerhq/bunker/eval/corpus"
	"github.com/bunkerhq/bunker/eval/labels"
)

// Options controls Generate.
type Options struct {
	Seed   uint64
	Budget int64 // bytes; the clean point's approximate size
	// Large: 1 forces files of 20 MiB or more, -1 forbids them, 0 decides
	// from Budget (see corpus.Options).
	Large int
	// Only restricts the scenarios to these names (all when empty).
	Only   []string
	Attack attack.Config
	// Roots overrides the directories walked for real files.
	Roots []string
	// Copy makes every point a full copy instead of hard-linking the
	// unchanged files to the clean point.
	Copy bool
}

// Point summarises one generated point.
type Point struct {
	Name        string      `json:"name"`
	Kind        labels.Kind `json:"kind"`
	Probe       bool        `json:"probe,omitempty"`
	Description string      `json:"description"`
	Dir         string      `json:"dir"`
	Labels      string      `json:"labels"`
	Changed     int         `json:"changed"`
	Attacked    int         `json:"attacked"`
	Skipped     string      `json:"skipped,omitempty"`
	Seconds     float64     `json:"seconds"`
}

// Manifest is DIR/manifest.json.
type Manifest struct {
	Seed          uint64           `json:"seed"`
	Budget        int64            `json:"budget"`
	Clean         string           `json:"clean"`
	Pool          string           `json:"pool"`
	CorpusSeconds float64          `json:"corpus_seconds"`
	Points        []Point          `json:"points"`
	Corpus        *corpus.Manifest `json:"corpus"`
}

// Generate writes the evaluation set into dir, which must not exist or be
// empty.
func Generate(dir string, opt Options) (*Manifest, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("suite: %s is not empty", dir)
	}
	start := time.Now()
	cm, err := corpus.Build(dir, corpus.Options{Seed: opt.Seed, Budget: opt.Budget, Large: opt.Large, Roots: opt.Roots})
	if err != nil {
		return nil, fmt.Errorf("suite: %w", err)
	}
	m := &Manifest{Seed: opt.Seed, Budget: opt.Budget, Clean: "clean", Pool: "pool",
		CorpusSeconds: time.Since(start).Seconds(), Corpus: cm}
	only := map[string]bool{}
	for _, s := range opt.Only {
		only[strings.TrimSpace(s)] = true
	}
	clean := filepath.Join(dir, "clean")
	pool := filepath.Join(dir, "pool")
	cleanLabels := &labels.Labels{Scenario: "clean", Kind: labels.Benign, Description: "the clean point itself (no change)", Files: map[string]labels.File{}}
	if err := cleanLabels.Write(filepath.Join(dir, "labels")); err != nil {
		return nil, fmt.Errorf("suite: %w", err)
	}
	for _, s := range attack.Scenarios(opt.Attack) {
		if len(only) > 0 && !only[s.Name] {
			continue
		}
		t := time.Now()
		tree := filepath.Join(dir, s.Name)
		cl := attack.Clone
		if opt.Copy {
			cl = attack.CloneCopy
		}
		if err := cl(clean, tree); err != nil {
			return nil, fmt.Errorf("suite: %s: %w", s.Name, err)
		}
		res, err := s.Apply(tree, pool, cm, opt.Seed)
		if err != nil && !errors.Is(err, attack.ErrSkipped) {
			return nil, fmt.Errorf("suite: %w", err)
		}
		if err := res.Labels.Write(filepath.Join(dir, "labels")); err != nil {
			return nil, fmt.Errorf("suite: %w", err)
		}
		m.Points = append(m.Points, Point{
			Name: s.Name, Kind: s.Kind, Probe: s.Probe, Description: s.Description, Dir: s.Name,
			Labels: filepath.Join("labels", s.Name+".json"), Changed: len(res.Labels.Files),
			Attacked: res.Labels.Touched(), Skipped: res.Labels.Skipped, Seconds: time.Since(t).Seconds(),
		})
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, fmt.Errorf("suite: manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("suite: manifest: %w", err)
	}
	return m, nil
}
