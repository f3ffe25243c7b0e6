package ui

import "time"

// rateWindow is how far back the moving average of the rate looks.
const rateWindow = 5 * time.Second

type sample struct {
	at    time.Time
	bytes int64
}

// rateMeter averages the byte rate over the samples of the last window.
// It is not safe for concurrent use.
type rateMeter struct {
	window  time.Duration
	samples []sample
}

// add records that bytes were done by time at and returns the average rate
// in bytes per second since the oldest sample inside the window.
func (m *rateMeter) add(at time.Time, bytes int64) float64 {
	m.samples = append(m.samples, sample{at, bytes})
	// Keep one sample at or beyond the window edge as the baseline.
	cut := 0
	for cut+1 < len(m.samples) && at.Sub(m.samples[cut+1].at) >= m.window {
		cut++
	}
	m.samples = append(m.samples[:0], m.samples[cut:]...)
	first := m.samples[0]
	elapsed := at.Sub(first.at).Seconds()
	if elapsed <= 0 || bytes < first.bytes {
		return 0
	}
	return float64(bytes-first.bytes) / elapsed
}

// eta estimates the time left, and false when it cannot.
func eta(s Snapshot, rate float64) (time.Duration, bool) {
	if !s.ScanFinished || s.BytesTotal <= 0 || rate <= 0 {
		return 0, false
	}
	left := max(s.BytesTotal-s.BytesDone, 0)
	secs := float64(left) / rate
	if secs > float64(100*365*24*3600) {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}
