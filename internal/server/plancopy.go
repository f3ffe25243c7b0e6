package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/store"
)

// planCopyWindow is how far back the copy sweep looks for a plan's
// points without their copies: a copy that keeps failing is tried again
// at every sweep for this long after its point was made.
const planCopyWindow = 3 * 24 * time.Hour

// planActor is the principal a plan's copies are made by.
func planActor(name string) string { return "plan:" + name }

// wakePlanCopies makes the copy sweep look at the plans' points now.
// Wakes that come while it runs make one more sweep.
func (s *Server) wakePlanCopies() {
	select {
	case s.copyWake <- struct{}{}:
	default:
	}
}

// planCopyLoop runs the plans' copy actions: a sweep at start, then at
// every wake (a run reported points, a maintenance pass ended) and every
// MaintenanceEvery.
func (s *Server) planCopyLoop(ctx context.Context) {
	var every <-chan time.Time
	if s.cfg.MaintenanceEvery > 0 {
		tick := time.NewTicker(s.cfg.MaintenanceEvery)
		defer tick.Stop()
		every = tick.C
	}
	for {
		s.copyPlans(ctx)
		select {
		case <-ctx.Done():
			return
		case <-every:
		case <-s.copyWake:
		}
	}
}

// copyPlans copies, for every plan with copy actions, its points of the
// last planCopyWindow that a copy action's destination does not hold a
// copy of yet. Failures are reported by the copies' own jobs and events
// and tried again at the next sweep.
func (s *Server) copyPlans(ctx context.Context) {
	var plans []plan.Plan
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		_, plans, err = s.storedPlans(ctx, tx)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("plan copies: read plans", "err", err)
		}
		return
	}
	for i := range plans {
		if len(plans[i].Copies) == 0 || ctx.Err() != nil {
			continue
		}
		if err := s.copyPlan(ctx, &plans[i]); err != nil && ctx.Err() == nil {
			s.log.Error("plan copies", "plan", plans[i].Name, "err", err)
		}
	}
}

// planSource is what copying a plan's points needs of its vault.
type planSource struct {
	vault *store.Vault
	due   []store.Point // the plan's recent points, not infected, oldest first
}

// loadPlanSource reads the plan's vault and its points due for copies at
// now.
func (s *Server) loadPlanSource(ctx context.Context, pl *plan.Plan, now time.Time) (*planSource, error) {
	src := &planSource{}
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if src.vault, err = tx.Vault(ctx, pl.Vault); err != nil {
			return fmt.Errorf("vault %s: %w", pl.Vault, err)
		}
		ps, err := tx.Points(ctx, store.PointFilter{Vault: pl.Vault, State: store.Active})
		if err != nil {
			return err
		}
		verdicts, err := tx.PointVerdicts(ctx, pl.Vault)
		if err != nil {
			return err
		}
		cutoff := now.Add(-planCopyWindow)
		for _, p := range ps {
			if covers(pl, &p) && !p.Time.Before(cutoff) && verdicts[p.ID].Level != store.VerdictInfected {
				src.due = append(src.due, p)
			}
		}
		return nil
	})
	return src, err
}

// copyPlan runs each copy action of pl on its due points.
func (s *Server) copyPlan(ctx context.Context, pl *plan.Plan) error {
	src, err := s.loadPlanSource(ctx, pl, s.cfg.Now().UTC())
	if err != nil || len(src.due) == 0 {
		return err
	}
	if src.vault.AirGapped {
		return fmt.Errorf("vault %s is air-gapped: its points are not copied out of it; remove the plan's copies", pl.Vault)
	}
	var errs []error
	for _, c := range pl.Copies {
		if site, vault := c.Remote(); site == "" {
			errs = append(errs, s.copyPlanLocal(ctx, pl, src, vault))
		} else {
			errs = append(errs, s.copyPlanRemote(ctx, pl, src, c.To, site, vault))
		}
	}
	return errors.Join(errs...)
}

// copyPlanLocal copies the due points into vault to of this server. A
// point of which to holds a copy, active or in the recycle bin (the copy
// action's retention dropped it), is not copied again.
func (s *Server) copyPlanLocal(ctx context.Context, pl *plan.Plan, src *planSource, to string) error {
	var dst *store.Vault
	copied := map[string]bool{}
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if dst, err = tx.Vault(ctx, to); err != nil {
			return err
		}
		ps, err := tx.Points(ctx, store.PointFilter{Vault: to})
		for _, p := range ps {
			if o := p.Origin; o != nil && o.Site == "" && o.Vault == pl.Vault {
				copied[o.Point] = true
			}
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		msg := fmt.Sprintf("plan %s copies to vault %s, which does not exist on this server: create it (`bunker vault create %s`) or change the plan's copies", pl.Name, to, to)
		s.planCopyFailed(ctx, pl, to, src.due, msg)
		return errors.New(msg)
	}
	if err != nil {
		return fmt.Errorf("copy to vault %s: %w", to, err)
	}
	for i := range src.due {
		p := &src.due[i]
		if copied[p.ID] || ctx.Err() != nil {
			continue
		}
		from := s.localCopy(src.vault, p)
		from.plan = pl.Name
		if _, err := s.copyPoint(ctx, from, dst, planActor(pl.Name)); err != nil {
			// copyPoint recorded the failed job and its copy.failed.
			s.log.Warn("plan copy", "plan", pl.Name, "point", short(p.ID), "to", to, "err", err)
		}
	}
	return nil
}

// copyPlanRemote pushes the due points to the push target named site
// whose central vault is vault.
func (s *Server) copyPlanRemote(ctx context.Context, pl *plan.Plan, src *planSource, to, site, vault string) error {
	var t *store.PushTarget
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		t, err = tx.PushTarget(ctx, site)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("copy to %s: %w", to, err)
	}
	if t == nil || t.Vault != vault {
		msg := fmt.Sprintf("plan %s copies to %s, but this server has no push target %s with central vault %s: add it with `bunker push-target add %s --url … --fingerprint … --token-file … --vault %s`",
			pl.Name, to, site, vault, site, vault)
		if t != nil {
			msg += fmt.Sprintf(" (push target %s pushes to vault %s)", site, t.Vault)
		}
		s.planCopyFailed(ctx, pl, to, src.due, msg)
		return errors.New(msg)
	}
	for i := range src.due {
		p := &src.due[i]
		if ctx.Err() != nil {
			break
		}
		// pushPoint answers a point pushed before from its record, and
		// records a failed push's job, push.failed and push.stalled.
		if _, err := s.pushPoint(ctx, t, src.vault, p, planActor(pl.Name)); err != nil {
			s.log.Warn("plan copy", "plan", pl.Name, "point", short(p.ID), "to", to, "err", err)
		}
	}
	return nil
}

// planCopyFailed records a copy.failed event for each of points whose
// copy action to could not start: the destination it names is missing.
func (s *Server) planCopyFailed(ctx context.Context, pl *plan.Plan, to string, points []store.Point, msg string) {
	ctx = context.WithoutCancel(ctx)
	var box outbox
	err := s.st.Update(ctx, func(tx store.Tx) error {
		box = nil
		for _, p := range points {
			fields := map[string]any{"point": p.ID, "plan": pl.Name, "copy": to, "error": msg}
			if site, vault := (plan.Copy{To: to}).Remote(); site != "" {
				fields["to_site"], fields["to_vault"] = site, vault
			} else {
				fields["to_vault"] = vault
			}
			if err := s.emit(ctx, tx, &box, eventCopyFailed, pl.Vault, fields); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("record a failed plan copy", "plan", pl.Name, "to", to, "err", err)
		return
	}
	s.deliver(ctx, box)
}
