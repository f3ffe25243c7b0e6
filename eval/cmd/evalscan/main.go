// Command evalscan runs bunker's ransomware scanner (internal/scan) over an
// evaluation set written by evalgen and scores it:
//
//	go run ./eval/cmd/evalscan -dir DIR [-json|-table] [-results results.json] [-strict] [-v]
//	go run ./eval/cmd/evalscan -dir DIR -throughput [-workers 1]
//
// Every point is judged against DIR/clean with only the files that differ
// passed as changes (see eval/scanrun); the Markdown report of eval/score
// is printed (its JSON with -json, or with -table only one table of
// detection, false positives, precision and recall per technique). -results also writes the results in
// evalscore's input form, -v adds a per-point table of what the scanner
// saw and how long it took, and -strict exits 1 when a target is missed.
// -throughput instead measures the cost of judging an unchanged point and
// one where files holding 5% of the clean point's bytes changed
// (-workers defaults to 1 there: the figures are per core).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bunkerhq/bunker/eval/scanrun"
	"github.com/bunkerhq/bunker/internal/scan"
)

func main() {
	dir := flag.String("dir", "", "directory written by evalgen")
	asJSON := flag.Bool("json", false, "print the report as JSON instead of Markdown")
	results := flag.String("results", "", "also write the results (evalscore input) to this file")
	strict := flag.Bool("strict", false, "exit 1 when a target is missed")
	table := flag.Bool("table", false, "print only the one-table summary (detection, false positives, precision, recall per technique)")
	verbose := flag.Bool("v", false, "print a per-point table of changes, evidence counts and timings")
	workers := flag.Int("workers", 0, "files analysed at once (default GOMAXPROCS)")
	throughput := flag.Bool("throughput", false, "measure judging throughput instead of scoring")
	frac := flag.Float64("fraction", 0.05, "with -throughput: fraction of the clean point's bytes changed")
	rounds := flag.Int("rounds", 5, "with -throughput: judge each point this many times, report the fastest")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "evalscan: -dir is required")
		os.Exit(2)
	}
	ctx := context.Background()
	if *throughput {
		b, err := scanrun.NewBase(filepath.Join(*dir, "clean"))
		if err != nil {
			fail(err)
		}
		w := *workers
		if w <= 0 {
			w = 1
		}
		ts, err := scanrun.MeasureThroughput(ctx, b, *frac, w, *rounds)
		if err != nil {
			fail(err)
		}
		fmt.Printf("clean point: %d files\n", b.Files())
		for _, t := range ts {
			fmt.Println(t)
		}
		return
	}
	run, err := scanrun.Scan(ctx, *dir, scanrun.Options{Scan: scan.Options{Parallelism: *workers}})
	if err != nil {
		fail(err)
	}
	rep, ls, err := scanrun.Score(*dir, run)
	if err != nil {
		fail(err)
	}
	if *results != "" {
		b, err := json.MarshalIndent(run.Results, "", " ")
		if err != nil {
			fail(err)
		}
		if err := os.WriteFile(*results, append(b, '\n'), 0o644); err != nil {
			fail(err)
		}
	}
	if *asJSON {
		b, err := json.MarshalIndent(struct {
			Report  any             `json:"report"`
			Targets any             `json:"targets"`
			Points  []scanrun.Point `json:"points"`
		}{rep, rep.Targets(), run.Points}, "", " ")
		if err != nil {
			fail(err)
		}
		fmt.Println(string(b))
	} else if *table {
		fmt.Print(scanrun.Table(rep, ls))
	} else {
		fmt.Print(rep.Markdown())
		if *verbose {
			fmt.Print("\n## Scanner\n\n", run.Summary())
		}
	}
	if *strict && !rep.OK() {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "evalscan:", err)
	os.Exit(1)
}
