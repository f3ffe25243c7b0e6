package retention

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/policy"
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

// ParseSpan reads a duration written by Format or by people: whole units of
// h, d, w, m (month) and y, as in "72h" or "1y6m", or "0"; a Go duration
// ending in "s" ("90m0s") for spans that are not whole hours.
func ParseSpan(s string) (time.Duration, error) {
	switch {
	case s == "" || s == "0":
		return 0, nil
	case strings.HasSuffix(s, "s"):
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%w: duration %q: %v", ErrInvalid, s, err)
		}
		return d, nil
	}
	d, err := policy.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return d, nil
}

// lockJSON and policyJSON are how locks and policies look in JSON: spans as
// text ("30d"), the absent lock as mode "none".
type lockJSON struct {
	Mode          string    `json:"mode"`
	MinRetention  string    `json:"min_retention"`
	MaxRetention  string    `json:"max_retention"`
	ChangeableFor string    `json:"changeable_for"`
	SetAt         time.Time `json:"set_at,omitzero"`
}

type policyJSON struct {
	Lock         Lock   `json:"lock"`
	Retention    string `json:"retention"`
	BinRetention string `json:"bin_retention"`
}

// MarshalJSON writes the lock with its spans as text.
func (l Lock) MarshalJSON() ([]byte, error) {
	return json.Marshal(lockJSON{Mode: l.Mode.String(), MinRetention: Format(l.MinRetention), MaxRetention: Format(l.MaxRetention),
		ChangeableFor: Format(l.ChangeableFor), SetAt: l.SetAt})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *Lock) UnmarshalJSON(b []byte) error {
	var j lockJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	mode, err := ParseMode(j.Mode)
	if err != nil {
		return err
	}
	out := Lock{Mode: mode, SetAt: j.SetAt}
	for _, f := range []struct {
		dst *time.Duration
		v   string
	}{{&out.MinRetention, j.MinRetention}, {&out.MaxRetention, j.MaxRetention}, {&out.ChangeableFor, j.ChangeableFor}} {
		if *f.dst, err = ParseSpan(f.v); err != nil {
			return err
		}
	}
	*l = out
	return nil
}

// MarshalJSON writes the policy with its spans as text.
func (p Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{Lock: p.Lock, Retention: Format(p.Retention), BinRetention: Format(p.BinRetention)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var j policyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Policy{Lock: j.Lock}
	var err error
	if out.Retention, err = ParseSpan(j.Retention); err != nil {
		return err
	}
	if out.BinRetention, err = ParseSpan(j.BinRetention); err != nil {
		return err
	}
	*p = out
	return nil
}
