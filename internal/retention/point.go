package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Point is the view of a recovery point these rules need.
type Point struct {
	ID      string
	Time    time.Time // the server's stamp
	Expires time.Time // zero: kept until deleted by hand
	Tags    []string
}

// Expired reports whether p's expiry has passed at now.
func (p Point) Expired(now time.Time) bool { return !p.Expires.IsZero() && !now.Before(p.Expires) }

// Hold is a legal hold. It covers one point, every point with a tag, or
// every point stamped within a time range; it stops deletion until it is
// released.
type Hold struct {
	ID     int64     `json:"id"`
	Point  string    `json:"point,omitempty"`
	Tag    string    `json:"tag,omitempty"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Reason string    `json:"reason"`
}

// Validate checks that a hold selects points in exactly one way and says
// why it exists.
func (h Hold) Validate() error {
	ways := 0
	if h.Point != "" {
		ways++
	}
	if h.Tag != "" {
		ways++
	}
	if !h.From.IsZero() || !h.To.IsZero() {
		ways++
		if h.From.IsZero() || h.To.IsZero() || h.To.Before(h.From) {
			return fmt.Errorf("%w: a date-range hold needs a start and an end, the end not before the start", ErrInvalid)
		}
	}
	if ways != 1 {
		return fmt.Errorf("%w: a legal hold covers one point, one tag or one date range", ErrInvalid)
	}
	if strings.TrimSpace(h.Reason) == "" {
		return fmt.Errorf("%w: a legal hold needs a reason", ErrInvalid)
	}
	return nil
}

// Covers reports whether the hold applies to p.
func (h Hold) Covers(p Point) bool {
	switch {
	case h.Point != "":
		return h.Point == p.ID
	case h.Tag != "":
		return slices.Contains(p.Tags, h.Tag)
	default:
		return !p.Time.Before(h.From) && !p.Time.After(h.To)
	}
}

// Describe says what the hold covers, for messages.
func (h Hold) Describe() string {
	switch {
	case h.Point != "":
		return "point " + short(h.Point)
	case h.Tag != "":
		return "tag " + h.Tag
	default:
		return fmt.Sprintf("points from %s to %s", h.From.UTC().Format(time.RFC3339), h.To.UTC().Format(time.RFC3339))
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// HeldBy returns the holds that cover p.
func HeldBy(p Point, holds []Hold) []Hold {
	var out []Hold
	for _, h := range holds {
		if h.Covers(p) {
			out = append(out, h)
		}
	}
	return out
}

// CheckDelete decides whether p, in a vault with lock l and under holds, may
// be deleted at now. bypass is true when the caller holds the governance
// bypass. Holds stop every deletion; a compliance lock stops deletion until
// expiry; a governance lock does too unless bypass is set.
func CheckDelete(l Lock, p Point, holds []Hold, now time.Time, bypass bool) error {
	if hs := HeldBy(p, holds); len(hs) > 0 {
		return fmt.Errorf("%w: hold %d on %s (%s); release it first", ErrHeld, hs[0].ID, hs[0].Describe(), hs[0].Reason)
	}
	if p.Expired(now) || l.Mode == None {
		return nil
	}
	until := "it is deleted by hand"
	if !p.Expires.IsZero() {
		until = p.Expires.UTC().Format(time.RFC3339)
	}
	switch l.Mode {
	case Compliance:
		return fmt.Errorf("%w: the compliance lock keeps point %s until %s, for everyone", ErrRetained, short(p.ID), until)
	case Governance:
		if !bypass {
			return fmt.Errorf("%w: the governance lock keeps point %s until %s; only a vault-admin with the governance bypass may delete it earlier", ErrRetained, short(p.ID), until)
		}
	}
	return nil
}

// CheckExpiry decides whether p's expiry may become newExp (zero: kept until
// deleted) at now. Lengthening is allowed up to the lock's maximum;
// shortening needs no lock, or a governance lock and the bypass, and never
// goes below the lock's minimum or into the past.
func CheckExpiry(l Lock, p Point, newExp, now time.Time, bypass bool) error {
	if !newExp.IsZero() && newExp.Before(now) {
		return fmt.Errorf("%w: the new expiry %s is in the past", ErrInvalid, newExp.UTC().Format(time.RFC3339))
	}
	var r time.Duration
	if !newExp.IsZero() {
		r = newExp.Sub(p.Time)
	}
	if err := l.CheckRetention(r); err != nil {
		return err
	}
	shorter := !p.Expires.IsZero() && !newExp.IsZero() && newExp.Before(p.Expires) ||
		p.Expires.IsZero() && !newExp.IsZero()
	if !shorter || l.Mode == None || p.Expired(now) {
		return nil
	}
	if l.Mode == Compliance {
		return fmt.Errorf("%w: the compliance lock forbids shortening the retention of point %s", ErrRetained, short(p.ID))
	}
	if !bypass {
		return fmt.Errorf("%w: the governance lock forbids shortening the retention of point %s without the governance bypass", ErrRetained, short(p.ID))
	}
	return nil
}
