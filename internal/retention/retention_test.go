package retention

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestNewLockValidation(t *testing.T) {
	cases := []struct {
		name          string
		mode          Mode
		minR, maxR, g time.Duration
		ok            bool
	}{
		{"compliance", Compliance, 7 * day, 365 * day, 72 * time.Hour, true},
		{"compliance short grace", Compliance, 7 * day, 365 * day, 71 * time.Hour, false},
		{"compliance no grace", Compliance, 7 * day, 0, 0, false},
		{"governance no grace", Governance, 1 * day, 0, 0, true},
		{"max below min", Governance, 10 * day, 5 * day, 0, false},
		{"negative", Governance, -day, 0, 0, false},
		{"none with bounds", None, day, 0, 0, false},
		{"unknown mode", Mode("strict"), 0, 0, 0, false},
		{"too long", Governance, 0, 200 * 366 * day, 0, false},
	}
	for _, c := range cases {
		_, err := NewLock(c.mode, c.minR, c.maxR, c.g, t0)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v does not wrap ErrInvalid", c.name, err)
		}
	}
}

func TestLockDate(t *testing.T) {
	l, err := NewLock(Compliance, day, 0, 72*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.LockDate(); !got.Equal(t0.Add(72 * time.Hour)) {
		t.Fatalf("lock date %v", got)
	}
	if err := l.CheckChange(t0.Add(71 * time.Hour)); err != nil {
		t.Fatalf("change refused inside the grace period: %v", err)
	}
	if err := l.CheckChange(t0.Add(72 * time.Hour)); !errors.Is(err, ErrLockImmutable) {
		t.Fatalf("change at the lock date: %v", err)
	}
	if err := l.CheckChange(t0.Add(1000 * day)); !errors.Is(err, ErrLockImmutable) {
		t.Fatalf("change long after the lock date: %v", err)
	}
	g, _ := NewLock(Governance, day, 0, 0, t0)
	if !g.LockDate().IsZero() || g.CheckChange(t0.Add(1000*day)) != nil {
		t.Fatal("a governance lock without grace became immutable")
	}
	g2, _ := NewLock(Governance, day, 0, day, t0)
	if err := g2.CheckChange(t0.Add(2 * day)); !errors.Is(err, ErrLockImmutable) {
		t.Fatalf("governance lock with a grace period still changeable after it: %v", err)
	}
	var none Lock
	if none.Immutable(t0) || none.CheckChange(t0) != nil {
		t.Fatal("no lock is immutable")
	}
}

func TestCheckRetention(t *testing.T) {
	l, _ := NewLock(Compliance, 7*day, 30*day, 72*time.Hour, t0)
	for _, c := range []struct {
		r  time.Duration
		ok bool
	}{{7 * day, true}, {30 * day, true}, {6 * day, false}, {31 * day, false}, {0, false}, {-day, false}} {
		if err := l.CheckRetention(c.r); (err == nil) != c.ok {
			t.Errorf("retention %s: %v", Format(c.r), err)
		}
	}
	unbounded, _ := NewLock(Governance, 7*day, 0, 0, t0)
	if err := unbounded.CheckRetention(0); err != nil {
		t.Errorf("keep-forever refused without a maximum: %v", err)
	}
	var none Lock
	if err := none.CheckRetention(time.Hour); err != nil {
		t.Error(err)
	}
}

func TestPolicy(t *testing.T) {
	l, _ := NewLock(Compliance, 7*day, 30*day, 72*time.Hour, t0)
	p := Policy{Lock: l, Retention: 14 * day, BinRetention: DefaultBinRetention}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.Expiry(t0); !got.Equal(t0.Add(14 * day)) {
		t.Fatalf("expiry %v", got)
	}
	p.Retention = 60 * day
	if err := p.Validate(); !errors.Is(err, ErrBounds) {
		t.Fatalf("retention above the maximum: %v", err)
	}
	p.Retention, p.BinRetention = 14*day, -1
	if err := p.Validate(); err == nil {
		t.Fatal("negative bin retention accepted")
	}
	if !(Policy{}).Expiry(t0).IsZero() {
		t.Fatal("zero retention gave an expiry")
	}
}

func point(exp time.Duration, tags ...string) Point {
	p := Point{ID: "3fa9c0ffee", Time: t0, Tags: tags}
	if exp != 0 {
		p.Expires = t0.Add(exp)
	}
	return p
}

func TestCheckDelete(t *testing.T) {
	comp, _ := NewLock(Compliance, day, 0, 72*time.Hour, t0)
	gov, _ := NewLock(Governance, day, 0, 0, t0)
	p := point(10 * day)
	before, after := t0.Add(5*day), t0.Add(10*day)

	if err := CheckDelete(comp, p, nil, before, true); !errors.Is(err, ErrRetained) {
		t.Errorf("compliance, before expiry, with bypass: %v", err)
	}
	if err := CheckDelete(comp, p, nil, after, false); err != nil {
		t.Errorf("compliance after expiry: %v", err)
	}
	if err := CheckDelete(gov, p, nil, before, false); !errors.Is(err, ErrRetained) {
		t.Errorf("governance without bypass: %v", err)
	}
	if err := CheckDelete(gov, p, nil, before, true); err != nil {
		t.Errorf("governance with bypass: %v", err)
	}
	if err := CheckDelete(Lock{}, p, nil, before, false); err != nil {
		t.Errorf("no lock: %v", err)
	}
	forever := point(0)
	if err := CheckDelete(comp, forever, nil, t0.Add(10000*day), false); !errors.Is(err, ErrRetained) {
		t.Errorf("a keep-forever point in a compliance vault: %v", err)
	}
	hold := Hold{ID: 4, Tag: "case-17", Reason: "litigation"}
	tagged := point(10*day, "case-17")
	for _, l := range []Lock{{}, gov, comp} {
		if err := CheckDelete(l, tagged, []Hold{hold}, after, true); !errors.Is(err, ErrHeld) {
			t.Errorf("held point deleted under %s lock: %v", l.Mode, err)
		}
	}
	if err := CheckDelete(Lock{}, p, []Hold{hold}, after, false); err != nil {
		t.Errorf("hold on another tag stopped deletion: %v", err)
	}
}

func TestHoldCovers(t *testing.T) {
	p := point(day, "db")
	cases := []struct {
		h    Hold
		want bool
	}{
		{Hold{Point: p.ID, Reason: "r"}, true},
		{Hold{Point: "other", Reason: "r"}, false},
		{Hold{Tag: "db", Reason: "r"}, true},
		{Hold{Tag: "web", Reason: "r"}, false},
		{Hold{From: t0, To: t0, Reason: "r"}, true},
		{Hold{From: t0.Add(-day), To: t0.Add(-time.Nanosecond), Reason: "r"}, false},
		{Hold{From: t0.Add(time.Nanosecond), To: t0.Add(day), Reason: "r"}, false},
	}
	for i, c := range cases {
		if err := c.h.Validate(); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := c.h.Covers(p); got != c.want {
			t.Errorf("case %d (%s): covers = %v", i, c.h.Describe(), got)
		}
	}
	bad := []Hold{
		{Reason: "r"},
		{Point: "x", Tag: "y", Reason: "r"},
		{Tag: "y"},
		{From: t0, Reason: "r"},
		{From: t0, To: t0.Add(-time.Second), Reason: "r"},
	}
	for i, h := range bad {
		if err := h.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad hold %d accepted: %v", i, err)
		}
	}
}

func TestCheckExpiry(t *testing.T) {
	comp, _ := NewLock(Compliance, 7*day, 60*day, 72*time.Hour, t0)
	gov, _ := NewLock(Governance, 7*day, 0, 0, t0)
	p := point(30 * day)
	now := t0.Add(day)
	cases := []struct {
		name   string
		l      Lock
		exp    time.Time
		bypass bool
		want   error
	}{
		{"extend compliance", comp, t0.Add(40 * day), false, nil},
		{"extend past max", comp, t0.Add(61 * day), false, ErrBounds},
		{"shorten compliance", comp, t0.Add(20 * day), true, ErrRetained},
		{"shorten below min", gov, t0.Add(6 * day), true, ErrBounds},
		{"shorten governance no bypass", gov, t0.Add(20 * day), false, ErrRetained},
		{"shorten governance bypass", gov, t0.Add(20 * day), true, nil},
		{"into the past", Lock{}, t0, false, ErrInvalid},
		{"shorten no lock", Lock{}, t0.Add(2 * day), false, nil},
		{"forever under max", comp, time.Time{}, false, ErrBounds},
	}
	for _, c := range cases {
		err := CheckExpiry(c.l, p, c.exp, now, c.bypass)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	forever := point(0)
	if err := CheckExpiry(gov, forever, t0.Add(10*day), now, false); !errors.Is(err, ErrRetained) {
		t.Errorf("giving a keep-forever governance point an expiry without bypass: %v", err)
	}
}

func TestParseModeAndFormat(t *testing.T) {
	for _, s := range []string{"", "none", "governance", "compliance"} {
		if _, err := ParseMode(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseMode("COMPLIANCE"); err == nil {
		t.Error("accepted an upper-case mode")
	}
	for d, want := range map[time.Duration]string{0: "0", 72 * time.Hour: "3d", 36 * time.Hour: "1d12h", 5 * time.Hour: "5h", 90 * time.Minute: "1h30m0s"} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestPolicyJSON(t *testing.T) {
	l, _ := NewLock(Compliance, 7*day, 365*day, 72*time.Hour, t0)
	p := Policy{Lock: l, Retention: 30 * day, BinRetention: 90 * time.Minute}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"lock":{"mode":"compliance","min_retention":"7d","max_retention":"365d","changeable_for":"3d","set_at":"2026-11-01T12:00:00Z"},"retention":"30d","bin_retention":"1h30m0s"}`
	if string(b) != want {
		t.Fatalf("JSON %s\nwant %s", b, want)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != p {
		t.Fatalf("round trip %+v, want %+v", back, p)
	}
	none, _ := json.Marshal(Policy{})
	if string(none) != `{"lock":{"mode":"none","min_retention":"0","max_retention":"0","changeable_for":"0"},"retention":"0","bin_retention":"0"}` {
		t.Fatalf("empty policy: %s", none)
	}
	for _, bad := range []string{`{"lock":{"mode":"strict"}}`, `{"retention":"5x"}`, `{"retention":"xs"}`, `{"lock":{"min_retention":"-"}}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	for s, d := range map[string]time.Duration{"30m0s": 30 * time.Minute, "2w": 14 * day, "1y": 366 * day, "0": 0} {
		if got, err := ParseSpan(s); err != nil || got != d {
			t.Errorf("ParseSpan(%q) = %v, %v", s, got, err)
		}
	}
}
