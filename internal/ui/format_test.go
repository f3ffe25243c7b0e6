package ui

import (
	"math"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1048575, "1.0 MiB"}, // would round to 1024.0 KiB
		{1 << 20, "1.0 MiB"},
		{5<<30 + 400<<20, "5.4 GiB"},
		{3 << 40, "3.0 TiB"},
		{1 << 50, "1.0 PiB"},
		{math.MaxInt64, "8.0 EiB"},
		{-1536, "-1.5 KiB"},
		{math.MinInt64, "-8.0 EiB"},
	}
	for _, tt := range tests {
		if got := Bytes(tt.in); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0 B/s"},
		{512.4, "512 B/s"},
		{1023.7, "1.0 KiB/s"},
		{59457126.4, "56.7 MiB/s"},
		{-5, "0 B/s"},
		{math.NaN(), "0 B/s"},
		{math.Inf(1), "+Inf B/s"},
	}
	for _, tt := range tests {
		if got := Rate(tt.in); got != tt.want {
			t.Errorf("Rate(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{850 * time.Millisecond, "850ms"},
		{time.Second, "1s"},
		{1499 * time.Millisecond, "1s"},
		{1500 * time.Millisecond, "2s"},
		{42 * time.Second, "42s"},
		{65 * time.Second, "1m05s"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1h02m03s"},
		{3*24*time.Hour + 4*time.Hour + 5*time.Minute + 6*time.Second, "3d04h05m06s"},
		{-90 * time.Second, "-1m30s"},
		{math.MinInt64, "-106751d23h47m16s"},
		{math.MaxInt64, "106751d23h47m16s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
