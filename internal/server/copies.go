package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/replicate"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/store"
)

// Kinds of what copies record.
const (
	jobCopy            = "copy"
	eventCopyCompleted = "copy.completed"
	eventCopyFailed    = "copy.failed"
)

// handlePointCopy copies an active point into another vault of this
// server, whose keys, retention and lock then apply to the copy.
func (s *Server) handlePointCopy(c *call) error {
	from, err := c.vaultParam(rbac.DataRead)
	if err != nil {
		return err
	}
	var req api.CopyRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	switch {
	case req.ToVault == "":
		return badRequest("to_vault: name the vault to copy the point into")
	case req.ToVault == from:
		return badRequest("to_vault: the point is in vault %s already; copy it into another vault", clip(from))
	}
	if err := c.require(rbac.PointCreate, req.ToVault); err != nil {
		return err
	}
	var src, dst *store.Vault
	var p *store.Point
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		if src, err = s.loadVault(c, tx, from); err != nil {
			return err
		}
		if p, err = findPoint(c, tx, from, c.r.PathValue("point"), store.Active); err != nil {
			return err
		}
		c.target = "point/" + from + "/" + p.ID
		dst, err = s.loadVault(c, tx, req.ToVault)
		return err
	})
	if err != nil {
		return err
	}
	if src.AirGapped {
		return forbidden("vault %s is air-gapped: its points are not copied out of it", from)
	}
	return s.answerCopy(c, s.localCopy(src, p), dst)
}

// answerCopy copies from into dst as the caller, and answers with the
// report: 201 for a new copy, 200 for one the vault held already.
func (s *Server) answerCopy(c *call, from copyFrom, dst *store.Vault) error {
	rep, err := s.copyPoint(c.ctx, from, dst, c.id.name())
	if err != nil {
		return err
	}
	c.audited = true // copyPoint audited it
	status := http.StatusCreated
	if rep.Existing {
		status = http.StatusOK
	}
	return c.ok(status, rep)
}

// copyScope names the pairs of copies from the vault whose content key is
// key into vault dst: the key, not the source's name, identifies the
// source, so that a vault made again under the same name starts afresh.
func copyScope(key *crypto.IDKey, dst string) string {
	sum := sha256.Sum256(key.Bytes())
	return hex.EncodeToString(sum[:12]) + ">" + dst
}

// storeMap keeps a copy's pairs in the control-plane store.
type storeMap struct {
	st    store.Store
	scope string
}

func (m storeMap) Lookup(ctx context.Context, hs []blob.Handle) (map[blob.Handle]blob.ID, error) {
	var out map[blob.Handle]blob.ID
	err := m.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.LookupCopyPairs(ctx, m.scope, hs)
		return err
	})
	return out, err
}

func (m storeMap) Record(ctx context.Context, ps []replicate.Pair) error {
	cps := make([]store.CopyPair, len(ps))
	for i, p := range ps {
		cps[i] = store.CopyPair(p)
	}
	return m.st.Update(ctx, func(tx store.Tx) error { return tx.RecordCopyPairs(ctx, m.scope, cps) })
}

// existingCopy returns the active copy of origin in vault dst, or nil.
func existingCopy(ctx context.Context, tx store.Tx, dst string, origin repo.Origin) (*store.Point, error) {
	ps, err := tx.Points(ctx, store.PointFilter{Vault: dst, State: store.Active, CopyOf: origin.Point})
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if o := ps[i].Origin; o != nil && o.Site == origin.Site && o.Vault == origin.Vault && o.Point == origin.Point {
			return &ps[i], nil
		}
	}
	return nil, nil
}

// copyFrom is the original of a copy: where it is, its metadata, and how
// to read it.
type copyFrom struct {
	origin repo.Origin
	point  *store.Point // the original's metadata, as its server shows it
	plan   string       // the plan whose copy action copies it; "" for others
	// open starts reading the original: its blobs, the content key its
	// ids are under, and done, called when the copy ends.
	open func(ctx context.Context) (src replicate.Source, key *crypto.IDKey, done func(), err error)
	// admit, when set, is asked before a copy that dst holds none of yet
	// is started; an error refuses the copy.
	admit func(ctx context.Context, dst *store.Vault) error
}

// localCopy is the original of a copy from vault src of this server.
func (s *Server) localCopy(src *store.Vault, p *store.Point) copyFrom {
	return copyFrom{
		origin: repo.Origin{Vault: src.Name, Point: p.ID, Time: p.Time},
		point:  p,
		open: func(ctx context.Context) (replicate.Source, *crypto.IDKey, func(), error) {
			sov, err := s.vaults.get(ctx, src)
			if err != nil {
				return nil, nil, nil, err
			}
			sov.gc.RLock()
			return replicate.VaultSource{Vault: sov.repo}, sov.repo.IDKey(), sov.gc.RUnlock, nil
		},
	}
}

// copyPoint copies an original into vault dst as a job: the content
// through package replicate, then a point sealed by dst's policy whose
// origin names the original. A point dst holds a copy of already is not
// copied again, so that a copy asked for twice (an event delivered twice)
// makes one point. A copy that fails keeps what it stored, and the next
// attempt reads only the rest.
func (s *Server) copyPoint(ctx context.Context, from copyFrom, dst *store.Vault, by string) (*api.CopyReport, error) {
	o := from.origin
	rep := &api.CopyReport{FromSite: o.Site, FromVault: o.Vault, FromPoint: o.Point}
	var prev *store.Point
	var hs []store.Hold
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if prev, err = existingCopy(ctx, tx, dst.Name, o); err != nil || prev == nil {
			return err
		}
		hs, err = tx.Holds(ctx, dst.Name, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	if prev != nil {
		rep.Existing, rep.Point = true, s.pointView(dst, prev, hs)
		return rep, nil
	}
	if from.admit != nil {
		if err := from.admit(ctx, dst); err != nil {
			return nil, err
		}
	}
	started := s.cfg.Now().UTC()
	detail := map[string]any{"from_vault": o.Vault, "from_point": o.Point}
	if o.Site != "" {
		detail["from_site"] = o.Site
	}
	if from.plan != "" {
		detail["plan"] = from.plan
	}
	job := &store.Job{Kind: jobCopy, Vault: dst.Name, State: store.JobRunning, Started: started, By: by, Detail: detail}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, job) }); err != nil {
		return nil, err
	}
	rep.Job = job.ID
	sealed, stats, err := s.copySteps(ctx, from, dst, by, job)
	rep.Stats = api.CopyStats(stats)
	rep.DurationSeconds = s.cfg.Now().Sub(started).Seconds()
	if err != nil {
		s.finishCopyJob(ctx, job, rep, by, err)
		return nil, err
	}
	rep.Point = sealed.view
	s.afterSeal(ctx, sealed)
	return rep, nil
}

// copySteps copies the content and seals the copy; the job and its
// success are recorded in the transaction that records the point.
func (s *Server) copySteps(ctx context.Context, from copyFrom, dst *store.Vault, by string, job *store.Job) (*sealedPoint, replicate.Stats, error) {
	var stats replicate.Stats
	o, p := from.origin, from.point
	what := "point " + short(o.Point) + " of vault " + o.Vault
	if o.Site != "" {
		what += " on " + o.Site
	}
	root, err := blob.ParseID(p.Tree)
	if err != nil {
		return nil, stats, fmt.Errorf("%s: tree: %w", what, err)
	}
	src, key, done, err := from.open(ctx)
	if err != nil {
		return nil, stats, fmt.Errorf("read %s: %w", what, err)
	}
	defer done()
	dov, err := s.vaults.get(ctx, dst)
	if err != nil {
		return nil, stats, err
	}
	dov.gc.RLock()
	defer dov.gc.RUnlock()
	copied, stats, err := replicate.Copy(ctx, src, dov.repo, storeMap{st: s.st, scope: copyScope(key, dst.Name)}, root, replicate.Options{})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			dov.recover.Store(true)
		}
		return nil, stats, fmt.Errorf("copy %s into vault %s: %w", what, dst.Name, err)
	}
	pt := &repo.Point{
		Hostname: p.Hostname, Username: p.Username, Paths: p.Paths, Tags: p.Tags, Tree: copied, Summary: p.Summary, Program: "bunker",
		Server: &repo.Stamp{CreatedBy: by, Origin: &o},
	}
	var box outbox
	sealed, err := s.seal(ctx, dov, dst, pt, func(tx store.Tx, sp *store.Point) error {
		box = nil
		job.State, job.Finished = store.JobSucceded, s.cfg.Now().UTC()
		job.Detail["point"] = sp.ID
		job.Detail["bytes_read"], job.Detail["bytes_new"] = stats.BytesRead, stats.BytesNew
		job.Bytes = stats.BytesRead
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		detail := map[string]any{"from_vault": o.Vault, "from_point": o.Point, "job": job.ID,
			"blobs_read": stats.BlobsRead, "bytes_read": stats.BytesRead, "blobs_new": stats.BlobsNew}
		fields := map[string]any{"job": job.ID, "point": o.Point, "to_vault": dst.Name, "to_point": sp.ID,
			"bytes_sent": stats.BytesRead, "duration_seconds": s.cfg.Now().Sub(job.Started).Seconds()}
		vault := o.Vault
		if o.Site != "" {
			detail["from_site"], fields["from_site"], vault = o.Site, o.Site, dst.Name
		}
		planFields(job, detail, fields)
		if err := s.appendAudit(ctx, tx, s.serverEntry(by, "point.copy", "point/"+dst.Name+"/"+sp.ID, audit.OutcomeOK, detail)); err != nil {
			return err
		}
		return s.emit(ctx, tx, &box, eventCopyCompleted, vault, fields)
	})
	if err == nil {
		s.deliver(ctx, box)
	}
	if errors.Is(err, errIncomplete) {
		err = conflict("the copy of %s is incomplete in vault %s (%v); run `bunker check` on vault %s and copy again", what, dst.Name, err, dst.Name)
	}
	return sealed, stats, err
}

// finishCopyJob records a failed copy: its job, an audit entry, and the
// copy.failed event.
func (s *Server) finishCopyJob(ctx context.Context, job *store.Job, rep *api.CopyReport, by string, cause error) {
	ctx = context.WithoutCancel(ctx)
	job.State, job.Finished, job.Error = store.JobFailed, s.cfg.Now().UTC(), cause.Error()
	job.Detail["bytes_read"] = rep.Stats.BytesRead
	job.Bytes = rep.Stats.BytesRead
	var box outbox
	err := s.st.Update(ctx, func(tx store.Tx) error {
		box = nil
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		detail := map[string]any{"from_vault": rep.FromVault, "from_point": rep.FromPoint, "job": job.ID, "error": cause.Error()}
		fields := map[string]any{"job": job.ID, "point": rep.FromPoint, "to_vault": job.Vault, "error": cause.Error()}
		target, vault := "point/"+rep.FromVault+"/"+rep.FromPoint, rep.FromVault
		if rep.FromSite != "" {
			detail["from_site"], fields["from_site"] = rep.FromSite, rep.FromSite
			target, vault = "remote/"+rep.FromSite, job.Vault
		}
		planFields(job, detail, fields)
		if err := s.appendAudit(ctx, tx, s.serverEntry(by, "point.copy", target, audit.OutcomeFailed, detail)); err != nil {
			return err
		}
		return s.emit(ctx, tx, &box, eventCopyFailed, vault, fields)
	})
	if err != nil {
		s.log.Error("record a failed copy", "job", job.ID, "err", err)
		return
	}
	s.deliver(ctx, box)
}

// planFields adds, for a copy a plan's copy action made, the plan and the
// copy action to its audit detail and its event's fields.
func planFields(job *store.Job, detail, fields map[string]any) {
	if name, _ := job.Detail["plan"].(string); name != "" {
		detail["plan"], fields["plan"], fields["copy"] = name, name, job.Vault
	}
}

// short is the 8-digit form of a point id.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
