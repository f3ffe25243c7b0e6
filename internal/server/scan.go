package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/pointdiff"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/scan"
	"github.com/bunkerhq/bunker/internal/store"
)

// Event kinds.
const (
	EventVerdict        = "scan.verdict"         // a point got a verdict
	EventVerdictChanged = "scan.verdict_changed" // its level differs from the previous point's of the same source
)

// sameSource reports whether p was made of the given host and paths: the
// source a backup's parent and a scan's previous point are chosen from.
func sameSource(p *store.Point, host string, paths []string) bool {
	return p.Hostname == host && slices.Equal(p.Paths, paths)
}

// previousOf returns the newest active point of p's source older than p
// (or, stamped at the same instant, its backup's parent), or nil.
func previousOf(ctx context.Context, tx store.Tx, p *store.Point) (*store.Point, error) {
	ps, err := tx.Points(ctx, store.PointFilter{Vault: p.Vault, State: store.Active, Hostname: p.Hostname})
	if err != nil {
		return nil, err
	}
	var prev *store.Point
	for i := range ps { // oldest first
		q := &ps[i]
		// Points stamped at the same instant: the backup's parent came first.
		if q.ID == p.ID || q.Time.After(p.Time) || q.Time.Equal(p.Time) && p.Parent != q.ID {
			continue
		}
		if sameSource(q, p.Hostname, p.Paths) {
			prev = q
		}
	}
	return prev, nil
}

// scanLock returns the lock that serialises scans of a vault.
func (vs *vaultSet) scanLock(name string) *sync.Mutex {
	return vs.maintenanceLock("\x00scan/" + name)
}

// scanPoint compares a point with prev (by default the previous active
// point of its source), judges what changed, and records the verdict, the
// events it raises and a job, and audits the scan.
func (s *Server) scanPoint(ctx context.Context, vault, id, by string, prev *store.Point) (*api.ScanReport, error) {
	mu := s.vaults.scanLock(vault)
	mu.Lock()
	defer mu.Unlock()
	var v *store.Vault
	var p *store.Point
	var prevVerdict *store.PointVerdict
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if v, err = tx.Vault(ctx, vault); err != nil {
			return err
		}
		if p, err = tx.Point(ctx, vault, id); err != nil {
			return err
		}
		if prev == nil {
			if prev, err = previousOf(ctx, tx, p); err != nil {
				return err
			}
		}
		if prev != nil {
			prevVerdict, err = tx.PointVerdict(ctx, vault, prev.ID)
			if errors.Is(err, store.ErrNotFound) {
				prevVerdict, err = nil, nil
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	started := s.cfg.Now().UTC()
	rep := &api.ScanReport{Vault: vault, Point: p.ID, Hostname: p.Hostname, Paths: p.Paths, Started: started, Evidence: []store.ScanEvidence{}}
	if prev != nil {
		rep.Previous = prev.ID
	}
	if prevVerdict != nil {
		rep.PreviousLevel = prevVerdict.Level
	}
	job := &store.Job{Kind: "scan", Vault: vault, State: store.JobRunning, Started: started, By: by,
		Detail: map[string]any{"point": p.ID, "previous": rep.Previous}}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, job) }); err != nil {
		return nil, err
	}
	rep.Job = job.ID
	verdict, stats, err := s.judgePoint(ctx, v, p, prev, prevVerdict)
	rep.Finished = s.cfg.Now().UTC()
	job.Finished, job.State = rep.Finished, store.JobSucceded
	target := "point/" + vault + "/" + p.ID
	outcome := audit.OutcomeOK
	if err != nil {
		job.State, job.Error, outcome = store.JobFailed, err.Error(), audit.OutcomeFailed
	} else {
		rep.Level, rep.Score, rep.Stats = verdict.Level.String(), verdict.Score, stats
		rep.EvidenceTotal = len(verdict.Evidence)
		for _, e := range verdict.Evidence {
			rep.Evidence = append(rep.Evidence, store.ScanEvidence{Path: e.Path, Reason: e.Reason, Weight: e.Weight, Strong: e.Strong})
		}
		slices.SortStableFunc(rep.Evidence, func(a, b store.ScanEvidence) int {
			switch {
			case a.Weight > b.Weight:
				return -1
			case a.Weight < b.Weight:
				return 1
			}
			return 0
		})
		if len(rep.Evidence) > store.MaxStoredEvidence {
			rep.Evidence = rep.Evidence[:store.MaxStoredEvidence]
		}
		rep.Changed = prevVerdict != nil && prevVerdict.Level != rep.Level
		job.Detail["level"], job.Detail["score"] = rep.Level, rep.Score
		job.Detail["changes"], job.Detail["examined"], job.Detail["bytes_read"] = stats.Changes, stats.Examined, stats.BytesRead
		job.Detail["evidence"] = rep.EvidenceTotal
	}
	detail := map[string]any{}
	for k, v := range job.Detail {
		detail[k] = v
	}
	if rep.Changed {
		detail["previous_level"] = rep.PreviousLevel
	}
	// Recorded even when the scan was cancelled (the server stopping).
	wctx := context.WithoutCancel(ctx)
	var box outbox
	uerr := s.st.Update(wctx, func(tx store.Tx) error {
		box = nil
		if err := tx.UpdateJob(wctx, job); err != nil {
			return err
		}
		if err == nil {
			if err := s.recordVerdict(wctx, tx, rep, &box); err != nil {
				return err
			}
		}
		return s.appendAudit(wctx, tx, s.serverEntry(by, "point.scan", target, outcome, detail))
	})
	if uerr == nil {
		s.deliver(wctx, box)
	}
	if err == nil {
		err = uerr
	}
	if err != nil {
		s.metrics.scans.WithLabelValues("failed").Inc()
		return nil, err
	}
	s.metrics.scans.WithLabelValues(rep.Level).Inc()
	lvl := s.log.Info
	if rep.Level != store.VerdictClean {
		lvl = s.log.Warn
	}
	lvl("scan", "vault", vault, "point", p.ID, "previous", rep.Previous, "level", rep.Level, "score", rep.Score,
		"changes", rep.Stats.Changes, "examined", rep.Stats.Examined, "bytes_read", rep.Stats.BytesRead)
	return rep, nil
}

// recordVerdict stores a scan's verdict and appends its events; a change of
// verdict is queued in box for the notifier.
func (s *Server) recordVerdict(ctx context.Context, tx store.Tx, rep *api.ScanReport, box *outbox) error {
	pv := &store.PointVerdict{Vault: rep.Vault, Point: rep.Point, Job: rep.Job, ScannedAt: rep.Finished, Level: rep.Level,
		Score: rep.Score, Previous: rep.Previous, Evidence: rep.Evidence, EvidenceTotal: rep.EvidenceTotal, Stats: rep.Stats}
	if err := tx.RecordPointVerdict(ctx, pv); err != nil {
		return err
	}
	data := map[string]any{"level": rep.Level, "score": rep.Score, "previous": rep.Previous, "job": rep.Job,
		"evidence_count": rep.EvidenceTotal, "hostname": rep.Hostname, "paths": rep.Paths}
	if err := s.record(ctx, tx, nil, event.Envelope{Kind: EventVerdict, Vault: rep.Vault, Subject: rep.Point, Detail: data}); err != nil {
		return err
	}
	if !rep.Changed {
		return nil
	}
	changed := map[string]any{"from": rep.PreviousLevel, "to": rep.Level, "score": rep.Score, "previous": rep.Previous,
		"job": rep.Job, "hostname": rep.Hostname, "paths": rep.Paths}
	return s.record(ctx, tx, box, event.Envelope{Kind: EventVerdictChanged, Vault: rep.Vault, Subject: rep.Point, Detail: changed})
}

// judgePoint lists what changed from prev to p and judges it. Garbage
// collection skips its passes meanwhile, so nothing read disappears.
func (s *Server) judgePoint(ctx context.Context, v *store.Vault, p, prev *store.Point, prevVerdict *store.PointVerdict) (scan.Verdict, store.ScanStats, error) {
	ov, err := s.vaults.get(ctx, v)
	if err != nil {
		return scan.Verdict{}, store.ScanStats{}, err
	}
	ov.verifying.Add(1)
	defer ov.verifying.Add(-1)
	ov.gc.RLock()
	defer ov.gc.RUnlock()
	root, err := blob.ParseID(p.Tree)
	if err != nil {
		return scan.Verdict{}, store.ScanStats{}, err
	}
	var prevRoot *blob.ID
	opts := scan.Options{}
	if prev != nil {
		id, err := blob.ParseID(prev.Tree)
		if err != nil {
			return scan.Verdict{}, store.ScanStats{}, err
		}
		prevRoot = &id
		opts.PreviousFiles = pointdiff.FileCount(prev.Summary)
	}
	diff, err := pointdiff.Diff(ctx, ov.repo, prevRoot, root)
	if err != nil {
		return scan.Verdict{}, store.ScanStats{}, err
	}
	verdict, err := scan.Judge(ctx, diff.Changes, opts)
	if err != nil {
		return scan.Verdict{}, store.ScanStats{}, err
	}
	if prevVerdict != nil {
		verdict = verdict.WithCarried(CarryVerdict(prevVerdict.Level, prevVerdict.Evidence, diff.Changes))
	}
	return verdict, StatsOf(verdict.Stats, diff.TreesLoaded), nil
}

// CarryVerdict brings forward the findings of the previous point's verdict
// (level and evidence as stored) that still hold after changes: see
// scan.Carry.
func CarryVerdict(level string, evidence []store.ScanEvidence, changes []scan.Change) (scan.Level, []scan.Evidence) {
	prev, ok := scan.ParseLevel(level)
	if !ok {
		return scan.Clean, nil
	}
	ev := make([]scan.Evidence, len(evidence))
	for i, e := range evidence {
		ev[i] = scan.Evidence{Path: e.Path, Reason: e.Reason, Weight: e.Weight, Strong: e.Strong}
	}
	return scan.Carry(prev, ev, changes, scan.Options{})
}

// StatsOf converts a verdict's statistics for the store and the API.
func StatsOf(st scan.Stats, treesLoaded int) store.ScanStats {
	return store.ScanStats{Changes: st.Changes, Added: st.Added, Modified: st.Modified, Deleted: st.Deleted, Renamed: st.Renamed,
		Examined: st.Examined, Strong: st.Strong, Weak: st.Weak, Unreadable: st.Unreadable, BytesChanged: st.BytesChanged, BytesRead: st.BytesRead, TreesLoaded: treesLoaded}
}

// scanLater scans a new point of a vault that asks for it, in the
// background.
func (s *Server) scanLater(vault, point string) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	if s.scanClosed {
		return
	}
	s.scans.Add(1)
	go func() {
		defer s.scans.Done()
		if _, err := s.scanPoint(s.scanCtx, vault, point, serverActor, nil); err != nil && s.scanCtx.Err() == nil {
			s.log.Error("scan a new point", "vault", vault, "point", point, "err", err)
		}
	}()
}

// stopScans ends background scans and waits for them.
func (s *Server) stopScans() {
	s.scanMu.Lock()
	s.scanClosed = true
	s.scanMu.Unlock()
	s.scanStop()
	s.scans.Wait()
}

// scanPending scans, one after the other in the background, the active
// points without a verdict of the scanning vaults (of vault alone, unless
// empty): those a restart interrupted, and those made before scanning was
// turned on. Oldest first, so each finds its previous point's verdict.
func (s *Server) scanPending(ctx context.Context, vault string) {
	type todo struct{ vault, point string }
	var due []todo
	err := s.st.View(ctx, func(tx store.Tx) error {
		vs, err := tx.Vaults(ctx)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if !v.Scan || vault != "" && v.Name != vault {
				continue
			}
			ps, err := tx.Points(ctx, store.PointFilter{Vault: v.Name, State: store.Active})
			if err != nil {
				return err
			}
			done, err := tx.PointVerdicts(ctx, v.Name)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if _, ok := done[p.ID]; !ok {
					due = append(due, todo{v.Name, p.ID})
				}
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("scan: list unscanned points", "err", err)
		return
	}
	if len(due) == 0 {
		return
	}
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	if s.scanClosed {
		return
	}
	s.scans.Add(1)
	go func() {
		defer s.scans.Done()
		for _, d := range due {
			if s.scanCtx.Err() != nil {
				return
			}
			var err error
			_ = s.st.View(s.scanCtx, func(tx store.Tx) error {
				_, err = tx.PointVerdict(s.scanCtx, d.vault, d.point)
				return nil
			})
			if !errors.Is(err, store.ErrNotFound) {
				continue // scanned meanwhile, or gone
			}
			if _, err := s.scanPoint(s.scanCtx, d.vault, d.point, serverActor, nil); err != nil && s.scanCtx.Err() == nil {
				s.log.Error("scan an unscanned point", "vault", d.vault, "point", d.point, "err", err)
			}
		}
	}()
}

func (s *Server) handleScan(c *call) error {
	vault, err := c.vaultParam(rbac.PointScan)
	if err != nil {
		return err
	}
	var req api.ScanRequest
	if c.r.ContentLength != 0 {
		if err := decodeJSON(c.w, c.r, &req); err != nil {
			return err
		}
	}
	var p, prev *store.Point
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		if _, err := s.loadVault(c, tx, vault); err != nil {
			return err
		}
		var err error
		if p, err = findPoint(c, tx, vault, c.r.PathValue("point"), ""); err != nil {
			return err
		}
		c.target = "point/" + vault + "/" + p.ID
		if req.Previous != "" {
			if prev, err = findPoint(c, tx, vault, req.Previous, ""); err != nil {
				return err
			}
			if prev.ID == p.ID {
				return badRequest("a point cannot be compared with itself")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rep, err := s.scanPoint(c.ctx, vault, p.ID, c.id.name(), prev)
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, rep)
}

// verdictView returns the API's view of a point's latest verdict.
func verdictView(pv *store.PointVerdict) *api.PointVerdict {
	if pv == nil {
		return nil
	}
	return &api.PointVerdict{Level: pv.Level, Score: pv.Score, ScannedAt: pv.ScannedAt, Job: pv.Job, Previous: pv.Previous,
		EvidenceCount: pv.EvidenceTotal, Evidence: pv.Evidence}
}

func (s *Server) handleEvents(c *call) error {
	if err := c.require(rbac.EventRead, rbac.AllVaults); err != nil {
		return err
	}
	after, err := queryUint(c.r, "after")
	if err != nil {
		return err
	}
	limit, err := queryUint(c.r, "limit")
	if err != nil {
		return err
	}
	switch {
	case limit == 0:
		limit = 1000
	case limit > 5000:
		limit = 5000
	}
	if after > 1<<62 {
		return badRequest("query parameter after is out of range")
	}
	page := api.EventPage{Next: int64(after)}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		page.Events, err = tx.Events(c.ctx, int64(after), int(limit))
		return err
	})
	if err != nil {
		return err
	}
	if page.Events == nil {
		page.Events = []store.Event{}
	}
	if n := len(page.Events); n > 0 {
		page.Next = page.Events[n-1].ID
	}
	return c.ok(http.StatusOK, page)
}
