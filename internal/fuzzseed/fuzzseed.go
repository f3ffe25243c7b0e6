// Package fuzzseed writes seed corpus files for go test -fuzz targets, so
// that the seeds checked in under testdata/fuzz are produced by code rather
// than by hand. Tests call Write when BUNKER_WRITE_SEEDS=1 is set.
package fuzzseed

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Enabled reports whether seed files should be (re)written.
func Enabled() bool { return os.Getenv("BUNKER_WRITE_SEEDS") == "1" }

// Write stores each input as a corpus file of target, named by its hash.
func Write(t testing.TB, target string, inputs ...[]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
		name := fmt.Sprintf("seed-%x", sha256.Sum256(in))[:21]
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// WriteEntry stores one corpus file of target named name, holding the given
// values, each in the corpus syntax (e.g. `byte('\x01')`, `string("a")`),
// for fuzz targets with several arguments.
func WriteEntry(t testing.TB, target, name string, values ...string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n"
	for _, v := range values {
		body += v + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// AddStrings adds each seed to the fuzz target of one string argument and,
// when Enabled, stores it as the corpus file seed-NN of target.
func AddStrings(f *testing.F, target string, seeds []string) {
	f.Helper()
	for i, s := range seeds {
		f.Add(s)
		if Enabled() {
			WriteEntry(f, target, fmt.Sprintf("seed-%02d", i), fmt.Sprintf("string(%q)", s))
		}
	}
}
