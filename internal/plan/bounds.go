package plan

import (
	"slices"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/retention"
)

// Vault is what checking a plan needs to know of a vault it writes to.
type Vault struct {
	Lock retention.Lock
	// StorageClasses are the cold storage classes the vault's storage
	// offers; none on local disk.
	StorageClasses []string
}

// CheckVaults checks plans against the vaults they write to: each vault
// exists; the longest time any retention rule keeps a point fits under the
// vault lock's maximum retention; max_age and expire_after fit inside the
// lock's bounds; a storage class is one the vault's storage offers. vaults
// holds the vaults of this server by name, and remote vaults the server
// knows as "site:vault"; a remote copy target not in it is checked by its
// own site when the copy arrives. The error is Errors.
func CheckVaults(plans []Plan, vaults map[string]Vault) error {
	var errs Errors
	for i := range plans {
		errs = append(errs, checkVaults(&plans[i], vaults)...)
	}
	return errs.err()
}

func checkVaults(p *Plan, vaults map[string]Vault) Errors {
	var errs Errors
	fail := func(field string, cause error, format string, args ...any) {
		errs = append(errs, fieldError(p, field, cause, format, args...))
	}
	_, longest := gaps(*p)
	v, ok := vaults[p.Vault]
	if !ok {
		fail("vault", nil, "no vault %q on this server", p.Vault)
	} else {
		errs = append(errs, checkLock(p, p.Retention, "retention", p.Vault, v.Lock, longest)...)
		if e := p.Lifecycle.ExpireAfter; e > 0 {
			if err := v.Lock.CheckRetention(e); err != nil {
				fail("lifecycle.expire_after", err, "%s does not fit vault %q's lock: %v", retention.Format(e), p.Vault, err)
			}
		}
		if sc := p.Lifecycle.StorageClass; sc != "" && !slices.Contains(v.StorageClasses, sc) {
			offers := "no cold tier"
			if len(v.StorageClasses) > 0 {
				offers = strings.Join(v.StorageClasses, ", ")
			}
			fail("lifecycle.storage_class", nil, "vault %q's storage does not offer %s; it offers %s", p.Vault, sc, offers)
		}
	}
	for i, c := range p.Copies {
		field := p.copyField(i)
		tv, ok := vaults[c.To]
		if !ok {
			if site, _ := c.Remote(); site == "" {
				fail(field+".to", nil, "no vault %q on this server", c.To)
			}
			continue
		}
		errs = append(errs, checkLock(p, c.Retention, field+".retention", c.To, tv.Lock, longest)...)
	}
	return errs
}

// checkLock checks retention rules r, kept in vault under lock, for runs at
// most longest apart.
func checkLock(p *Plan, r Retention, field, vault string, lock retention.Lock, longest time.Duration) Errors {
	var errs Errors
	if lock.Mode == retention.None {
		return nil
	}
	if r.MaxAge > 0 {
		if err := lock.CheckRetention(r.MaxAge); err != nil {
			errs = append(errs, fieldError(p, field+".max_age", err, "%s does not fit vault %q's lock: %v", retention.Format(r.MaxAge), vault, err))
		}
	}
	if lock.MaxRetention == 0 {
		return errs
	}
	for _, s := range keepSpans(r, longest) {
		if s.field == "max_age" || s.d <= lock.MaxRetention {
			continue
		}
		errs = append(errs, fieldError(p, field+"."+s.field, retention.ErrBounds,
			"keeps points up to %s, longer than the maximum retention %s of vault %q's lock; lower it or set max_age", retention.Format(s.d), retention.Format(lock.MaxRetention), vault))
	}
	return errs
}

// gaps returns the shortest and longest time between two runs of a plan
// whose schedule is valid.
func gaps(p Plan) (shortest, longest time.Duration) {
	spec, err := p.Spec()
	if err != nil {
		return 0, 0
	}
	shortest, longest, _ = intervals(spec)
	return shortest, longest
}

// ruleSpan is the longest time one rule keeps a point.
type ruleSpan struct {
	field string
	d     time.Duration
}

// keepSpans returns, for each rule of r, the longest time it keeps a
// verified point when runs are at most gap apart, capped by max_age:
//
//   - keep_last n: n runs, n × gap.
//   - keep_hourly … keep_yearly n, where the runs fill every bucket (gap no
//     longer than a bucket): the newest point of a bucket is made at most
//     gap before the bucket ends, and is dropped at the first run of the
//     n-th bucket after, so n-1 buckets and two gaps; with sparser runs, n
//     runs. Months and years are taken at their longest calendar length.
//   - keep_within w: w.
func keepSpans(r Retention, gap time.Duration) []ruleSpan {
	var out []ruleSpan
	add := func(field string, d time.Duration) {
		if r.MaxAge > 0 && d > r.MaxAge {
			d = r.MaxAge
		}
		out = append(out, ruleSpan{field, d})
	}
	if r.Keep.Last > 0 {
		add("keep_last", mulSpan(r.Keep.Last, gap))
	}
	for _, b := range []struct {
		field string
		n     int
		span  func(n int) time.Duration
	}{
		{"keep_hourly", r.Keep.Hourly, fixedSpan(time.Hour)},
		{"keep_daily", r.Keep.Daily, fixedSpan(24 * time.Hour)},
		{"keep_weekly", r.Keep.Weekly, fixedSpan(7 * 24 * time.Hour)},
		{"keep_monthly", r.Keep.Monthly, func(n int) time.Duration { return calendarSpan(0, n) }},
		{"keep_yearly", r.Keep.Yearly, func(n int) time.Duration { return calendarSpan(n, 0) }},
	} {
		switch {
		case b.n == 0:
		case gap > b.span(1):
			add(b.field, mulSpan(b.n, gap))
		default:
			add(b.field, capSpan(b.span(b.n-1)+2*gap))
		}
	}
	if r.Keep.Within > 0 {
		add("keep_within", r.Keep.Within)
	}
	if r.MaxAge > 0 {
		add("max_age", r.MaxAge)
	}
	return out
}

// spanLimit is where span arithmetic saturates, well inside time.Duration.
const spanLimit = 2 * retention.MaxSpan

func mulSpan(n int, d time.Duration) time.Duration {
	if d > 0 && time.Duration(n) > spanLimit/d {
		return spanLimit
	}
	return capSpan(time.Duration(n) * d)
}

func capSpan(d time.Duration) time.Duration { return min(d, spanLimit) }

func fixedSpan(unit time.Duration) func(int) time.Duration {
	return func(n int) time.Duration { return mulSpan(n, unit) }
}

// calendarSpan returns the longest time years years and months months
// take, over the starts of the months of a leap-year cycle.
func calendarSpan(years, months int) time.Duration {
	if years > 300 || months > 300*12 {
		return spanLimit
	}
	var longest time.Duration
	for m := range 48 {
		start := time.Date(2024, time.Month(1+m), 1, 0, 0, 0, 0, time.UTC)
		longest = max(longest, start.AddDate(years, months, 0).Sub(start))
	}
	return capSpan(longest)
}
