#!/usr/bin/env bash
# Runs every test of bunker on a fresh machine: installs what the tests need,
# checks formatting and vet, runs the unit and end-to-end tests with the race
# detector, fuzzes every fuzz target briefly, and runs the benchmark harness
# on a small corpus. Long fuzzing and the full benchmark are run by hand:
#   go test -run '^$' -fuzz FuzzName -fuzztime 10m ./internal/pkg
#   bench/run.sh
# Environment: FUZZTIME, the budget per fuzz target (default 20000x: a count
# of executions, because a wall-clock budget trips a race in the Go 1.26
# fuzzing coordinator that reports "context deadline exceeded" at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=${CGO_ENABLED:-0}

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
scripts/deps.sh
# The S3 backend's tests run against a real MinIO and fail without one.
BUNKER_MINIO=$(scripts/minio.sh)
export BUNKER_MINIO BUNKER_REQUIRE_MINIO=1

step "gofmt"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	echo "not gofmt-formatted:"
	echo "$unformatted"
	exit 1
fi

step "go vet"
go vet ./...

step "static build"
go build -o /dev/null ./cmd/bunker

step "tests (race detector)"
# The race detector needs cgo. Verbose output goes to a log; the package
# lines and any failure are shown, and the counts close the run.
log=$(mktemp)
rc=0
CGO_ENABLED=1 go test -race -count=1 -timeout 20m -v ./... >"$log" 2>&1 || rc=$?
grep -E '^(ok|FAIL|\?|panic:)' "$log" || true
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
if ((rc != 0)); then
	grep -E -B2 -A30 '^\s*--- FAIL|^panic:|build failed|cannot|undefined' "$log" | head -300
	echo "tests: $passed passed, $failed failed"
	exit "$rc"
fi

step "fuzz smoke (${FUZZTIME:-20000x} per target)"
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		echo "fuzz $pkg $target"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-20000x}" "$pkg" >/tmp/bunker-fuzz.log 2>&1 || {
			cat /tmp/bunker-fuzz.log
			exit 1
		}
	done
done

step "benchmark harness smoke"
bench/run.sh --smoke

step "done"
echo "tests: $passed passed, $failed failed"
