package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// s3StorageClasses are the cold storage classes a plan's lifecycle may
// name on a vault on S3; a vault on local disk offers none.
var s3StorageClasses = []string{"STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"}

// planVaults returns what plan.CheckVaults needs of the server's vaults.
func planVaults(ctx context.Context, tx store.Tx) (map[string]plan.Vault, error) {
	vs, err := tx.Vaults(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]plan.Vault, len(vs))
	for _, v := range vs {
		pv := plan.Vault{Lock: v.Policy.Lock}
		if v.Backend == "s3" {
			pv.StorageClasses = s3StorageClasses
		}
		out[v.Name] = pv
	}
	return out, nil
}

// storedPlans returns the server's plans, stored and decoded, by name.
func (s *Server) storedPlans(ctx context.Context, tx store.Tx) (map[string]store.Plan, []plan.Plan, error) {
	rows, err := tx.Plans(ctx)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]store.Plan, len(rows))
	plans := make([]plan.Plan, 0, len(rows))
	for _, r := range rows {
		p, err := s.planCache.Decode(r.Spec)
		if err != nil {
			return nil, nil, fmt.Errorf("stored plan %s: %w", r.Name, err)
		}
		byName[r.Name] = r
		plans = append(plans, p)
	}
	return byName, plans, nil
}

// planRefusal turns what plan.Decode or plan.CheckVaults refused into the
// client's answer: 400 with every refusal.
func planRefusal(err error) error {
	var es plan.Errors
	if !errors.As(err, &es) {
		return badRequest("%v", err)
	}
	ae := errorf(http.StatusBadRequest, "invalid_plan", "the plan file is refused (%d problems); nothing changed", len(es))
	for _, e := range es {
		ae.plans = append(ae.plans, api.PlanError{Plan: e.Plan, Field: e.Field, Line: e.Line, Error: e.Msg})
	}
	return ae
}

// readPlanFile reads a request body holding a plan file, YAML or JSON.
func readPlanFile(c *call) ([]plan.Plan, error) {
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains([]string{"application/yaml", "application/x-yaml", "text/yaml", "application/json"}, mt) {
			return nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the plan file as application/yaml, not %q", clip(ct))
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, plan.MaxFileSize))
	if err != nil {
		return nil, err
	}
	plans, err := plan.Decode(bytes.NewReader(body))
	if err != nil {
		return nil, planRefusal(err)
	}
	return plans, nil
}

// queryFlag reads an optional boolean query parameter: 1 or true.
func queryFlag(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, badRequest("query parameter %s=%q: give 1 or 0", name, clip(v))
	}
}

// handlePlansApply makes the server's plans what a plan file says: plans
// the file has and the server lacks are created, plans that differ are
// updated, and with ?prune=1 plans the file lacks are deleted, all in one
// transaction with an audit entry per plan. ?dry_run=1 answers the same
// changes and makes none.
func (s *Server) handlePlansApply(c *call) error {
	c.target = "plans"
	dryRun, err := queryFlag(c.r, "dry_run")
	if err != nil {
		return err
	}
	prune, err := queryFlag(c.r, "prune")
	if err != nil {
		return err
	}
	desired, err := readPlanFile(c)
	if err != nil {
		return err
	}
	s.planMu.Lock()
	defer s.planMu.Unlock()
	var changes []plan.PlanChange
	var written []store.Plan
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		vaults, err := planVaults(c.ctx, tx)
		if err != nil {
			return err
		}
		if err := plan.CheckVaults(desired, vaults); err != nil {
			return planRefusal(err)
		}
		stored, current, err := s.storedPlans(c.ctx, tx)
		if err != nil {
			return err
		}
		changes = plan.Diff(current, desired)
		if !prune {
			changes = slices.DeleteFunc(changes, func(pc plan.PlanChange) bool { return pc.Action == plan.Delete })
		}
		want := make(map[string]plan.Plan, len(desired))
		for _, p := range desired {
			want[p.Name] = p
		}
		if err := s.checkPlanChanges(c, changes, stored, want); err != nil {
			return err
		}
		if dryRun {
			return nil
		}
		written, err = s.writePlanChanges(c, tx, changes, stored, want)
		return err
	})
	if err != nil {
		return err
	}
	if !dryRun {
		s.schedulePlans(changes, written)
	}
	if changes == nil {
		changes = []plan.PlanChange{}
	}
	return c.ok(http.StatusOK, changes)
}

// checkPlanChanges checks that the caller may change the policy of every
// vault the file's plans write to, and of every vault the changes touch:
// the vault a plan writes to now and the one it wrote to before.
func (s *Server) checkPlanChanges(c *call, changes []plan.PlanChange, stored map[string]store.Plan, want map[string]plan.Plan) error {
	check := func(name, vault string) error {
		if err := c.require(rbac.VaultPolicy, vault); err != nil {
			return forbidden("plan %q: %s", name, asAPIError(err).message)
		}
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if err := check(name, want[name].Vault); err != nil {
			return err
		}
		if err := checkCopyRights(c, want[name]); err != nil {
			return err
		}
	}
	for _, pc := range changes {
		if old, ok := stored[pc.Plan]; ok {
			if err := check(pc.Plan, old.Vault); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCopyRights checks that the caller may have p's copy actions made:
// a copy into a vault of this server needs the vault-admin's vault.policy
// there, since the copy action's retention drops points in it; a copy to
// a remote site sends the plan vault's content off this server, as
// pushing does, and needs push.admin and data.read on the plan's vault.
func checkCopyRights(c *call, p plan.Plan) error {
	for i, cp := range p.Copies {
		site, vault := cp.Remote()
		var err error
		if site == "" {
			err = c.require(rbac.VaultPolicy, vault)
		} else if err = c.require(rbac.PushAdmin, rbac.AllVaults); err == nil {
			err = c.require(rbac.DataRead, p.Vault)
		}
		if err != nil {
			return forbidden("plan %q: copies[%d].to %s: %s", p.Name, i, cp.To, asAPIError(err).message)
		}
	}
	return nil
}

// writePlanChanges makes changes in tx, each with its audit entry, and
// returns the plans created or updated.
func (s *Server) writePlanChanges(c *call, tx store.Tx, changes []plan.PlanChange, stored map[string]store.Plan, want map[string]plan.Plan) ([]store.Plan, error) {
	now := s.cfg.Now().UTC()
	var written []store.Plan
	for _, pc := range changes {
		detail := map[string]any{"changes": pc.Changes}
		if pc.Action == plan.Delete {
			detail["vault"] = stored[pc.Plan].Vault
			if err := tx.DeletePlan(c.ctx, pc.Plan); err != nil {
				return nil, err
			}
		} else {
			p := want[pc.Plan]
			spec, err := p.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("encode plan %s: %w", p.Name, err)
			}
			row := store.Plan{Name: p.Name, Vault: p.Vault, Spec: spec, CreatedAt: now, CreatedBy: c.actor(),
				UpdatedAt: now, UpdatedBy: c.actor(), ScheduleSince: now}
			if old, ok := stored[pc.Plan]; ok {
				row.CreatedAt, row.CreatedBy = old.CreatedAt, old.CreatedBy
				if !scheduleChanged(pc.Changes) {
					row.ScheduleSince = old.ScheduleSince
				}
			}
			if err := tx.PutPlan(c.ctx, &row); err != nil {
				return nil, err
			}
			detail["vault"] = p.Vault
			written = append(written, row)
		}
		e := c.entry(audit.OutcomeOK, detail)
		e.Action, e.Target = "plan."+string(pc.Action), "plan/"+pc.Plan
		if err := s.appendAudit(c.ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// scheduleChanged reports whether a plan's changes move its schedule: its
// times or its windows.
func scheduleChanged(changes []plan.Change) bool {
	for _, ch := range changes {
		if strings.HasPrefix(ch.Field, "schedule.") || ch.Field == "start_window" || ch.Field == "completion_window" {
			return true
		}
	}
	return false
}

func (s *Server) handlePlanList(c *call) error {
	var out api.PlanList
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		rows, err := tx.Plans(c.ctx)
		if err != nil {
			return err
		}
		runs, err := tx.PlanRuns(c.ctx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !c.id.can(rbac.VaultRead, r.Vault) {
				continue
			}
			p, err := s.planView(r, runs[r.Name])
			if err != nil {
				return err
			}
			out.Plans = append(out.Plans, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if out.Plans == nil {
		out.Plans = []api.Plan{}
	}
	return c.ok(http.StatusOK, out)
}

func (s *Server) handlePlanShow(c *call) error {
	name := c.r.PathValue("name")
	c.target = "plan/" + clip(name)
	var out api.Plan
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		r, err := tx.Plan(c.ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no plan %q on this server (bunker plan list shows the plans)", clip(name))
		}
		if err != nil {
			return err
		}
		if err := c.require(rbac.VaultRead, r.Vault); err != nil {
			return err
		}
		runs, err := tx.PlanRuns(c.ctx)
		if err != nil {
			return err
		}
		out, err = s.planView(*r, runs[name])
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, out)
}

func (s *Server) handlePlanDelete(c *call) error {
	name := c.r.PathValue("name")
	c.target = "plan/" + clip(name)
	s.planMu.Lock()
	defer s.planMu.Unlock()
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		r, err := tx.Plan(c.ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no plan %q on this server (bunker plan list shows the plans)", clip(name))
		}
		if err != nil {
			return err
		}
		if err := c.require(rbac.VaultPolicy, r.Vault); err != nil {
			return err
		}
		if err := tx.DeletePlan(c.ctx, name); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"vault": r.Vault})
	})
	if err != nil {
		return err
	}
	s.sched.Remove(name)
	return c.ok(http.StatusOK, []plan.PlanChange{{Action: plan.Delete, Plan: name}})
}

// planView returns a stored plan as the API shows it.
func (s *Server) planView(r store.Plan, run store.PlanRun) (api.Plan, error) {
	p, err := s.planCache.Decode(r.Spec)
	if err != nil {
		return api.Plan{}, fmt.Errorf("stored plan %s: %w", r.Name, err)
	}
	next, _ := s.sched.Next(r.Name)
	return api.Plan{Plan: p, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy,
		LastSlot: run.LastSlot, Next: next.UTC()}, nil
}
