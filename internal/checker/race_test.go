//go:build race

package checker_test

// raceEnabled is set when the race detector is on; it makes sync.Pool drop
// items at random, so allocation figures mean nothing.
const raceEnabled = true
