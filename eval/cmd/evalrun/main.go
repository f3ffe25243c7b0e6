// Command evalrun builds an evaluation set, runs bunker's ransomware
// scanner over it and prints the scored Markdown report:
//
//	go run ./eval/cmd/evalrun -out DIR -size-mb N -seed S [-v] [-strict] [-keep=false]
//
// It is evalgen followed by evalscan; -v adds the per-point table of what
// the scanner saw and how long judging took. With -keep=false the set is
// removed afterwards.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bunkerhq/bunker/eval/attack"
	"github.com/bunkerhq/bunker/eval/scanrun"
	"github.com/bunkerhq/bunker/eval/suite"
	"github.com/bunkerhq/bunker/internal/scan"
)

func main() {
	out := flag.String("out", "", "output directory (must not exist or be empty)")
	sizeMB := flag.Int("size-mb", 128, "approximate size of the clean point in MiB")
	seed := flag.Uint64("seed", 1, "seed for every selection")
	workers := flag.Int("workers", 0, "files analysed at once (default GOMAXPROCS)")
	verbose := flag.Bool("v", false, "print a per-point table of changes, evidence counts and timings")
	strict := flag.Bool("strict", false, "exit 1 when a target is missed")
	keep := flag.Bool("keep", true, "keep the generated set")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "evalrun: -out is required")
		os.Exit(2)
	}
	start := time.Now()
	m, err := suite.Generate(*out, suite.Options{Seed: *seed, Budget: int64(*sizeMB) << 20, Attack: attack.Config{}})
	if err != nil {
		fail(err)
	}
	if !*keep {
		defer os.RemoveAll(*out)
	}
	gen := time.Since(start)
	run, err := scanrun.Scan(context.Background(), *out, scanrun.Options{Scan: scan.Options{Parallelism: *workers}})
	if err != nil {
		fail(err)
	}
	rep, ls, err := scanrun.Score(*out, run)
	if err != nil {
		fail(err)
	}
	fmt.Printf("Set: seed %d, %d MiB budget, clean point %d files (%.1f MiB), generated in %v; scanned in %v.\n\n",
		*seed, *sizeMB, len(m.Corpus.Entries), float64(m.Corpus.Total)/(1<<20), gen.Round(time.Second), (time.Since(start) - gen).Round(time.Millisecond))
	fmt.Print(scanrun.Table(rep, ls), "\n", rep.Markdown())
	if *verbose {
		fmt.Print("\n## Scanner\n\n", run.Summary())
	}
	if *strict && !rep.OK() {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "evalrun:", err)
	os.Exit(1)
}
