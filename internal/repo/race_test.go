//go:build race

package repo_test

// raceEnabled is set when the race detector is on; it makes sync.Pool drop
// items at random, so allocation counts mean nothing.
const raceEnabled = true
