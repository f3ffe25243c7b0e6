// Command report turns the raw results of bench/run.sh (a CSV of every
// measured step and a key=value file describing the machine, the tools and
// the corpus) into the Markdown report docs/BENCHMARKS.md.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	results := fs.String("results", "", "results CSV written by bench/run.sh")
	metaPath := fs.String("meta", "", "key=value file describing the run")
	out := fs.String("out", "", "Markdown file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *results == "" || *metaPath == "" || *out == "" || fs.NArg() != 0 {
		return errors.New("usage: report -results FILE.csv -meta FILE -out FILE.md")
	}
	rows, err := readResults(*results)
	if err != nil {
		return err
	}
	meta, err := readMeta(*metaPath)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := Render(&buf, meta, Aggregate(rows)); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func readResults(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open results: %w", err)
	}
	defer f.Close()
	return ParseResults(f)
}

func readMeta(path string) (Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open meta: %w", err)
	}
	defer f.Close()
	return ParseMeta(f)
}

// atof reads a number from the meta file, 0 if it is not one.
func atof(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return v
}
