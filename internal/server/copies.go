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
	rep, err := s.copyPoint(c.ctx, src, p, dst, c.id.name())
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
	ps, err := tx.Points(ctx, store.PointFilter{Vault: dst, State: store.Active})
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

// copyPoint copies point p of vault src into vault dst as a job: the
// content through package replicate, then a point sealed by dst's policy
// whose origin names p. A point dst holds a copy of already is not copied
// again, so that a copy asked for twice (an event delivered twice) makes
// one point. A copy that fails keeps what it stored, and the next attempt
// reads only the rest.
func (s *Server) copyPoint(ctx context.Context, src *store.Vault, p *store.Point, dst *store.Vault, by string) (*api.CopyReport, error) {
	origin := repo.Origin{Vault: src.Name, Point: p.ID, Time: p.Time}
	rep := &api.CopyReport{FromVault: src.Name, FromPoint: p.ID}
	var prev *store.Point
	var hs []store.Hold
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if prev, err = existingCopy(ctx, tx, dst.Name, origin); err != nil || prev == nil {
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
	started := s.cfg.Now().UTC()
	job := &store.Job{Kind: jobCopy, Vault: dst.Name, State: store.JobRunning, Started: started, By: by,
		Detail: map[string]any{"from_vault": src.Name, "from_point": p.ID}}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, job) }); err != nil {
		return nil, err
	}
	rep.Job = job.ID
	sealed, stats, err := s.copySteps(ctx, src, p, dst, by, origin, job)
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
func (s *Server) copySteps(ctx context.Context, src *store.Vault, p *store.Point, dst *store.Vault, by string, origin repo.Origin, job *store.Job) (*sealedPoint, replicate.Stats, error) {
	var stats replicate.Stats
	root, err := blob.ParseID(p.Tree)
	if err != nil {
		return nil, stats, err
	}
	sov, err := s.vaults.get(ctx, src)
	if err != nil {
		return nil, stats, err
	}
	dov, err := s.vaults.get(ctx, dst)
	if err != nil {
		return nil, stats, err
	}
	sov.gc.RLock()
	defer sov.gc.RUnlock()
	dov.gc.RLock()
	defer dov.gc.RUnlock()
	copied, stats, err := replicate.Copy(ctx, replicate.VaultSource{Vault: sov.repo}, dov.repo,
		storeMap{st: s.st, scope: copyScope(sov.repo.IDKey(), dst.Name)}, root, replicate.Options{})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			dov.recover.Store(true)
		}
		return nil, stats, fmt.Errorf("copy point %s of vault %s into vault %s: %w", short(p.ID), src.Name, dst.Name, err)
	}
	pt := &repo.Point{
		Hostname: p.Hostname, Username: p.Username, Paths: p.Paths, Tags: p.Tags, Tree: copied, Summary: p.Summary, Program: "bunker",
		Server: &repo.Stamp{CreatedBy: by, Origin: &origin},
	}
	var box outbox
	sealed, err := s.seal(ctx, dov, dst, pt, func(tx store.Tx, sp *store.Point) error {
		box = nil
		job.State, job.Finished = store.JobSucceded, s.cfg.Now().UTC()
		job.Detail["point"] = sp.ID
		job.Detail["bytes_read"], job.Detail["bytes_new"] = stats.BytesRead, stats.BytesNew
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		detail := map[string]any{"from_vault": src.Name, "from_point": p.ID, "job": job.ID,
			"blobs_read": stats.BlobsRead, "bytes_read": stats.BytesRead, "blobs_new": stats.BlobsNew}
		if err := s.appendAudit(ctx, tx, s.serverEntry(by, "point.copy", "point/"+dst.Name+"/"+sp.ID, audit.OutcomeOK, detail)); err != nil {
			return err
		}
		return s.emit(ctx, tx, &box, eventCopyCompleted, src.Name, map[string]any{"job": job.ID, "point": p.ID,
			"to_vault": dst.Name, "to_point": sp.ID, "bytes_sent": stats.BytesRead,
			"duration_seconds": s.cfg.Now().Sub(job.Started).Seconds()})
	})
	if err == nil {
		s.deliver(ctx, box)
	}
	if errors.Is(err, errIncomplete) {
		err = conflict("the copy of point %s is incomplete in vault %s (%v); run `bunker check` on vault %s and copy again", short(p.ID), dst.Name, err, dst.Name)
	}
	return sealed, stats, err
}

// finishCopyJob records a failed copy: its job, an audit entry, and the
// copy.failed event.
func (s *Server) finishCopyJob(ctx context.Context, job *store.Job, rep *api.CopyReport, by string, cause error) {
	ctx = context.WithoutCancel(ctx)
	job.State, job.Finished, job.Error = store.JobFailed, s.cfg.Now().UTC(), cause.Error()
	job.Detail["bytes_read"] = rep.Stats.BytesRead
	var box outbox
	err := s.st.Update(ctx, func(tx store.Tx) error {
		box = nil
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		detail := map[string]any{"from_vault": rep.FromVault, "from_point": rep.FromPoint, "job": job.ID, "error": cause.Error()}
		if err := s.appendAudit(ctx, tx, s.serverEntry(by, "point.copy", "point/"+rep.FromVault+"/"+rep.FromPoint, audit.OutcomeFailed, detail)); err != nil {
			return err
		}
		return s.emit(ctx, tx, &box, eventCopyFailed, rep.FromVault, map[string]any{"job": job.ID, "point": rep.FromPoint,
			"to_vault": job.Vault, "error": cause.Error()})
	})
	if err != nil {
		s.log.Error("record a failed copy", "job", job.ID, "err", err)
		return
	}
	s.deliver(ctx, box)
}

// short is the 8-digit form of a point id.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
