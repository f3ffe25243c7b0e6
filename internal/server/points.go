package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

func (s *Server) pointView(v *store.Vault, p *store.Point, holds []store.Hold) api.Point {
	view := api.Point{Point: p, Lock: v.Policy.Lock.Mode}
	rp := p.RetentionView()
	view.Retained = !rp.Expired(s.cfg.Now()) && v.Policy.Lock.Mode != retention.None
	for _, h := range holds {
		if h.Covers(rp) {
			view.Holds = append(view.Holds, h.ID)
		}
	}
	return view
}

func activeHolds(hs []store.Hold) []retention.Hold {
	out := make([]retention.Hold, 0, len(hs))
	for _, h := range hs {
		if h.Active() {
			out = append(out, h.Hold)
		}
	}
	return out
}

func (s *Server) handlePointList(c *call) error {
	vault, err := c.vaultParam(rbac.PointRead)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.PointFilter{Vault: vault, State: store.PointState(q.Get("state")), Hostname: q.Get("host"), Tag: q.Get("tag")}
	switch f.State {
	case "":
		f.State = store.Active
	case "all":
		f.State = ""
	case store.Active, store.Binned:
	default:
		return badRequest("state must be active, binned or all, not %q", clip(string(f.State)))
	}
	out := []api.Point{}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		v, err := s.loadVault(c, tx, vault)
		if err != nil {
			return err
		}
		ps, err := tx.Points(c.ctx, f)
		if err != nil {
			return err
		}
		hs, err := tx.Holds(c.ctx, vault, false)
		if err != nil {
			return err
		}
		vs, err := tx.PointVerifications(c.ctx, vault)
		if err != nil {
			return err
		}
		verdicts, err := tx.PointVerdicts(c.ctx, vault)
		if err != nil {
			return err
		}
		for i := range ps {
			if path := q.Get("path"); path != "" && !slices.Contains(ps[i].Paths, path) {
				continue
			}
			view := s.pointView(v, &ps[i], hs)
			if pv, ok := vs[ps[i].ID]; ok {
				view.Verified = verifyView(&pv)
			}
			if pv, ok := verdicts[ps[i].ID]; ok {
				view.Verdict = verdictView(&pv)
			}
			out = append(out, view)
		}
		return nil
	})
	if err != nil {
		return err
	}
	list := api.PointList{Points: out}
	list.FirstInfected, list.LastClean = api.TimelineEnds(out)
	return c.ok(http.StatusOK, list)
}

// findPoint resolves "latest" or an id prefix of at least 4 hex digits among
// a vault's points in state (any state when empty).
func findPoint(c *call, tx store.Tx, vault, ref string, state store.PointState) (*store.Point, error) {
	if ref == "latest" {
		st := state
		if st == "" {
			st = store.Active
		}
		ps, err := tx.Points(c.ctx, store.PointFilter{Vault: vault, State: st})
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, notFound("vault %s has no %s points", vault, st)
		}
		return &ps[len(ps)-1], nil
	}
	ref = strings.ToLower(ref)
	if len(ref) < 4 || len(ref) > 64 || strings.Trim(ref, "0123456789abcdef") != "" {
		return nil, badRequest("point reference %q: give at least 4 hex digits of its id, or \"latest\"", clip(ref))
	}
	ps, err := tx.Points(c.ctx, store.PointFilter{Vault: vault, Prefix: ref, State: state})
	if err != nil {
		return nil, err
	}
	switch len(ps) {
	case 0:
		return nil, notFound("no point %s in vault %s", ref, vault)
	case 1:
		return &ps[0], nil
	}
	return nil, badRequest("point reference %s is ambiguous in vault %s: give more digits", ref, vault)
}

func (s *Server) handlePointShow(c *call) error {
	vault, err := c.vaultParam(rbac.PointRead)
	if err != nil {
		return err
	}
	var view api.Point
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		v, err := s.loadVault(c, tx, vault)
		if err != nil {
			return err
		}
		p, err := findPoint(c, tx, vault, c.r.PathValue("point"), "")
		if err != nil {
			return err
		}
		hs, err := tx.Holds(c.ctx, vault, false)
		if err != nil {
			return err
		}
		view = s.pointView(v, p, hs)
		pv, err := tx.PointVerification(c.ctx, vault, p.ID)
		switch {
		case err == nil:
			view.Verified = verifyView(pv)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		vd, err := tx.PointVerdict(c.ctx, vault, p.ID)
		switch {
		case err == nil:
			view.Verdict = verdictView(vd)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// pointParams are what a guarded operation on a point pins: the point,
// and for a shortened retention the new expiry.
type pointParams struct {
	Point   string     `json:"point"`
	Expires *time.Time `json:"expires,omitempty"`
}

// handlePointDelete moves a point to the recycle bin, if neither a legal
// hold nor the vault's lock keeps it; before its expiry, with the approval
// of the vault's team where it has one.
func (s *Server) handlePointDelete(c *call) error {
	vault, err := c.vaultParam(rbac.PointDelete)
	if err != nil {
		return err
	}
	g := &gate{}
	var view api.Point
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		view, err = s.deletePoint(c, tx, vault, c.r.PathValue("point"), g)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	return c.ok(http.StatusOK, view)
}

// pointToChange checks that the caller has perm on vault and returns the
// vault, its active point ref, and whether the caller may bypass a
// governance lock; the call's target becomes the point.
func (s *Server) pointToChange(c *call, tx store.Tx, perm rbac.Permission, vault, ref string) (*store.Vault, *store.Point, bool, error) {
	if err := c.require(perm, vault); err != nil {
		return nil, nil, false, err
	}
	v, err := s.loadVault(c, tx, vault)
	if err != nil {
		return nil, nil, false, err
	}
	p, err := findPoint(c, tx, vault, ref, store.Active)
	if err != nil {
		return nil, nil, false, err
	}
	c.target = "point/" + vault + "/" + p.ID
	return v, p, c.id.can(rbac.GovernanceBypass, vault), nil
}

// deletePoint bins a point in tx (see handlePointDelete).
func (s *Server) deletePoint(c *call, tx store.Tx, vault, ref string, g *gate) (api.Point, error) {
	v, p, bypass, err := s.pointToChange(c, tx, rbac.PointDelete, vault, ref)
	if err != nil {
		return api.Point{}, err
	}
	now := s.cfg.Now().UTC()
	hs, err := tx.Holds(c.ctx, vault, false)
	if err != nil {
		return api.Point{}, err
	}
	if err := retention.CheckDelete(v.Policy.Lock, p.RetentionView(), activeHolds(hs), now, bypass); err != nil {
		return api.Point{}, conflict("%v", err)
	}
	expired := p.RetentionView().Expired(now)
	if !expired {
		team, err := s.guardian(c, tx, vault, approval.DeleteEarly)
		if err != nil {
			return api.Point{}, err
		}
		g.params = pointParams{Point: p.ID}
		if wait, err := s.need(c, tx, g, approval.DeleteEarly, vault, c.target, team); err != nil || wait {
			return api.Point{}, err
		}
	}
	early := !expired && v.Policy.Lock.Mode == retention.Governance
	binPoint(p, now, v.Policy.BinRetention, c.id.name(), "deleted")
	if err := tx.UpdatePoint(c.ctx, p); err != nil {
		return api.Point{}, err
	}
	s.metrics.points.WithLabelValues("binned").Inc()
	return s.pointView(v, p, hs), c.audit(tx, audit.OutcomeOK, map[string]any{"governance_bypass": early, "purge_after": p.PurgeAfter})
}

// binPoint moves p into the recycle bin at now.
func binPoint(p *store.Point, now time.Time, binFor time.Duration, by, reason string) {
	p.State, p.BinnedAt, p.PurgeAfter, p.BinnedBy, p.BinReason = store.Binned, now, now.Add(binFor), by, reason
}

// handlePointUndelete brings a point back from the recycle bin. A point
// that had expired gets a new expiry from the vault's retention, as a new
// point would, within the lock's bounds; one too old for them stays in the
// bin.
func (s *Server) handlePointUndelete(c *call) error {
	vault, err := c.vaultParam(rbac.PointDelete)
	if err != nil {
		return err
	}
	var view api.Point
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		v, err := s.loadVault(c, tx, vault)
		if err != nil {
			return err
		}
		p, err := findPoint(c, tx, vault, c.r.PathValue("point"), store.Binned)
		if err != nil {
			return err
		}
		c.target = "point/" + vault + "/" + p.ID
		reason, oldExp := p.BinReason, p.Expires
		now := s.cfg.Now().UTC()
		if p.RetentionView().Expired(now) {
			p.Expires = v.Policy.Expiry(now)
			var r time.Duration
			if !p.Expires.IsZero() {
				r = p.Expires.Sub(p.Time)
			}
			if err := v.Policy.Lock.CheckRetention(r); err != nil {
				return conflict("point %s cannot come back from the bin: a new expiry of %s would give it a retention the vault's lock does not allow (%v)", p.ID[:8], p.Expires.Format(time.RFC3339), err)
			}
		}
		p.State, p.BinnedAt, p.PurgeAfter, p.BinnedBy, p.BinReason = store.Active, time.Time{}, time.Time{}, "", ""
		if err := tx.UpdatePoint(c.ctx, p); err != nil {
			return err
		}
		hs, err := tx.Holds(c.ctx, vault, false)
		if err != nil {
			return err
		}
		view = s.pointView(v, p, hs)
		return c.audit(tx, audit.OutcomeOK, map[string]any{"binned_as": reason, "expires_was": oldExp, "expires": p.Expires})
	})
	if err != nil {
		return err
	}
	s.metrics.points.WithLabelValues("undeleted").Inc()
	return c.ok(http.StatusOK, view)
}

// handlePointRetention changes a point's expiry within the vault lock's
// rules: lengthening up to the maximum; shortening only without a lock, or
// with the governance bypass, and with the approval of the vault's team
// where it has one.
func (s *Server) handlePointRetention(c *call) error {
	vault, err := c.vaultParam(rbac.PointRetain)
	if err != nil {
		return err
	}
	var req api.RetentionRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	ways := 0
	for _, set := range []bool{req.Expires != nil, req.ExtendBy != "", req.Forever} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		return badRequest("give exactly one of expires, extend_by or forever")
	}
	g := &gate{}
	var view api.Point
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		p, err := findPoint(c, tx, vault, c.r.PathValue("point"), store.Active)
		if err != nil {
			return err
		}
		var exp time.Time
		switch {
		case req.Expires != nil:
			exp = req.Expires.UTC()
		case req.ExtendBy != "":
			d, err := parseSpan("extend_by", req.ExtendBy)
			if err != nil {
				return err
			}
			if p.RetentionView().Expires.IsZero() {
				return conflict("point %s is already kept until deleted by hand", p.ID[:8])
			}
			exp = p.RetentionView().Expires.Add(d)
		}
		view, err = s.retainPoint(c, tx, vault, p.ID, exp, g)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	return c.ok(http.StatusOK, view)
}

// retainPoint sets a point's expiry in tx (zero: kept until deleted by
// hand); see handlePointRetention.
func (s *Server) retainPoint(c *call, tx store.Tx, vault, id string, exp time.Time, g *gate) (api.Point, error) {
	v, p, bypass, err := s.pointToChange(c, tx, rbac.PointRetain, vault, id)
	if err != nil {
		return api.Point{}, err
	}
	now := s.cfg.Now().UTC()
	old := p.RetentionView().Expires
	if err := retention.CheckExpiry(v.Policy.Lock, p.RetentionView(), exp, now, bypass); err != nil {
		if errors.Is(err, retention.ErrInvalid) {
			return api.Point{}, badRequest("%v", err)
		}
		return api.Point{}, conflict("%v", err)
	}
	if !exp.IsZero() && (old.IsZero() || exp.Before(old)) {
		team, err := s.guardian(c, tx, vault, approval.DeleteEarly)
		if err != nil {
			return api.Point{}, err
		}
		g.params = pointParams{Point: p.ID, Expires: &exp}
		if wait, err := s.need(c, tx, g, approval.DeleteEarly, vault, c.target, team); err != nil || wait {
			return api.Point{}, err
		}
	}
	p.Expires = exp
	if err := tx.UpdatePoint(c.ctx, p); err != nil {
		return api.Point{}, err
	}
	hs, err := tx.Holds(c.ctx, vault, false)
	if err != nil {
		return api.Point{}, err
	}
	return s.pointView(v, p, hs), c.audit(tx, audit.OutcomeOK, map[string]any{"from": old, "to": exp})
}

func (s *Server) handleHoldCreate(c *call) error {
	vault, err := c.vaultParam(rbac.PointHold)
	if err != nil {
		return err
	}
	var req api.HoldRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if len(req.Reason) > 1000 {
		return badRequest("reason: at most 1000 characters")
	}
	if req.Tag != "" {
		if err := checkTags([]string{req.Tag}); err != nil {
			return err
		}
	}
	h := &store.Hold{Hold: retention.Hold{Tag: req.Tag, Reason: req.Reason}, Vault: vault, CreatedAt: s.cfg.Now().UTC(), CreatedBy: c.id.name()}
	if req.From != nil {
		h.From = req.From.UTC()
	}
	if req.To != nil {
		h.To = req.To.UTC()
	}
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		if _, err := s.loadVault(c, tx, vault); err != nil {
			return err
		}
		if req.Point != "" {
			p, err := findPoint(c, tx, vault, req.Point, "")
			if err != nil {
				return err
			}
			h.Point = p.ID
		}
		if err := h.Validate(); err != nil {
			return badRequest("%v", err)
		}
		if err := tx.CreateHold(c.ctx, h); err != nil {
			return err
		}
		c.target = fmt.Sprintf("hold/%s/%d", vault, h.ID)
		return c.audit(tx, audit.OutcomeOK, map[string]any{"covers": h.Describe(), "reason": h.Reason})
	})
	if err != nil {
		return err
	}
	if err := s.holdStorage(c, vault); err != nil {
		return err
	}
	return c.ok(http.StatusCreated, h)
}

func (s *Server) handleHoldList(c *call) error {
	vault, err := c.vaultParam(rbac.PointRead)
	if err != nil {
		return err
	}
	all := c.r.URL.Query().Get("released") == "true"
	out := []store.Hold{}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		if _, err := s.loadVault(c, tx, vault); err != nil {
			return err
		}
		hs, err := tx.Holds(c.ctx, vault, all)
		out = append(out, hs...)
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"holds": out})
}

// holdParams are what a guarded release of a legal hold pins.
type holdParams struct {
	Hold int64 `json:"hold"`
}

func (s *Server) handleHoldRelease(c *call) error {
	vault := c.r.PathValue("vault")
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil {
		return badRequest("hold id %q is not a number", clip(c.r.PathValue("id")))
	}
	c.target = fmt.Sprintf("hold/%s/%d", clip(vault), id)
	if err := c.require(rbac.PointHold, vault); err != nil {
		return err
	}
	g := &gate{}
	var h *store.Hold
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		h, err = s.releaseHold(c, tx, vault, id, g)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	if err := s.holdStorage(c, vault); err != nil {
		return err
	}
	return c.ok(http.StatusOK, h)
}

// releaseHold releases a legal hold in tx, with the approval of the
// vault's team where it has one; the caller then updates the storage's
// holds (holdStorage).
func (s *Server) releaseHold(c *call, tx store.Tx, vault string, id int64, g *gate) (*store.Hold, error) {
	if err := c.require(rbac.PointHold, vault); err != nil {
		return nil, err
	}
	c.target = fmt.Sprintf("hold/%s/%d", vault, id)
	h, err := tx.Hold(c.ctx, vault, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no legal hold %d in vault %s", id, vault)
	}
	if err != nil {
		return nil, err
	}
	if !h.Active() {
		return nil, conflict("legal hold %d was already released", id)
	}
	team, err := s.guardian(c, tx, vault, approval.HoldRelease)
	if err != nil {
		return nil, err
	}
	g.params = holdParams{Hold: id}
	if wait, err := s.need(c, tx, g, approval.HoldRelease, vault, c.target, team); err != nil || wait {
		return nil, err
	}
	h.ReleasedAt, h.ReleasedBy = s.cfg.Now().UTC(), c.id.name()
	if err := tx.UpdateHold(c.ctx, h); err != nil {
		return nil, err
	}
	return h, c.audit(tx, audit.OutcomeOK, map[string]any{"covers": h.Describe()})
}

// holdStorage makes the storage's legal holds match the vault's after a
// hold changed, where the storage has legal holds of its own.
func (s *Server) holdStorage(c *call, vault string) error {
	ov, err := s.vaults.byName(c, vault)
	if err != nil {
		return err
	}
	if _, _, err := s.syncHolds(context.WithoutCancel(c.ctx), vault, ov); err != nil {
		return fmt.Errorf("the legal hold is recorded, but placing it on the storage failed (the next maintenance pass tries again): %w", err)
	}
	return nil
}
