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
	"unicode/utf8"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/schedule"
	"github.com/bunkerhq/bunker/internal/store"
)

// Limits of what an agent reports.
const (
	maxHostLen      = 253
	maxClaimScan    = 1000 // queued plan jobs a claim looks through
	maxFinishPoints = 64
	maxFinishHooks  = 32
	maxReportText   = 4096
)

// checkHost checks an agent's host name as plan sources name hosts.
func checkHost(field, host string) error {
	if host == "" {
		return badRequest("%s is missing: give the host name the plans' sources name, as bunker agent --host", field)
	}
	if len(host) > maxHostLen || !utf8.ValidString(host) || strings.ContainsFunc(host, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return badRequest("%s %q is invalid: 1 to %d printable characters", field, clip(host), maxHostLen)
	}
	return nil
}

// requireAgent checks that the caller may run plans on some vault, and
// for host.
func requireAgent(c *call, host string) error {
	if len(rbac.Vaults(c.id.bindings, rbac.PlanRun)) == 0 {
		return forbidden("%s lacks the %s permission on every vault: bind it the backup-operator role on the vaults its host's plans write to", c.id.name(), rbac.PlanRun)
	}
	return c.id.requireHost(host)
}

// handleAgentPlans lists the plans with sources on ?host= whose vault the
// caller may run plans of, each with only that host's sources.
func (s *Server) handleAgentPlans(c *call) error {
	host := c.r.URL.Query().Get("host")
	c.target = "host/" + clip(host)
	if err := checkHost("query parameter host", host); err != nil {
		return err
	}
	if err := requireAgent(c, host); err != nil {
		return err
	}
	out := api.AgentPlans{Host: host, Plans: []plan.Plan{}}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		_, plans, err := s.storedPlans(c.ctx, tx)
		if err != nil {
			return err
		}
		plans = slices.DeleteFunc(plans, func(p plan.Plan) bool { return !c.id.can(rbac.PlanRun, p.Vault) })
		out.Plans = append(out.Plans, plan.ForHost(plans, host)...)
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, out)
}

// planJob is what a queued or running plan job's detail names.
type planJob struct {
	plan string
	slot time.Time
	host string
}

func planJobOf(j store.Job) (planJob, error) {
	name, _ := j.Detail["plan"].(string)
	host, _ := j.Detail["host"].(string)
	raw, _ := j.Detail["slot"].(string)
	slot, err := time.Parse(time.RFC3339Nano, raw)
	if name == "" || host == "" || err != nil {
		return planJob{}, fmt.Errorf("job %d is a plan job without its plan, host or slot", j.ID)
	}
	return planJob{plan: name, slot: slot, host: host}, nil
}

// handleAgentClaim gives the caller the oldest queued run on its host of a
// plan whose vault it may run plans of, and starts it: the job runs from
// now, and the run's completion window counts from now. 204 when there is
// none.
func (s *Server) handleAgentClaim(c *call) error {
	var req api.ClaimRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	c.target = "host/" + clip(req.Host)
	if err := checkHost("host", req.Host); err != nil {
		return err
	}
	if err := requireAgent(c, req.Host); err != nil {
		return err
	}
	var out *api.AgentJob
	var first bool // the first host of the run to start: the scheduler is told
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		c.box, out, first = nil, nil, false
		jobs, err := tx.QueryJobs(c.ctx, store.JobFilter{Kind: jobPlan, State: store.JobQueued, Limit: maxClaimScan})
		if err != nil {
			return err
		}
		for i := len(jobs) - 1; i >= 0; i-- { // oldest first
			j := jobs[i]
			if j.Detail["host"] != req.Host || !c.id.can(rbac.PlanRun, j.Vault) {
				continue
			}
			out, first, err = s.claim(c, tx, &j)
			if err != nil || out != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if out == nil {
		c.status = http.StatusNoContent
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if first {
		if err := s.sched.Started(out.Plan.Name, out.Slot, out.Started); err != nil && !errors.Is(err, schedule.ErrNoRun) {
			s.log.Warn("tell the scheduler a run started", "plan", out.Plan.Name, "slot", out.Slot, "err", err)
		}
	}
	return c.ok(http.StatusOK, out)
}

// claim starts queued job j in tx, or, when its run can no longer start
// (the plan is gone, its slot was reported missed, its host has no
// sources left), fails it and returns nil.
func (s *Server) claim(c *call, tx store.Tx, j *store.Job) (*api.AgentJob, bool, error) {
	now := s.cfg.Now().UTC()
	pj, err := planJobOf(*j)
	if err != nil {
		return nil, false, s.failUnclaimable(c.ctx, tx, j, now, err.Error())
	}
	r, err := tx.Plan(c.ctx, pj.plan)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, s.failUnclaimable(c.ctx, tx, j, now, "the plan was deleted before an agent started the run")
	}
	if err != nil {
		return nil, false, err
	}
	if _, run, ok := s.sched.State(pj.plan); !ok || run == nil || !run.Slot.Equal(pj.slot) {
		return nil, false, s.failUnclaimable(c.ctx, tx, j, now, schedule.MissedNotStarted)
	}
	p, err := s.planCache.Decode(r.Spec)
	if err != nil {
		return nil, false, fmt.Errorf("stored plan %s: %w", r.Name, err)
	}
	if !now.Before(pj.slot.Add(p.StartWindow)) {
		// Another host started the run; this one came too late.
		return nil, false, s.failUnclaimable(c.ctx, tx, j, now, schedule.MissedNotStarted)
	}
	mine := plan.ForHost([]plan.Plan{p}, pj.host)
	if len(mine) == 0 {
		return nil, false, s.failUnclaimable(c.ctx, tx, j, now, "the plan has no sources on host "+pj.host+" any more")
	}
	j.State, j.Started = store.JobRunning, now
	j.Detail["agent"] = c.actor()
	j.Progress = store.JobProgress{Phase: "started"}
	if err := tx.UpdateJob(c.ctx, j); err != nil {
		return nil, false, err
	}
	first, err := markRunStarted(c.ctx, tx, pj, now)
	if err != nil {
		return nil, false, err
	}
	c.target = "job/" + strconv.FormatInt(j.ID, 10)
	fields := map[string]any{"job": j.ID, "plan": pj.plan, "slot": pj.slot.UTC(), "host": pj.host}
	if err := c.audit(tx, audit.OutcomeOK, map[string]any{"vault": j.Vault, "plan": pj.plan, "slot": pj.slot.UTC(), "host": pj.host}); err != nil {
		return nil, false, err
	}
	if err := s.emit(c.ctx, tx, &c.box, event.PlanStarted, j.Vault, fields); err != nil {
		return nil, false, err
	}
	return &api.AgentJob{ID: j.ID, Plan: mine[0], Slot: pj.slot.UTC(), Host: pj.host, Started: now}, first, nil
}

// markRunStarted records that a host started the plan's run, when it is
// the first to; it reports whether it was.
func markRunStarted(ctx context.Context, tx store.Tx, pj planJob, now time.Time) (bool, error) {
	runs, err := tx.PlanRuns(ctx)
	if err != nil {
		return false, err
	}
	run := runs[pj.plan]
	if !run.RunSlot.Equal(pj.slot) || !run.RunStarted.IsZero() {
		return false, nil
	}
	run.Plan, run.RunStarted, run.Host = pj.plan, now, pj.host
	return true, tx.SetPlanRun(ctx, &run)
}

// failUnclaimable fails a queued plan job whose run can no longer start.
func (s *Server) failUnclaimable(ctx context.Context, tx store.Tx, j *store.Job, now time.Time, why string) error {
	j.State, j.Finished, j.Error = store.JobFailed, now, why
	return tx.UpdateJob(ctx, j)
}

// agentJob reads the {id} of an agent's job route and returns the running
// plan job the caller claimed.
func agentJob(c *call, tx store.Tx) (*store.Job, planJob, error) {
	raw := c.r.PathValue("id")
	c.target = "job/" + clip(raw)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return nil, planJob{}, badRequest("job id %q is not a positive integer", clip(raw))
	}
	j, err := tx.Job(c.ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (j.Kind != jobPlan || !c.id.can(rbac.PlanRun, j.Vault))) {
		return nil, planJob{}, notFound("no plan run %d for %s: claim runs with POST /v1/agent/jobs/claim", id, c.id.name())
	}
	if err != nil {
		return nil, planJob{}, err
	}
	if j.Detail["agent"] != c.actor() {
		return nil, planJob{}, forbidden("plan run %d was claimed by another principal, not %s", id, c.id.name())
	}
	if j.State != store.JobRunning {
		return nil, planJob{}, conflict("plan run %d is %s, not running: nothing more can be reported of it", id, j.State)
	}
	pj, err := planJobOf(*j)
	if err != nil {
		return nil, planJob{}, err
	}
	return j, pj, c.id.requireHost(pj.host)
}

// handleAgentProgress records how far a claimed run has come.
func (s *Server) handleAgentProgress(c *call) error {
	var req api.ProgressRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if req.BytesDone < 0 || req.BytesTotal < 0 || req.FilesDone < 0 || req.FilesTotal < 0 {
		return badRequest("bytes_done, bytes_total, files_done and files_total must not be negative")
	}
	if len(req.Phase) > 64 {
		return badRequest("phase is longer than 64 bytes")
	}
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		j, _, err := agentJob(c, tx)
		if err != nil {
			return err
		}
		j.Progress = store.JobProgress{Phase: req.Phase, BytesDone: req.BytesDone, BytesTotal: req.BytesTotal,
			ItemsDone: req.FilesDone, ItemsTotal: req.FilesTotal}
		return tx.UpdateJob(c.ctx, j)
	})
	if err != nil {
		return err
	}
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkFinish checks what an agent reports of a run's end.
func checkFinish(req *api.FinishRequest) error {
	switch req.State {
	case api.RunSucceeded, api.RunFailed, api.RunSkipped:
	default:
		return badRequest("state %q is not one of succeeded, failed, skipped", clip(req.State))
	}
	if req.State == api.RunSucceeded && req.Error != "" {
		return badRequest("error is set, but state is succeeded: report a failed run as failed")
	}
	if req.State != api.RunSucceeded && req.Error == "" {
		return badRequest("error is missing: say why the run %s", req.State)
	}
	if req.State == api.RunSkipped && len(req.Points) > 0 {
		return badRequest("points: a skipped run backs up nothing, but %d points are reported", len(req.Points))
	}
	if len(req.Points) > maxFinishPoints {
		return badRequest("points: %d points, at most %d", len(req.Points), maxFinishPoints)
	}
	if len(req.Hooks) > maxFinishHooks {
		return badRequest("hooks: %d reports, at most %d", len(req.Hooks), maxFinishHooks)
	}
	if req.Bytes < 0 {
		return badRequest("bytes must not be negative")
	}
	for i, h := range req.Hooks {
		if h.Phase != "pre" && h.Phase != "post" {
			return badRequest("hooks[%d].phase %q is not pre or post", i, clip(h.Phase))
		}
		switch plan.OnFailure(h.OnFailure) {
		case plan.Fail, plan.Skip, plan.Continue:
		default:
			return badRequest("hooks[%d].on_failure %q is not one of fail, skip, continue", i, clip(h.OnFailure))
		}
		if len(h.Argv) == 0 || len(h.Argv) > 256 {
			return badRequest("hooks[%d].argv: give the hook's command, at most 256 arguments", i)
		}
	}
	req.Error = clipText(req.Error)
	for i := range req.Hooks {
		req.Hooks[i].Stderr, req.Hooks[i].Error = clipText(req.Hooks[i].Stderr), clipText(req.Hooks[i].Error)
	}
	return nil
}

// clipText bounds a text an agent reports.
func clipText(s string) string {
	if len(s) <= maxReportText {
		return s
	}
	return "…" + s[len(s)-maxReportText:]
}

// checkPoints checks that the points a run reports are in the job's vault
// and were made by the caller.
func checkPoints(c *call, tx store.Tx, vault string, ids []string) error {
	for i, id := range ids {
		p, err := tx.Point(c.ctx, vault, id)
		if errors.Is(err, store.ErrNotFound) {
			return badRequest("points[%d]: no point %q in vault %s", i, clip(id), vault)
		}
		if err != nil {
			return err
		}
		if p.CreatedBy != c.actor() {
			return badRequest("points[%d]: point %s was not made by %s", i, clip(id), c.id.name())
		}
	}
	return nil
}

// finishState returns the job state and the event kind of a run's end.
func finishState(state string) (store.JobState, string) {
	switch state {
	case api.RunSucceeded:
		return store.JobSucceded, event.PlanSucceeded
	case api.RunSkipped:
		return store.JobSkipped, event.PlanSkipped
	}
	return store.JobFailed, event.PlanFailed
}

// handleAgentFinish records how a claimed run ended: its job, the hooks
// that failed, and, once no host of the run is left going, the end of the
// run for the scheduler. The points it made are copied by the plan's copy
// actions in the background, not in the request.
func (s *Server) handleAgentFinish(c *call) error {
	var req api.FinishRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkFinish(&req); err != nil {
		return err
	}
	var pj planJob
	var runDone bool
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		c.box = nil
		j, p, err := agentJob(c, tx)
		if err != nil {
			return err
		}
		pj = p
		if err := checkPoints(c, tx, j.Vault, req.Points); err != nil {
			return err
		}
		if err := s.finishJob(c, tx, j, pj, &req); err != nil {
			return err
		}
		runDone, err = s.endRunIfDone(c.ctx, tx, pj, s.cfg.Now())
		return err
	})
	if err != nil {
		return err
	}
	if runDone {
		if err := s.sched.Done(pj.plan, pj.slot); err != nil && !errors.Is(err, schedule.ErrNoRun) && !errors.Is(err, schedule.ErrUnknown) {
			s.log.Warn("tell the scheduler a run ended", "plan", pj.plan, "slot", pj.slot, "err", err)
		}
	}
	if len(req.Points) > 0 {
		// The plan's copy actions copy the new points in the background.
		s.wakePlanCopies()
	}
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// finishJob ends job j as req says, with its audit entry and events.
func (s *Server) finishJob(c *call, tx store.Tx, j *store.Job, pj planJob, req *api.FinishRequest) error {
	now := s.cfg.Now().UTC()
	state, kind := finishState(req.State)
	j.State, j.Finished, j.Error, j.Bytes = state, now, req.Error, req.Bytes
	j.Progress.Phase = "done"
	points := req.Points
	if points == nil {
		points = []string{}
	}
	j.Detail["points"] = points
	if len(req.Hooks) > 0 {
		j.Detail["hooks"] = req.Hooks
	}
	if err := tx.UpdateJob(c.ctx, j); err != nil {
		return err
	}
	base := map[string]any{"job": j.ID, "plan": pj.plan, "host": pj.host}
	for _, h := range req.Hooks {
		f := map[string]any{"phase": h.Phase, "argv": h.Argv, "on_failure": h.OnFailure, "exit_status": h.ExitStatus,
			"timed_out": h.TimedOut, "stderr": h.Stderr, "error": h.Error}
		if err := s.emit(c.ctx, tx, &c.box, event.HookFailed, j.Vault, withFields(base, f)); err != nil {
			return err
		}
	}
	f := map[string]any{"slot": pj.slot.UTC(), "duration_seconds": now.Sub(j.Started).Seconds()}
	if req.State != api.RunSkipped {
		f["points"] = points
	}
	if req.Error != "" {
		f["error"] = req.Error
	}
	if err := c.audit(tx, audit.OutcomeOK, withFields(map[string]any{"vault": j.Vault, "state": req.State, "hooks_failed": len(req.Hooks)}, withFields(base, f))); err != nil {
		return err
	}
	return s.emit(c.ctx, tx, &c.box, kind, j.Vault, withFields(base, f))
}

// withFields returns a new map with the fields of a and b.
func withFields(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// endRunIfDone ends the plan's run once no job of its slot is queued or
// running; it reports whether it did. Queued jobs whose start window has
// passed (a host whose agent did not come) are failed on the way.
func (s *Server) endRunIfDone(ctx context.Context, tx store.Tx, pj planJob, now time.Time) (bool, error) {
	window, err := s.startWindowOf(ctx, tx, pj.plan)
	if err != nil {
		return false, err
	}
	done, err := settleRun(ctx, tx, pj.plan, pj.slot, window, now)
	if err != nil || !done {
		return false, err
	}
	return endRun(ctx, tx, pj.plan, pj.slot)
}

// startWindowOf returns the start window of a stored plan; zero when the
// plan is gone.
func (s *Server) startWindowOf(ctx context.Context, tx store.Tx, name string) (time.Duration, error) {
	r, err := tx.Plan(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	p, err := s.planCache.Decode(r.Spec)
	if err != nil {
		return 0, fmt.Errorf("stored plan %s: %w", r.Name, err)
	}
	return p.StartWindow, nil
}

// settleRun fails the queued jobs of a plan's slot whose start window has
// passed at now, and reports whether no job of the slot is queued or
// running any more.
func settleRun(ctx context.Context, tx store.Tx, name string, slot time.Time, window time.Duration, now time.Time) (bool, error) {
	want := slot.UTC().Format(time.RFC3339Nano)
	done := true
	for _, state := range []store.JobState{store.JobQueued, store.JobRunning} {
		jobs, err := tx.QueryJobs(ctx, store.JobFilter{Kind: jobPlan, State: state, Limit: maxClaimScan})
		if err != nil {
			return false, err
		}
		for _, j := range jobs {
			if j.Detail["plan"] != name || j.Detail["slot"] != want {
				continue
			}
			if state == store.JobRunning || now.Before(slot.Add(window)) {
				done = false
				continue
			}
			j.State, j.Finished, j.Error = store.JobFailed, now.UTC(), schedule.MissedNotStarted
			if err := tx.UpdateJob(ctx, &j); err != nil {
				return false, err
			}
		}
	}
	return done, nil
}

// endRun clears the plan's recorded run of slot; it reports whether that
// run was the one recorded.
func endRun(ctx context.Context, tx store.Tx, name string, slot time.Time) (bool, error) {
	runs, err := tx.PlanRuns(ctx)
	if err != nil {
		return false, err
	}
	run, ok := runs[name]
	if !ok || !run.RunSlot.Equal(slot) {
		return false, nil
	}
	run.RunSlot, run.RunStarted, run.Host = time.Time{}, time.Time{}, ""
	return true, tx.SetPlanRun(ctx, &run)
}
