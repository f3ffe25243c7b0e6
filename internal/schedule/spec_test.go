package schedule

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return ts
}

func TestParseInterval(t *testing.T) {
	good := map[string]time.Duration{
		"90s": 90 * time.Second, "15m": 15 * time.Minute, "1h30m": 90 * time.Minute,
		"7d": 7 * 24 * time.Hour, "1d2h3m4s": 26*time.Hour + 3*time.Minute + 4*time.Second, "0s": 0,
		"366d": MaxInterval,
	}
	for s, want := range good {
		got, err := ParseInterval(s)
		if err != nil || got != want {
			t.Errorf("ParseInterval(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	bad := map[string]string{
		"": "empty", "15": "no unit", "m": "expected a number", "1w": "unknown unit",
		"30m1h": "largest first", "1h1h": "largest first", "367d": "longer than", "-1h": "expected a number",
		"99999999999999999999s": "longer than", "1.5h": "unknown unit",
	}
	for s, want := range bad {
		if _, err := ParseInterval(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseInterval(%q) error = %v, want it to say %q", s, err, want)
		}
	}
}

func TestFormatInterval(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 26 * time.Hour: "1d2h", 15 * time.Minute: "15m",
		time.Millisecond: "0s", -time.Hour: "0s",
	} {
		if got := FormatInterval(d); got != want {
			t.Errorf("FormatInterval(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	r, err := ParseRate("every 15m")
	if err != nil || r.Every != 15*time.Minute || r.String() != "every 15m" {
		t.Fatalf("ParseRate = %+v, %v", r, err)
	}
	for _, s := range []string{"", "15m", "every", "every 0s", "every 15m now", "each 15m", "Every 15m"} {
		if _, err := ParseRate(s); err == nil {
			t.Errorf("ParseRate(%q) accepted", s)
		}
	}
}

func TestRateNext(t *testing.T) {
	r := Rate{Every: 15 * time.Minute}
	for from, want := range map[string]string{
		"2026-03-29T00:59:59Z":      "2026-03-29T01:00:00Z",
		"2026-03-29T01:00:00Z":      "2026-03-29T01:15:00Z",
		"2026-03-29T03:07:00+02:00": "2026-03-29T01:15:00Z",
	} {
		if got := r.Next(mustTime(t, from)); !got.Equal(mustTime(t, want)) {
			t.Errorf("Next(%s) = %s, want %s", from, got, want)
		}
	}
	day := Rate{Every: 24 * time.Hour}
	if got := day.Next(mustTime(t, "2026-06-01T13:00:00Z")); !got.Equal(mustTime(t, "2026-06-02T00:00:00Z")) {
		t.Errorf("every 1d: Next = %s, want midnight UTC", got)
	}
}

func TestParseCron(t *testing.T) {
	c, err := ParseCron("  0   3 * *  1-5 ", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expr() != "0 3 * * 1-5" || c.Location() != time.UTC || c.String() != "CRON_TZ=UTC 0 3 * * 1-5" {
		t.Errorf("parsed %q in %v as %q", c.Expr(), c.Location(), c.String())
	}
	c, err = ParseCron("CRON_TZ=Europe/Berlin 0 3 * * *", nil)
	if err != nil || c.Location().String() != "Europe/Berlin" || c.Expr() != "0 3 * * *" {
		t.Fatalf("CRON_TZ: %v, %v", c, err)
	}
	berlin, _ := LoadZone("Europe/Berlin")
	bad := []struct {
		expr string
		loc  *time.Location
		want string
	}{
		{"0 3 * *", nil, "expected 5 fields, got 4: minute hour day-of-month month day-of-week"},
		{"0 0 3 * * *", nil, "expected 5 fields"},
		{"", nil, "got 0"},
		{"@daily", nil, "got 1"},
		{"60 3 * * *", nil, "above maximum"},
		{"0 3 30 2 *", nil, "never due"},
		{"CRON_TZ=Europe/Berlin 0 3 * * *", berlin, "given twice"},
		{"CRON_TZ=Mars/Olympus 0 3 * * *", nil, "zone database"},
		{"TZ=Local 0 3 * * *", nil, "not Local"},
		{"CRON_TZ= 0 3 * * *", nil, "names no zone"},
		{"*/0 * * * *", nil, "positive"},
		{strings.Repeat("1,", 200) + "1 * * * *", nil, "longer than"},
	}
	for _, b := range bad {
		if _, err := ParseCron(b.expr, b.loc); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseCron(%q) error = %v, want it to say %q", b.expr, err, b.want)
		}
	}
}

func TestLoadZone(t *testing.T) {
	for _, name := range []string{"", "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"} {
		if _, err := LoadZone(name); err != nil {
			t.Errorf("LoadZone(%q): %v", name, err)
		}
	}
	for _, name := range []string{"Local", "../../etc/passwd", "/etc/localtime", "Europe/ Berlin", "No/Such"} {
		if _, err := LoadZone(name); err == nil {
			t.Errorf("LoadZone(%q) accepted", name)
		}
	}
}

// slots returns the first n slots of s after from, as RFC 3339 in UTC.
func slots(s Spec, from time.Time, n int) []string {
	var out []string
	for t := from; len(out) < n; {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t.UTC().Format(time.RFC3339))
	}
	return out
}

func TestCronNext(t *testing.T) {
	berlin, _ := LoadZone("Europe/Berlin")
	newYork, _ := LoadZone("America/New_York")
	tests := []struct {
		name string
		expr string
		loc  *time.Location
		from string
		want []string
	}{
		{"daily in UTC", "0 3 * * *", nil, "2026-05-01T03:00:00Z",
			[]string{"2026-05-02T03:00:00Z", "2026-05-03T03:00:00Z"}},
		{"weekdays", "30 22 * * 1-5", nil, "2026-05-01T23:00:00Z", // a Friday
			[]string{"2026-05-04T22:30:00Z", "2026-05-05T22:30:00Z"}},
		{"either day field", "0 0 1 * 0", nil, "2026-05-01T00:00:00Z", // the 1st or a Sunday
			[]string{"2026-05-03T00:00:00Z", "2026-05-10T00:00:00Z", "2026-05-17T00:00:00Z", "2026-05-24T00:00:00Z", "2026-05-31T00:00:00Z", "2026-06-01T00:00:00Z"}},
		{"daily in Berlin, winter then summer", "0 3 * * *", berlin, "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"a time skipped in spring is due at the change", "30 2 * * *", berlin, "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"several skipped times are due once", "*/15 2 * * *", berlin, "2026-03-28T23:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"}},
		{"a time repeated in autumn is due once", "30 2 * * *", berlin, "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"every hour follows real time in spring", "30 * * * *", berlin, "2026-03-28T23:45:00Z",
			[]string{"2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"}},
		{"every hour follows real time in autumn", "30 * * * *", berlin, "2026-10-24T23:45:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"}},
		{"New York spring", "30 2 * * *", newYork, "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"New York autumn", "30 1 * * *", newYork, "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.expr, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			got := slots(c, mustTime(t, tt.from), len(tt.want))
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("slots = %v\nwant    %v", got, tt.want)
			}
		})
	}
}

func TestCronNextIsInZone(t *testing.T) {
	berlin, _ := LoadZone("Europe/Berlin")
	c, _ := ParseCron("0 3 * * *", berlin)
	n := c.Next(mustTime(t, "2026-05-01T00:00:00Z"))
	if n.Location() != berlin || n.Hour() != 3 {
		t.Errorf("Next = %v, want 03:00 in Berlin", n)
	}
}

func TestIntervals(t *testing.T) {
	c, _ := ParseCron("0 3 * * 1-5", nil)
	shortest, longest, n := Intervals(c, mustTime(t, "2024-01-01T00:00:00Z"), 28*24*time.Hour, 1000)
	if shortest != 24*time.Hour || longest != 72*time.Hour || n != 20 {
		t.Errorf("Intervals = %v, %v, %d; want 24h, 72h, 20", shortest, longest, n)
	}
	r := Rate{Every: time.Minute}
	if s, l, n := Intervals(r, mustTime(t, "2024-01-01T00:00:00Z"), time.Hour, 10); s != time.Minute || l != time.Minute || n != 10 {
		t.Errorf("rate Intervals = %v, %v, %d", s, l, n)
	}
	yearly, _ := ParseCron("0 0 29 2 *", nil)
	if s, l, n := Intervals(yearly, mustTime(t, "2024-03-01T00:00:00Z"), 366*24*time.Hour, 10); s != 0 || l != 0 || n != 0 {
		t.Errorf("leap day Intervals over a year = %v, %v, %d; want none", s, l, n)
	}
}
