package policy

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "36h", want: 36 * time.Hour},
		{in: "7d", want: 7 * Day},
		{in: "2w", want: 14 * Day},
		{in: "1m", want: 31 * Day},
		{in: "1y", want: 366 * Day},
		{in: "1y6m", want: Year + 6*Month},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "0d", want: 0},
		{in: "007d", want: 7 * Day},
		{in: "200y", want: 200 * Year},
		{in: "", wantErr: "empty"},
		{in: "7", wantErr: "no unit"},
		{in: "d", wantErr: "expected a number"},
		{in: "-7d", wantErr: "expected a number"},
		{in: "7x", wantErr: `unknown unit "x"`},
		{in: "7D", wantErr: `unknown unit "D"`},
		{in: "7d ", wantErr: "expected a number"},
		{in: "1.5d", wantErr: `unknown unit "."`},
		{in: "201y", wantErr: "longer than 200 years"},
		{in: "100y100y1h", wantErr: "longer than 200 years"},
		{in: "99999999999999999999d", wantErr: "too large"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0h"},
		{time.Hour, "1h"},
		{7 * Day, "7d"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Minute, "1h30m0s"},
		{45 * time.Second, "45s"},
		{-2 * Day, "-2d"},
		{time.Duration(-1 << 63), "-106751d23h47m16.854775808s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
