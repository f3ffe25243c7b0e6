//go:build race

package keys

// raceEnabled is set when the race detector is on; its shadow memory takes
// page faults of its own.
const raceEnabled = true
