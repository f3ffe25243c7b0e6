package retention

import (
	"testing"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// FuzzParseSpan: a span that parses reads back from its Format text as
// itself, so that a lock or policy stored as text never changes when the
// server reads it again.
func FuzzParseSpan(f *testing.F) {
	seeds := []string{"0", "", "30d", "72h", "1d12h", "1y6m", "2w", "90m0s", "1h30m0s", "-30d", "1m", "12m", "100y",
		"1.5h", "99999999999999999999d", "30x", "d", " 1d", "1y1y", "0s", "-1s"}
	fuzzseed.AddStrings(f, "FuzzParseSpan", seeds)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSpan(s)
		if err != nil {
			return
		}
		again, err := ParseSpan(Format(d))
		if err != nil || again != d {
			t.Fatalf("%q is %s, but its text %q reads back as %s (%v)", s, d, Format(d), again, err)
		}
	})
}
