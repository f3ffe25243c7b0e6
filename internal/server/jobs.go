package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// JobView is a job as the API shows it: the stored job and, once it has
// started, how long it ran (or has been running).
type JobView struct {
	store.Job
	// DurationMS is milliseconds from start to finish, or to now while
	// the job runs.
	DurationMS int64 `json:"duration_ms"`
}

func jobView(j store.Job, now time.Time) JobView {
	end := j.Finished
	if end.IsZero() {
		end = now
	}
	v := JobView{Job: j}
	if !j.Started.IsZero() && end.After(j.Started) {
		v.DurationMS = end.Sub(j.Started).Milliseconds()
	}
	return v
}

// maxJobPage is the most jobs one GET /v1/jobs returns.
const maxJobPage = 1000

// canSeeJobs reports whether the caller may list jobs at all: it reads
// the audit of every vault, or maintains some vault.
func canSeeJobs(c *call) error {
	if !c.id.can(rbac.AuditRead, rbac.AllVaults) && len(rbac.Vaults(c.id.bindings, rbac.VaultMaintain)) == 0 {
		return c.require(rbac.AuditRead, rbac.AllVaults)
	}
	return nil
}

// canSeeJob reports whether the caller may see job j.
func canSeeJob(c *call, j store.Job) bool {
	return j.Vault == "" || c.id.can(rbac.AuditRead, rbac.AllVaults) || c.id.can(rbac.VaultMaintain, j.Vault)
}

// queryTime reads an optional time query parameter: an RFC 3339 time, or
// a duration (such as 24h) meaning that long before now.
func queryTime(r *http.Request, name string, now time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, badRequest("query parameter %s=%q is neither an RFC 3339 time nor a duration", name, clip(v))
}

// jobFilter reads the filters of GET /v1/jobs.
func jobFilter(r *http.Request, now time.Time) (store.JobFilter, error) {
	q := r.URL.Query()
	f := store.JobFilter{Kind: q.Get("kind"), Vault: q.Get("vault"), State: store.JobState(q.Get("state"))}
	switch f.State {
	case "", store.JobQueued, store.JobRunning, store.JobSucceded, store.JobFailed, store.JobSkipped:
	default:
		return f, badRequest("query parameter state=%q is not one of queued, running, succeeded, failed, skipped", clip(string(f.State)))
	}
	var err error
	if f.Since, err = queryTime(r, "since", now); err != nil {
		return f, err
	}
	if f.Before, err = queryTime(r, "before", now); err != nil {
		return f, err
	}
	after, err := queryUint(r, "after")
	if err != nil {
		return f, err
	}
	f.After = int64(after)
	limit, err := queryUint(r, "limit")
	if err != nil {
		return f, err
	}
	switch {
	case limit == 0:
		f.Limit = 200
	case limit > maxJobPage:
		f.Limit = maxJobPage
	default:
		f.Limit = int(limit)
	}
	return f, nil
}

// handleJobs lists jobs the caller may see, newest first, filtered by
// kind, state, vault, since, before, after (an id cursor) and limit.
// "next" is the cursor of the following page, when there may be one.
func (s *Server) handleJobs(c *call) error {
	if err := canSeeJobs(c); err != nil {
		return err
	}
	now := s.cfg.Now()
	f, err := jobFilter(c.r, now)
	if err != nil {
		return err
	}
	out := []JobView{}
	var next int64
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		page := f
		// A caller who sees only some vaults may need more than one page
		// of the store to fill its own.
		for range 20 {
			jobs, err := tx.QueryJobs(c.ctx, page)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				if canSeeJob(c, j) {
					out = append(out, jobView(j, now))
					if len(out) == f.Limit {
						next = j.ID
						return nil
					}
				}
			}
			if len(jobs) < page.Limit {
				return nil
			}
			page.After = jobs[len(jobs)-1].ID
		}
		next = page.After
		return nil
	})
	if err != nil {
		return err
	}
	resp := map[string]any{"jobs": out}
	if next > 0 {
		resp["next"] = next
	}
	return c.ok(http.StatusOK, resp)
}

// handleJobShow shows one job the caller may see.
func (s *Server) handleJobShow(c *call) error {
	if err := canSeeJobs(c); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return badRequest("job id %q is not a positive integer", clip(c.r.PathValue("id")))
	}
	var j *store.Job
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		j, err = tx.Job(c.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("job %d not found", id)
		}
		return err
	})
	if err != nil {
		return err
	}
	if !canSeeJob(c, *j) {
		return notFound("job %d not found", id)
	}
	return c.ok(http.StatusOK, map[string]any{"job": jobView(*j, s.cfg.Now())})
}

// verifyProgressEvery is how many packs a verification reads between
// updates of its job's progress.
const verifyProgressEvery = 16

// jobProgress records how far running job id has come. A failure is
// logged, not returned: progress is advisory and must not stop the work.
func (s *Server) jobProgress(ctx context.Context, id int64, p store.JobProgress) {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		j, err := tx.Job(ctx, id)
		if err != nil {
			return err
		}
		if j.State != store.JobRunning {
			return nil
		}
		j.Progress = p
		return tx.UpdateJob(ctx, j)
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("record job progress", "job", id, "err", err)
	}
}

// createBackupJob records a running backup job for the session se opens,
// in the transaction that audits the opening.
func (s *Server) createBackupJob(c *call, tx store.Tx, se *session) error {
	j := &store.Job{Kind: "backup", Vault: se.vault, State: store.JobRunning, Started: se.created.UTC(), By: se.principal,
		Detail: map[string]any{"session": se.id, "hostname": se.hostname}, Progress: store.JobProgress{Phase: "upload"}}
	if err := tx.CreateJob(c.ctx, j); err != nil {
		return fmt.Errorf("record the backup job: %w", err)
	}
	se.job = j.ID
	return nil
}

// finishBackupJob ends the job of backup session se: succeeded with the
// point it made, or failed with why when point is empty.
func (s *Server) finishBackupJob(ctx context.Context, se *session, point, why string) {
	if se == nil || se.job == 0 {
		return
	}
	se.mu.Lock()
	received, stored, uploaded := se.received, se.stored, se.bytes
	se.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	err := s.st.Update(ctx, func(tx store.Tx) error {
		j, err := tx.Job(ctx, se.job)
		if err != nil {
			return err
		}
		if j.State != store.JobRunning {
			return nil
		}
		j.Finished = s.cfg.Now().UTC()
		j.Bytes = uploaded
		j.Progress = store.JobProgress{Phase: "done", BytesDone: uploaded, ItemsDone: received}
		if j.Detail == nil {
			j.Detail = map[string]any{}
		}
		j.Detail["blobs_received"], j.Detail["blobs_stored"] = received, stored
		if point != "" {
			j.State = store.JobSucceded
			j.Detail["point"] = point
		} else {
			j.State, j.Error = store.JobFailed, why
		}
		return tx.UpdateJob(ctx, j)
	})
	if err != nil {
		s.log.Error("record the end of a backup job", "job", se.job, "err", err)
	}
}
