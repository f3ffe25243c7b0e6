package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRulesEmpty(t *testing.T) {
	tests := []struct {
		r    Rules
		want bool
	}{
		{Rules{}, true},
		{Rules{Tags: []string{}}, true},
		{Rules{Last: 1}, false},
		{Rules{Hourly: 1}, false},
		{Rules{Daily: 1}, false},
		{Rules{Weekly: 1}, false},
		{Rules{Monthly: 1}, false},
		{Rules{Yearly: 1}, false},
		{Rules{Within: time.Hour}, false},
		{Rules{Tags: []string{"keep"}}, false},
	}
	for _, tt := range tests {
		if got := tt.r.Empty(); got != tt.want {
			t.Errorf("%+v.Empty() = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		r       Rules
		wantErr string // empty: valid
	}{
		{Rules{}, ""},
		{Rules{Last: 3, Daily: 7, Within: Week, Tags: []string{"a"}}, ""},
		{Rules{Last: -1}, "keep-last is -1"},
		{Rules{Hourly: -2}, "keep-hourly is -2"},
		{Rules{Daily: -1}, "keep-daily is -1"},
		{Rules{Weekly: -1}, "keep-weekly is -1"},
		{Rules{Monthly: -1}, "keep-monthly is -1"},
		{Rules{Yearly: -5}, "keep-yearly is -5"},
		{Rules{Within: -time.Hour}, "keep-within is -1h0m0s"},
		{Rules{Tags: []string{"a", " "}}, "keep-tag 2 is empty"},
	}
	for _, tt := range tests {
		err := tt.r.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%+v.Validate() = %v, want nil", tt.r, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v.Validate() = %v, want ErrInvalidRule containing %q", tt.r, err, tt.wantErr)
		}
	}
}

func TestRulesString(t *testing.T) {
	tests := []struct {
		r    Rules
		want string
	}{
		{Rules{}, "no rule"},
		{Rules{Last: 3, Daily: 7, Within: Week}, "last 3, daily 7, within 7d"},
		{Rules{Weekly: 4, Monthly: 12, Yearly: 5, Tags: []string{"legal"}}, `weekly 4, monthly 12, yearly 5, tag "legal"`},
		{Rules{Hourly: 24}, "hourly 24"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
