package retention

import (
	"fmt"
	"time"
)

// Format writes a duration in whole days and hours, as people set them:
// "30d", "72h", "1d12h", "0".
func Format(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	days := d / (24 * time.Hour)
	rest := d % (24 * time.Hour)
	switch {
	case rest == 0:
		return fmt.Sprintf("%s%dd", sign, days)
	case days == 0 && rest%time.Hour == 0:
		return fmt.Sprintf("%s%dh", sign, rest/time.Hour)
	case rest%time.Hour == 0:
		return fmt.Sprintf("%s%dd%dh", sign, days, rest/time.Hour)
	}
	return sign + d.String()
}
