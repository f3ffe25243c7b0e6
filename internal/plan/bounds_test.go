package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/policy"
	"github.com/bunkerhq/bunker/internal/retention"
)

func lock(t *testing.T, mode retention.Mode, minRet, maxRet string) retention.Lock {
	t.Helper()
	lo, err := retention.ParseSpan(minRet)
	if err != nil {
		t.Fatal(err)
	}
	hi, err := retention.ParseSpan(maxRet)
	if err != nil {
		t.Fatal(err)
	}
	l, err := retention.NewLock(mode, lo, hi, 72*time.Hour, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCheckVaults(t *testing.T) {
	plans := decodeFile(t, "testdata/plans.yaml")
	vaults := map[string]Vault{
		"prod":      {Lock: lock(t, retention.Compliance, "7d", "1y"), StorageClasses: []string{"STANDARD_IA", "GLACIER"}},
		"prod-copy": {Lock: lock(t, retention.Governance, "1d", "")},
	}
	if err := CheckVaults(plans, vaults); err != nil {
		t.Fatalf("the example plans do not fit: %v", err)
	}
	tests := []struct {
		name   string
		change func(p *Plan, v map[string]Vault)
		want   string
	}{
		{"missing vault", func(p *Plan, v map[string]Vault) { delete(v, "prod") },
			`plan "db": vault (line 10): no vault "prod" on this server`},
		{"max age above the lock's maximum", func(p *Plan, v map[string]Vault) { p.Retention.MaxAge = 2 * policy.Year },
			`plan "db": retention.max_age (line 24): 732d does not fit vault "prod"'s lock: retention outside the vault lock's bounds: retention 732d is longer than the maximum 366d`},
		{"max age under the lock's minimum", func(p *Plan, v map[string]Vault) { p.Retention.MaxAge = 3 * day },
			`plan "db": retention.max_age (line 24): 3d does not fit vault "prod"'s lock: retention outside the vault lock's bounds: retention 3d is shorter than the minimum 7d`},
		{"a rule past the maximum", func(p *Plan, v map[string]Vault) {
			p.Retention.MaxAge, p.Lifecycle.ExpireAfter = 0, 0
			p.Retention.Keep.Yearly = 3
		},
			`plan "db": retention.keep_yearly (line 19): keeps points up to 733d2h, longer than the maximum retention 366d of vault "prod"'s lock; lower it or set max_age`},
		{"expiry under the minimum", func(p *Plan, v map[string]Vault) {
			p.Lifecycle.ExpireAfter, p.Retention.MaxAge, p.Lifecycle.ColdAfter = 5*day, 0, 2*day
			p.Retention.Keep = policy.Rules{Last: 3}
		}, `plan "db": lifecycle.expire_after (line 28): 5d does not fit vault "prod"'s lock: retention outside the vault lock's bounds: retention 5d is shorter than the minimum 7d`},
		{"storage class not offered", func(p *Plan, v map[string]Vault) { p.Lifecycle.StorageClass = "DEEP_ARCHIVE" },
			`plan "db": lifecycle.storage_class (line 27): vault "prod"'s storage does not offer DEEP_ARCHIVE; it offers STANDARD_IA, GLACIER`},
		{"no cold tier", func(p *Plan, v map[string]Vault) { v["prod"] = Vault{Lock: v["prod"].Lock} },
			`plan "db": lifecycle.storage_class (line 27): vault "prod"'s storage does not offer GLACIER; it offers no cold tier`},
		{"missing copy target", func(p *Plan, v map[string]Vault) { delete(v, "prod-copy") },
			`plan "db": copies[1].to (line 33): no vault "prod-copy" on this server`},
		{"remote copy over the remote lock", func(p *Plan, v map[string]Vault) {
			v["central:shop-db"] = Vault{Lock: lock(t, retention.Compliance, "30d", "1y")}
		},
			`plan "db": copies[0].retention.keep_monthly (line 32): keeps points up to 705d2h, longer than the maximum retention 366d of vault "central:shop-db"'s lock`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plans[0].clone()
			p.lines = plans[0].lines
			v := map[string]Vault{}
			for k, x := range vaults {
				v[k] = x
			}
			tt.change(&p, v)
			err := CheckVaults([]Plan{p}, v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", err)
			}
		})
	}
}

func TestKeepSpans(t *testing.T) {
	spans := func(r Retention, gap time.Duration) map[string]time.Duration {
		m := map[string]time.Duration{}
		for _, s := range keepSpans(r, gap) {
			m[s.field] = s.d
		}
		return m
	}
	got := spans(Retention{Keep: policy.Rules{Last: 7, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 2, Within: 3 * day}}, day)
	want := map[string]time.Duration{
		"keep_last": 7 * day, "keep_daily": 8 * day, "keep_weekly": 23 * day,
		// Eleven months at their longest, and two days.
		"keep_monthly": 337*day + 2*day, "keep_yearly": 366*day + 2*day, "keep_within": 3 * day,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %s, want %s", k, retention.Format(got[k]), retention.Format(w))
		}
	}
	// Weekly runs keep a week per daily bucket.
	if d := spans(Retention{Keep: policy.Rules{Daily: 7}}, 7*day)["keep_daily"]; d != 49*day {
		t.Errorf("daily 7 with weekly runs = %s, want 49d", retention.Format(d))
	}
	// max_age caps every rule.
	if d := spans(Retention{Keep: policy.Rules{Yearly: 10}, MaxAge: 90 * day}, day)["keep_yearly"]; d != 90*day {
		t.Errorf("capped = %s", retention.Format(d))
	}
	// Huge counts saturate rather than overflow.
	if d := spans(Retention{Keep: policy.Rules{Last: maxCount, Monthly: maxCount}}, 366*day); d["keep_last"] != spanLimit || d["keep_monthly"] != spanLimit {
		t.Errorf("saturation: %v", d)
	}
}

func TestUnlockedVaultTakesAnyRetention(t *testing.T) {
	plans := decodeFile(t, "testdata/plans.yaml")
	p := plans[0]
	p.Retention.Keep.Yearly, p.Retention.MaxAge, p.Lifecycle = 50, 0, Lifecycle{}
	if err := CheckVaults([]Plan{p}, map[string]Vault{"prod": {}, "prod-copy": {}}); err != nil {
		t.Error(err)
	}
}

// Canonical sorts copies by target, but a refusal of one names its place
// and line in the file.
func TestCheckVaultsNamesCopiesInFileOrder(t *testing.T) {
	file := `name: web
schedule:
  rate: every 1h
vault: prod
sources:
  - host: web1
    paths: [/srv]
copies:
  - to: zz-missing
  - to: copy
`
	plans, err := Decode(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if plans[0].Copies[0].To != "copy" {
		t.Fatalf("copies not in canonical order: %+v", plans[0].Copies)
	}
	err = CheckVaults(plans, map[string]Vault{"prod": {}, "copy": {}})
	if want := `plan "web": copies[0].to (line 9): no vault "zz-missing" on this server`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	again, err := plans[0].Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckVaults([]Plan{again}, map[string]Vault{"prod": {}, "copy": {}}); err == nil || !strings.Contains(err.Error(), "copies[0].to (line 9)") {
		t.Fatalf("after Canonical again: %v", err)
	}
}
