// Command evalgen builds the labelled evaluation set of bunker's
// ransomware scanner:
//
//	go run ./eval/cmd/evalgen -out DIR -size-mb N -seed S
//
// It writes DIR/clean (the clean point, from real files on this machine
// plus generated office documents, PDFs, SQLite databases, media and
// encrypted archives), one DIR/<scenario> tree per attack or benign
// scenario, ground truth in DIR/labels/<scenario>.json and DIR/manifest.json.
// The file selection is deterministic for a seed; cipher keys are random.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/eval/attack"
	"github.com/bunkerhq/bunker/eval/suite"
)

func main() {
	out := flag.String("out", "", "output directory (must not exist or be empty)")
	sizeMB := flag.Int("size-mb", 128, "approximate size of the clean point in MiB (CI: 8)")
	seed := flag.Uint64("seed", 1, "seed for every selection")
	files := flag.Int("files", 25, "files touched per scenario")
	few := flag.Int("few", 5, "files touched by the threshold probes")
	large := flag.Int("large", 0, "files of 20 MiB or more: 1 always, -1 never, 0 when -size-mb >= 96")
	only := flag.String("only", "", "comma-separated scenario names (default all)")
	list := flag.Bool("list", false, "list the scenarios and exit")
	copyAll := flag.Bool("copy", false, "copy unchanged files into every point instead of hard-linking them to clean/")
	flag.Parse()
	cfg := attack.Config{Files: *files, Few: *few}
	if *list {
		for _, s := range attack.Scenarios(cfg) {
			fmt.Printf("%-28s %-6s %s\n", s.Name, s.Kind, s.Description)
		}
		return
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "evalgen: -out is required")
		os.Exit(2)
	}
	opt := suite.Options{Seed: *seed, Budget: int64(*sizeMB) << 20, Large: *large, Attack: cfg, Copy: *copyAll}
	if *only != "" {
		opt.Only = strings.Split(*only, ",")
	}
	start := time.Now()
	m, err := suite.Generate(*out, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "evalgen:", err)
		os.Exit(1)
	}
	c := m.Corpus
	fmt.Printf("clean: %d files, %.1f MiB in %.1fs\n", len(c.Entries), float64(c.Total)/(1<<20), m.CorpusSeconds)
	for _, cat := range []string{"text", "source", "log", "image", "pdf", "archive", "binary", "sqlite", "office", "media", "encrypted", "font"} {
		for k, st := range c.Stats {
			if string(k) == cat {
				fmt.Printf("  %-10s found %4d  generated %4d  %8.1f KiB\n", k, st.Found, st.Generated, float64(st.Bytes)/1024)
			}
		}
	}
	for _, p := range m.Points {
		skip := ""
		if p.Skipped != "" {
			skip = "  SKIPPED: " + p.Skipped
		}
		fmt.Printf("%-28s %-6s changed %4d attacked %4d  %.2fs%s\n", p.Name, p.Kind, p.Changed, p.Attacked, p.Seconds, skip)
	}
	fmt.Printf("done in %.1fs: %s\n", time.Since(start).Seconds(), *out)
}
