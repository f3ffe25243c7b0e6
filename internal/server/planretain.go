package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/policy"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/store"
)

// Why a plan drops a point, as its bin reason and its report say.
const (
	dropRetention = "retention"    // no retention rule of the plan keeps it
	dropExpired   = "expire_after" // older than the plan's lifecycle expire_after
)

// maxEventPoints bounds the point ids a plan.dropped event lists, to keep
// it well inside an event's size limit; its counts count them all.
const maxEventPoints = 200

// planDrop is the retention that drops a point, by its report's index,
// and why.
type planDrop struct {
	report int
	reason string
}

// vaultPoints is what applying plans needs of a vault's catalog.
type vaultPoints struct {
	points   []store.Point // active, oldest first
	holds    []retention.Hold
	verified map[string]bool // verified intact and not found infected
}

func loadVaultPoints(ctx context.Context, tx store.Tx, vault string) (*vaultPoints, error) {
	ps, err := tx.Points(ctx, store.PointFilter{Vault: vault, State: store.Active})
	if err != nil {
		return nil, err
	}
	hs, err := tx.Holds(ctx, vault, false)
	if err != nil {
		return nil, err
	}
	vs, err := tx.PointVerifications(ctx, vault)
	if err != nil {
		return nil, err
	}
	verdicts, err := tx.PointVerdicts(ctx, vault)
	if err != nil {
		return nil, err
	}
	vp := &vaultPoints{points: ps, holds: activeHolds(hs), verified: map[string]bool{}}
	for _, p := range ps {
		v, ok := vs[p.ID]
		vp.verified[p.ID] = ok && v.OK && verdicts[p.ID].Level != store.VerdictInfected
	}
	return vp, nil
}

// plansOf returns the plans that write to vault.
func plansOf(plans []plan.Plan, vault string) []plan.Plan {
	var out []plan.Plan
	for _, p := range plans {
		if p.Vault == vault {
			out = append(out, p)
		}
	}
	return out
}

// covers reports whether point p was made by one of pl's sources: the
// same host and the same paths (for a stdin source, the one file the
// point holds). Copies that arrived from elsewhere are not the plan's.
func covers(pl *plan.Plan, p *store.Point) bool {
	return p.Origin == nil && fromSource(pl, p)
}

// copyOf reports whether point p is a copy, made on this server, of a
// point of pl's vault and sources: what pl's copy actions make.
func copyOf(pl *plan.Plan, p *store.Point) bool {
	o := p.Origin
	return o != nil && o.Site == "" && o.Vault == pl.Vault && fromSource(pl, p)
}

// fromSource reports whether p has the host and paths of one of pl's
// sources.
func fromSource(pl *plan.Plan, p *store.Point) bool {
	for _, src := range pl.Sources {
		if src.Host != p.Hostname {
			continue
		}
		want := src.Paths
		if src.Stdin != nil {
			want = []string{"/" + src.Stdin.Name}
		}
		if slices.Equal(slices.Compact(slices.Sorted(slices.Values(want))), p.Paths) {
			return true
		}
	}
	return false
}

// retainer is retention a maintenance pass applies to some of a vault's
// points: a plan's own rules and expire_after to its points, or a copy
// action's rules to the copies of the plan's points in the copy's vault.
type retainer struct {
	plan   *plan.Plan
	rules  plan.Retention
	expire time.Duration
	copies bool // a copy action's: the copies of the plan's points
}

// retainers returns the retention applied in vault: the plans that write
// to it, in order, then the copy actions with retention rules that copy
// into it.
func retainers(own, all []plan.Plan, vault string) []retainer {
	var out []retainer
	for i := range own {
		out = append(out, retainer{plan: &own[i], rules: own[i].Retention, expire: own[i].Lifecycle.ExpireAfter})
	}
	for i := range all {
		for _, c := range all[i].Copies {
			if site, to := c.Remote(); site == "" && to == vault && !c.Retention.Empty() {
				out = append(out, retainer{plan: &all[i], rules: c.Retention, copies: true})
			}
		}
	}
	return out
}

// holds reports whether p is one of the points r applies to.
func (r *retainer) holds(p *store.Point) bool {
	if r.copies {
		return copyOf(r.plan, p)
	}
	return covers(r.plan, p)
}

// timeOf is the time r's rules count p at: a copy counts its original's,
// the age of the data it holds, so that copies made together keep the
// places of the runs they copy.
func (r *retainer) timeOf(p *store.Point) time.Time {
	if r.copies {
		return p.Origin.Time
	}
	return p.Time
}

// report is r's empty maintenance report.
func (r *retainer) report() api.PlanMaintenance {
	rep := api.PlanMaintenance{Plan: r.plan.Name, Dropped: []api.PlanPoint{}, Kept: []api.PlanPoint{}, Cold: []string{}, ColdFailed: []api.PlanPoint{}}
	if r.copies {
		rep.CopiesFrom = r.plan.Vault
	}
	return rep
}

// decidePlans says, at now, which points the retainers drop and why, and
// fills a report for each with what it does not drop. A point that one
// retainer's rules keep is kept even if another's would drop it; an
// expire_after drops it whatever the rules say.
func decidePlans(rs []retainer, vp *vaultPoints, now time.Time) (map[string]planDrop, []api.PlanMaintenance) {
	reports := make([]api.PlanMaintenance, len(rs))
	drops := map[string]planDrop{}
	kept := map[string]bool{}
	for i := range rs {
		r := &rs[i]
		reports[i] = r.report()
		var mine []plan.Point
		for j := range vp.points {
			p := &vp.points[j]
			if !r.holds(p) {
				continue
			}
			if e := r.expire; e > 0 && now.Sub(p.Time) >= e {
				if d, ok := drops[p.ID]; !ok || d.reason != dropExpired {
					drops[p.ID] = planDrop{i, dropExpired}
				}
			}
			if !vp.verified[p.ID] {
				reports[i].Unverified++
			}
			mine = append(mine, plan.Point{Point: policy.Point{ID: p.ID, Time: r.timeOf(p), Host: p.Hostname, Paths: p.Paths}, Verified: vp.verified[p.ID]})
		}
		if r.rules.Empty() {
			continue
		}
		d := r.rules.Apply(mine, now)
		for _, k := range d.Keep {
			kept[k.Point.ID] = true
		}
		for _, rm := range d.Remove {
			if _, ok := drops[rm.Point.ID]; !ok {
				drops[rm.Point.ID] = planDrop{i, dropRetention}
			}
		}
	}
	for id, d := range drops {
		if d.reason == dropRetention && kept[id] {
			delete(drops, id)
		}
	}
	return drops, reports
}

// mayDrop decides whether a plan may move p to the recycle bin at now:
// not while a legal hold covers it, nor while the vault's lock retains
// it (the server has no governance bypass), nor inside the lock's
// minimum retention.
func mayDrop(lock retention.Lock, p *store.Point, holds []retention.Hold, now time.Time) error {
	if err := retention.CheckDelete(lock, p.RetentionView(), holds, now, false); err != nil {
		return err
	}
	if lock.Mode != retention.None && now.Sub(p.Time) < lock.MinRetention {
		return fmt.Errorf("%w: the vault lock's minimum retention of %s keeps point %s until %s",
			retention.ErrRetained, retention.Format(lock.MinRetention), p.ID[:8], p.Time.Add(lock.MinRetention).UTC().Format(time.RFC3339))
	}
	return nil
}

// applyPlans applies the retention rules and the expire_after of every
// plan that writes to v, and the retention rules of every copy action
// that copies into v to its copies, at now: the points they drop go to
// the recycle bin, each audited, with a plan.dropped event per plan, all
// in one transaction; those a lock or a hold keeps are reported. It
// returns the plans that write to v, whose reports come first in
// rep.Plans, in order.
func (s *Server) applyPlans(ctx context.Context, v *store.Vault, by string, now time.Time, rep *api.MaintenanceReport) ([]plan.Plan, error) {
	var plans []plan.Plan
	binned := 0
	err := s.st.Update(ctx, func(tx store.Tx) error {
		binned = 0
		_, all, err := s.storedPlans(ctx, tx)
		if err != nil {
			return err
		}
		plans = plansOf(all, v.Name)
		rs := retainers(plans, all, v.Name)
		if len(rs) == 0 {
			rep.Plans = []api.PlanMaintenance{}
			return nil
		}
		vp, err := loadVaultPoints(ctx, tx, v.Name)
		if err != nil {
			return err
		}
		drops, reports := decidePlans(rs, vp, now)
		for i := range vp.points {
			p := &vp.points[i]
			d, ok := drops[p.ID]
			if !ok {
				continue
			}
			r := &reports[d.report]
			if err := mayDrop(v.Policy.Lock, p, vp.holds, now); err != nil {
				r.Kept = append(r.Kept, api.PlanPoint{Point: p.ID, Reason: err.Error()})
				continue
			}
			if err := s.dropPoint(ctx, tx, v, p, r, d.reason, by, now); err != nil {
				return err
			}
			r.Dropped = append(r.Dropped, api.PlanPoint{Point: p.ID, Reason: d.reason})
			binned++
		}
		for i := range reports {
			if err := s.recordDropped(ctx, tx, v.Name, &reports[i], by); err != nil {
				return err
			}
		}
		rep.Plans = reports
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.metrics.points.WithLabelValues("binned").Add(float64(binned))
	return plans, nil
}

// dropPoint moves p to the recycle bin for the plan of report r, for why,
// audited.
func (s *Server) dropPoint(ctx context.Context, tx store.Tx, v *store.Vault, p *store.Point, r *api.PlanMaintenance, why, by string, now time.Time) error {
	reason := "retention"
	if why == dropExpired {
		reason = "lifecycle"
	}
	binPoint(p, now, v.Policy.BinRetention, by, reason)
	if err := tx.UpdatePoint(ctx, p); err != nil {
		return fmt.Errorf("drop point %s: %w", p.ID[:8], err)
	}
	detail := map[string]any{"plan": r.Plan, "reason": why, "time": p.Time, "purge_after": p.PurgeAfter}
	if r.CopiesFrom != "" {
		detail["copies_from"] = r.CopiesFrom
	}
	return s.appendAudit(ctx, tx, s.serverEntry(by, "point.drop", "point/"+v.Name+"/"+p.ID, audit.OutcomeOK, detail))
}

// recordDropped records the plan.dropped event of a plan that dropped
// points in this pass.
func (s *Server) recordDropped(ctx context.Context, tx store.Tx, vault string, r *api.PlanMaintenance, by string) error {
	if len(r.Dropped) == 0 {
		return nil
	}
	points := []string{}
	expired := 0
	for _, d := range r.Dropped {
		if len(points) < maxEventPoints {
			points = append(points, d.Point)
		}
		if d.Reason == dropExpired {
			expired++
		}
	}
	e := event.Envelope{Kind: event.PlanDropped, Vault: vault, Detail: map[string]any{
		"plan": r.Plan, "points": points, "retention": len(r.Dropped) - expired, "expired": expired,
		"kept": len(r.Kept), "unverified": r.Unverified,
	}}
	if r.CopiesFrom != "" {
		e.Detail["copies_from"] = r.CopiesFrom
	}
	if by != serverActor {
		e.Actor = by
	}
	return s.record(ctx, tx, nil, e)
}

// archiveClasses are the S3 classes whose objects cannot be read until a
// restore request has brought them back.
var archiveClasses = map[string]bool{"GLACIER": true, "DEEP_ARCHIVE": true}

// noTier is the note of a plan whose cold tier the vault's storage lacks.
const noTier = "no cold tier on this storage"

// coldPlans moves the packs of the points older than a plan's cold_after
// to its storage class, on storage that has classes. A pack that a
// younger point of the vault also needs stays where it is, so that
// recent points restore without a wait. Each failure is reported with
// its point and is no error of the pass.
func (s *Server) coldPlans(ctx context.Context, v *store.Vault, ov *openVault, plans []plan.Plan, now time.Time, rep *api.MaintenanceReport) error {
	var cold []int
	for i, pl := range plans {
		if pl.Lifecycle.ColdAfter > 0 && pl.Lifecycle.StorageClass != "" {
			cold = append(cold, i)
		}
	}
	if len(cold) == 0 {
		return nil
	}
	tier, ok := ov.be.(storage.Tierer)
	if !ok {
		for _, i := range cold {
			rep.Plans[i].Note = noTier
		}
		return nil
	}
	cold = slices.DeleteFunc(cold, func(i int) bool {
		c := plans[i].Lifecycle.StorageClass
		if !archiveClasses[c] {
			return false
		}
		rep.Plans[i].Note = fmt.Sprintf("storage class %s is an archive: its objects must be restored before each read, which bunker does not do yet, so verification, garbage collection and restores of these points would fail; nothing was moved (use GLACIER_IR or STANDARD_IA)", c)
		return true
	})
	if len(cold) == 0 {
		return nil
	}
	var vp *vaultPoints
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		vp, err = loadVaultPoints(ctx, tx, v.Name)
		return err
	}); err != nil {
		return err
	}
	ov.gc.RLock()
	defer ov.gc.RUnlock()
	for _, i := range cold {
		if err := s.coldPlan(ctx, ov, tier, &plans[i], vp, now, &rep.Plans[i]); err != nil {
			return fmt.Errorf("plan %s: cold tier: %w", plans[i].Name, err)
		}
	}
	return nil
}

// coldPlan moves the packs of pl's points older than its cold_after.
func (s *Server) coldPlan(ctx context.Context, ov *openVault, tier storage.Tierer, pl *plan.Plan, vp *vaultPoints, now time.Time, r *api.PlanMaintenance) error {
	class := pl.Lifecycle.StorageClass
	cutoff := now.Add(-pl.Lifecycle.ColdAfter)
	var due []*store.Point
	var young []*store.Point
	for i := range vp.points {
		p := &vp.points[i]
		switch {
		case p.Time.After(cutoff):
			young = append(young, p)
		case covers(pl, p) && !ov.isCold(p.ID, class):
			due = append(due, p)
		}
	}
	if len(due) == 0 {
		return nil
	}
	warm := map[storage.Handle]bool{}
	for _, p := range young {
		packs, err := s.pointPacks(ctx, ov, p)
		if err != nil {
			return err
		}
		for _, h := range packs {
			warm[h] = true
		}
	}
	moved := map[storage.Handle]error{}
	for _, p := range due {
		packs, err := s.pointPacks(ctx, ov, p)
		if err != nil {
			return err
		}
		var failed error
		for _, h := range packs {
			if warm[h] {
				continue
			}
			err, done := moved[h]
			if !done {
				_, err = tier.SetStorageClass(ctx, h, class)
				moved[h] = err
			}
			if err != nil {
				failed = err
				break
			}
		}
		if failed != nil {
			r.ColdFailed = append(r.ColdFailed, api.PlanPoint{Point: p.ID, Reason: failed.Error()})
			if errors.Is(failed, storage.ErrUnsupported) {
				// The storage refuses every object alike: report the
				// rest without asking it again.
				for _, q := range due[len(r.Cold)+len(r.ColdFailed):] {
					r.ColdFailed = append(r.ColdFailed, api.PlanPoint{Point: q.ID, Reason: failed.Error()})
				}
				return nil
			}
			continue
		}
		ov.markCold(p.ID, class)
		r.Cold = append(r.Cold, p.ID)
	}
	return nil
}

// pointPacks returns the packs point p needs.
func (s *Server) pointPacks(ctx context.Context, ov *openVault, p *store.Point) ([]storage.Handle, error) {
	root, err := blob.ParseID(p.Tree)
	if err != nil {
		return nil, fmt.Errorf("point %s: tree: %w", p.ID[:8], err)
	}
	blobs, err := collectBlobs(ctx, ov.repo, root)
	if err != nil {
		return nil, fmt.Errorf("point %s: %w", p.ID[:8], err)
	}
	return pointObjects(ov.repo, "", blobs), nil
}
