// Package ui reports the progress and results of bunker commands: a status
// line on a terminal, JSON lines for machines, and human-readable sizes,
// rates and durations.
package ui

import (
	"fmt"
	"math"
	"strings"
	"time"
)

var iecUnits = [...]string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// Bytes formats n in IEC units: "512 B", "1.5 KiB", "3.2 GiB".
func Bytes(n int64) string {
	return formatIEC(float64(n))
}

// Rate formats a transfer rate: "56.7 MiB/s". Negative or undefined rates
// read "0 B/s".
func Rate(bytesPerSec float64) string {
	if math.IsNaN(bytesPerSec) || bytesPerSec < 0 {
		bytesPerSec = 0
	}
	return formatIEC(bytesPerSec) + "/s"
}

func formatIEC(v float64) string {
	if math.IsInf(v, 0) {
		return fmt.Sprintf("%v B", v)
	}
	// Thresholds sit below 1024 so that rounding never prints "1024".
	if math.Abs(v) < 1023.5 {
		return fmt.Sprintf("%.0f B", v)
	}
	unit := 0
	v /= 1024
	for math.Abs(v) >= 1023.95 && unit < len(iecUnits)-1 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %s", v, iecUnits[unit])
}

// Duration formats d for people: "850ms" below a second, otherwise rounded
// to whole seconds as "42s", "1m05s", "2h03m09s" or "3d04h05m06s".
func Duration(d time.Duration) string {
	if d < 0 {
		if d == math.MinInt64 {
			d++
		}
		return "-" + Duration(-d)
	}
	if d == 0 {
		return "0s"
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	secs := int64(d.Round(time.Second) / time.Second)
	days, secs := secs/86400, secs%86400
	hours, secs := secs/3600, secs%3600
	mins, secs := secs/60, secs%60
	var b strings.Builder
	switch {
	case days > 0:
		fmt.Fprintf(&b, "%dd%02dh%02dm%02ds", days, hours, mins, secs)
	case hours > 0:
		fmt.Fprintf(&b, "%dh%02dm%02ds", hours, mins, secs)
	case mins > 0:
		fmt.Fprintf(&b, "%dm%02ds", mins, secs)
	default:
		fmt.Fprintf(&b, "%ds", secs)
	}
	return b.String()
}
