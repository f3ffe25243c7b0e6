// Command corpusgen builds and changes the deterministic corpus that the
// benchmark harness in bench/run.sh backs up.
//
// Usage:
//
//	corpusgen list -budget BYTES SOURCE...   paths for tar -T, NUL-separated
//	corpusgen table -size BYTES -seed N FILE  write a generated CSV table
//	corpusgen mutate -every N -seed N [-list FILE] DIR  change every Nth file of DIR
//	corpusgen digest DIR                      counts and content digest of DIR
//	corpusgen split -parts N -common PCT SRC DST
//	                                          hard-link SRC into a common part and N slices
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "corpusgen: %v\n", err)
		os.Exit(1)
	}
}

// errUsage reports a command line that names no known subcommand.
var errUsage = errors.New("usage: corpusgen list|table|mutate|digest|split [flags] ARGS")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	fs := flag.NewFlagSet("corpusgen "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "list":
		return runList(ctx, fs, args[1:], stdout, stderr)
	case "table":
		return runTable(ctx, fs, args[1:])
	case "mutate":
		return runMutate(ctx, fs, args[1:], stdout)
	case "digest":
		return runDigest(ctx, fs, args[1:], stdout)
	case "split":
		return runSplit(ctx, fs, args[1:], stdout)
	default:
		return fmt.Errorf("unknown subcommand %q: %w", args[0], errUsage)
	}
}

func runList(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	budget := fs.Int64("budget", 0, "most bytes of regular file content to select")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *budget <= 0 {
		return fmt.Errorf("list: -budget must be positive, got %d", *budget)
	}
	sel, err := Select(ctx, fs.Args(), *budget)
	if err != nil {
		return err
	}
	if err := sel.WriteNUL(stdout); err != nil {
		return fmt.Errorf("list: write: %w", err)
	}
	fmt.Fprintf(stderr, "selected %d entries, %d of %d bytes\n", len(sel.Paths), sel.Bytes, sel.Total)
	return nil
}

func runTable(ctx context.Context, fs *flag.FlagSet, args []string) error {
	size := fs.Int64("size", 0, "exact size of the table in bytes")
	seed := fs.Uint64("seed", 1, "generator seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *size < 0 {
		return fmt.Errorf("table: want -size >= 0 and one FILE, got size %d and %d args", *size, fs.NArg())
	}
	return WriteTableFile(ctx, fs.Arg(0), *size, *seed)
}

func runMutate(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	every := fs.Int("every", 20, "change every Nth regular file in walk order")
	seed := fs.Uint64("seed", 1, "generator seed")
	list := fs.String("list", "", "write the changed files' paths, relative to DIR and NUL-terminated, to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *every < 1 {
		return fmt.Errorf("mutate: want -every >= 1 and one DIR, got every %d and %d args", *every, fs.NArg())
	}
	st, err := Mutate(ctx, fs.Arg(0), *every, *seed)
	if err != nil {
		return err
	}
	if *list != "" {
		var b []byte
		for _, p := range st.Paths {
			b = append(append(b, p...), 0)
		}
		if err := os.WriteFile(*list, b, 0o644); err != nil {
			return fmt.Errorf("mutate: write list: %w", err)
		}
	}
	fmt.Fprintf(stdout, "changed_files=%d\nchanged_bytes=%d\nchanged_file_bytes=%d\n", st.Files, st.Bytes, st.Sizes)
	return nil
}

func runDigest(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("digest: want one DIR, got %d args", fs.NArg())
	}
	sum, err := Digest(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "files=%d\ndirs=%d\nsymlinks=%d\nbytes=%d\ndigest=%s\n",
		sum.Files, sum.Dirs, sum.Symlinks, sum.Bytes, sum.Digest)
	return nil
}

func runSplit(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	parts := fs.Int("parts", 8, "number of disjoint slices")
	common := fs.Int("common", 25, "share of the bytes, in percent, for the common part")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || *parts < 1 || *common < 0 || *common > 100 {
		return fmt.Errorf("split: want -parts >= 1, -common 0 to 100, SRC and DST, got parts %d, common %d and %d args", *parts, *common, fs.NArg())
	}
	st, err := Split(ctx, fs.Arg(0), fs.Arg(1), *parts, *common)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parts=%d\ncommon_files=%d\ncommon_bytes=%d\npart_bytes_min=%d\npart_bytes_max=%d\nunique_bytes=%d\nclients_bytes=%d\n",
		st.Parts, st.CommonFiles, st.CommonBytes, slices.Min(st.PartBytes), slices.Max(st.PartBytes), st.Unique(), st.Clients())
	return nil
}
