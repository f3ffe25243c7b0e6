package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// LogLines returns n syslog/application-style log lines starting at start.
// When seed lines from real logs are given, their message parts are reused.
func LogLines(rng *rand.Rand, p *Prose, seed []string, start time.Time, n int) string {
	procs := []string{"sshd", "cron", "systemd", "kernel", "bunker", "nginx", "postgres", "dockerd"}
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	var b strings.Builder
	t := start
	for i := 0; i < n; i++ {
		t = t.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
		var msg string
		if len(seed) > 0 && rng.IntN(3) > 0 {
			msg = seed[rng.IntN(len(seed))]
		} else {
			msg = fmt.Sprintf("%s id=%d dur=%dms %s", levels[rng.IntN(len(levels))], rng.IntN(1<<20), rng.IntN(900), p.Sentence(4))
		}
		fmt.Fprintf(&b, "%s host %s[%d]: %s\n", t.Format("2006-01-02T15:04:05.000Z07:00"), procs[rng.IntN(len(procs))], 100+rng.IntN(30000), msg)
	}
	return b.String()
}

// LogSeed extracts message parts (after the first ": ") from real log text.
func LogSeed(text string, max int) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if i := strings.Index(l, ": "); i > 0 && len(l)-i < 200 {
			l = l[i+2:]
		}
		l = strings.TrimSpace(l)
		if len(l) > 8 && len(l) < 200 {
			out = append(out, l)
			if len(out) >= max {
				break
			}
		}
	}
	return out
}
