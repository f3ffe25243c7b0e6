package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/store"
)

// verifyLock returns the lock that serialises verifications of a vault.
func (vs *vaultSet) verifyLock(name string) *sync.Mutex {
	return vs.maintenanceLock("\x00verify/" + name)
}

// verify reads a vault's data and checks every point: each blob a point
// needs is present, authenticates and hashes to its id, and its record
// carries the server's valid signature. Packs verified sound within maxAge
// are not read again (full reads them all). The outcome is recorded per
// point and per pack, as a job, and audited.
func (s *Server) verify(ctx context.Context, name, by string, maxAge time.Duration, full bool) (*api.VerifyReport, error) {
	mu := s.vaults.verifyLock(name)
	mu.Lock()
	defer mu.Unlock()
	if full {
		maxAge = 0
	}
	started := s.cfg.Now().UTC()
	rep := &api.VerifyReport{Vault: name, Started: started, MaxAge: retention.Format(maxAge), Full: full,
		PointsOK: []string{}, PointsDamaged: []string{}, Problems: []api.VerifyProblem{}}
	job := &store.Job{Kind: "verify", Vault: name, State: store.JobRunning, Started: started, By: by}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, job) }); err != nil {
		return nil, err
	}
	rep.Job = job.ID
	err := s.verifySteps(ctx, name, maxAge, job.ID, rep)
	rep.Finished = s.cfg.Now().UTC()
	job.Finished = rep.Finished
	job.State = store.JobSucceded
	job.Progress = store.JobProgress{Phase: "done", ItemsDone: int64(rep.PacksRead + rep.PacksSkipped), ItemsTotal: int64(rep.Packs), BytesDone: rep.BytesRead}
	job.Bytes = rep.BytesRead
	job.Detail = map[string]any{"points": rep.Points, "points_damaged": len(rep.PointsDamaged), "packs_read": rep.PacksRead,
		"packs_skipped": rep.PacksSkipped, "bytes_read": rep.BytesRead, "problems": len(rep.Problems), "max_age": rep.MaxAge}
	outcome := audit.OutcomeOK
	if err != nil {
		job.State, job.Error, outcome = store.JobFailed, err.Error(), audit.OutcomeFailed
	}
	detail := job.Detail
	if len(rep.PointsDamaged) > 0 {
		detail = map[string]any{}
		for k, v := range job.Detail {
			detail[k] = v
		}
		detail["damaged"] = clipList(rep.PointsDamaged, 50)
	}
	uerr := s.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, s.serverEntry(by, "vault.verify", "vault/"+name, outcome, detail))
	})
	if err == nil {
		err = uerr
	}
	return rep, err
}

func clipList(ids []string, n int) []string {
	if len(ids) <= n {
		return ids
	}
	return append(slices.Clone(ids[:n]), fmt.Sprintf("… %d more", len(ids)-n))
}

// pointResult is what a verification found about one catalogued point.
type pointResult struct {
	p        *store.Point
	sigOK    bool
	problems map[int]bool // indexes into the report's problems
	gone     bool         // purged while the verification ran
}

// purged reports whether a point has left the catalog.
func (s *Server) purged(ctx context.Context, vault, id string) bool {
	err := s.st.View(ctx, func(tx store.Tx) error {
		_, err := tx.Point(ctx, vault, id)
		return err
	})
	return errors.Is(err, store.ErrNotFound)
}

func (s *Server) verifySteps(ctx context.Context, name string, maxAge time.Duration, jobID int64, rep *api.VerifyReport) error {
	var v *store.Vault
	var points []store.Point
	var packs map[string]store.PackVerification
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if v, err = tx.Vault(ctx, name); err != nil {
			return err
		}
		if points, err = tx.Points(ctx, store.PointFilter{Vault: name}); err != nil {
			return err
		}
		packs, err = tx.PackVerifications(ctx, name)
		return err
	})
	if err != nil {
		return err
	}
	ov, err := s.vaults.get(ctx, v)
	if err != nil {
		return err
	}
	// Nothing disappears under the check: garbage collection skips its
	// passes until the data is read (see openVault.verifying).
	ov.verifying.Add(1)
	defer ov.verifying.Add(-1)
	ov.gc.RLock()
	defer ov.gc.RUnlock()
	r, err := repo.Open(ctx, ov.be, ov.master, repo.Options{Logger: s.log})
	if err != nil {
		return err
	}
	defer r.Close()
	now := s.cfg.Now().UTC()
	var done []store.PackVerification
	opts := checker.Options{
		ReadData: true,
		SkipPack: func(id blob.ID) bool {
			pv, ok := packs[id.String()]
			return maxAge > 0 && ok && pv.OK && now.Sub(pv.VerifiedAt) < maxAge
		},
		PackDone: func(id blob.ID, ok bool) {
			done = append(done, store.PackVerification{Pack: id.String(), VerifiedAt: now, OK: ok})
			if len(done)%verifyProgressEvery == 1 {
				s.jobProgress(ctx, jobID, store.JobProgress{Phase: "packs", ItemsDone: int64(len(done))})
			}
		},
	}
	crep, err := checker.Check(ctx, r, opts)
	if err != nil {
		return err
	}
	rep.Packs, rep.PacksRead, rep.PacksSkipped, rep.BytesRead = crep.Packs, crep.PacksRead, crep.PacksSkipped, crep.BytesRead

	for _, pr := range crep.Problems {
		vp := api.VerifyProblem{Kind: pr.Kind, Object: pr.Object, Detail: pr.Detail}
		for _, a := range pr.Affected {
			vp.Affected = append(vp.Affected, api.VerifyAffected{Point: a.Point.String(), Path: a.Path})
		}
		rep.Problems = append(rep.Problems, vp)
	}
	results := make([]*pointResult, len(points))
	byID := map[string]*pointResult{}
	for i := range points {
		results[i] = &pointResult{p: &points[i], problems: map[int]bool{}}
		byID[points[i].ID] = results[i]
	}
	// Problems the checker attributes: files of points, unreadable records.
	for i, pr := range rep.Problems {
		for _, a := range pr.Affected {
			if res, ok := byID[a.Point]; ok {
				res.problems[i] = true
			}
		}
		if id, ok := strings.CutPrefix(pr.Object, "points/"); ok {
			if res, ok := byID[id]; ok {
				res.problems[i] = true
			}
		}
	}
	// The checker names a file under the first damaged blob it needs; a
	// point needing a damaged or missing pack is affected by that pack's
	// problem however the checker named its files.
	if err := attributePacks(ctx, r, rep.Problems, results); err != nil {
		return err
	}
	// The record of every point: stored, intact, signed by this server for
	// this vault, and what the catalog holds of it.
	for _, res := range results {
		if err := ctx.Err(); err != nil {
			return err
		}
		kind, detail := s.checkRecord(ctx, r, v.Name, res.p)
		res.sigOK = kind == ""
		if kind == "point-missing" && s.purged(ctx, v.Name, res.p.ID) {
			// Purged from the bin meanwhile (the record goes first, the
			// catalog entry after): nothing is lost.
			res.gone = true
			continue
		}
		if kind == "" || kind == "point-damaged" {
			continue // the checker reported an unreadable record already
		}
		rep.Problems = append(rep.Problems, api.VerifyProblem{Kind: kind, Object: "points/" + res.p.ID, Detail: detail})
		res.problems[len(rep.Problems)-1] = true
	}
	results = slices.DeleteFunc(results, func(res *pointResult) bool { return res.gone })
	for _, res := range results {
		for i := range res.problems {
			rep.Problems[i].Points = append(rep.Problems[i].Points, res.p.ID)
		}
	}
	for i := range rep.Problems {
		slices.Sort(rep.Problems[i].Points)
		rep.Problems[i].Points = slices.Compact(rep.Problems[i].Points)
	}
	// A missing pack that no point needs is what garbage collection leaves
	// where the storage still retains an index object naming it: noted,
	// not a problem.
	keep := make([]bool, len(rep.Problems))
	for i, pr := range rep.Problems {
		keep[i] = pr.Kind != "pack-missing" || len(pr.Points) > 0 || len(pr.Affected) > 0
		if !keep[i] {
			rep.Notes = append(rep.Notes, pr.Object+" is missing, but no point needs it (collected as garbage; an index object naming it is still retained)")
		}
	}
	var kept []api.VerifyProblem
	renum := map[int]int{}
	for i, pr := range rep.Problems {
		if keep[i] {
			renum[i] = len(kept)
			kept = append(kept, pr)
		}
	}
	rep.Problems = append([]api.VerifyProblem{}, kept...)
	for _, res := range results {
		m := map[int]bool{}
		for i := range res.problems {
			if j, ok := renum[i]; ok {
				m[j] = true
			}
		}
		res.problems = m
	}

	// Missing packs are unsound too: should one come back, it is read.
	for _, pr := range rep.Problems {
		if id, ok := strings.CutPrefix(pr.Object, "packs/"); ok && pr.Kind == "pack-missing" {
			done = append(done, store.PackVerification{Pack: id, VerifiedAt: now, OK: false})
		}
	}
	indexed := r.Index().PackContents()
	var gone []string
	for id := range packs {
		pid, err := blob.ParseID(id)
		if err != nil || indexed[pid] == nil {
			gone = append(gone, id)
		}
	}
	rep.Points = len(results)
	rep.OK = len(rep.Problems) == 0
	var records []*store.PointVerification
	for _, res := range results {
		pv := &store.PointVerification{Vault: v.Name, Point: res.p.ID, Job: jobID, VerifiedAt: now,
			SignatureOK: res.sigOK, PacksRead: rep.PacksRead, BytesRead: rep.BytesRead}
		for i := range res.problems {
			pr := rep.Problems[i]
			sp := store.VerifyProblem{Kind: pr.Kind, Object: pr.Object, Detail: pr.Detail}
			for _, a := range pr.Affected {
				if a.Point == res.p.ID {
					sp.Paths = append(sp.Paths, a.Path)
				}
			}
			pv.Problems = append(pv.Problems, sp)
		}
		slices.SortFunc(pv.Problems, func(a, b store.VerifyProblem) int { return strings.Compare(a.Object, b.Object) })
		pv.OK = res.sigOK && len(pv.Problems) == 0
		if pv.OK {
			rep.PointsOK = append(rep.PointsOK, res.p.ID)
		} else {
			rep.PointsDamaged = append(rep.PointsDamaged, res.p.ID)
		}
		records = append(records, pv)
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.RecordPackVerifications(ctx, v.Name, done); err != nil {
			return err
		}
		if err := tx.ForgetPackVerifications(ctx, v.Name, gone); err != nil {
			return err
		}
		for _, pv := range records {
			if err := tx.RecordPointVerification(ctx, pv); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkRecord checks the stored record of a catalogued point. It returns
// the kind of problem found ("" for none) and its detail.
func (s *Server) checkRecord(ctx context.Context, r *repo.Repository, vault string, p *store.Point) (kind, detail string) {
	id, err := blob.ParseID(p.ID)
	if err != nil {
		return "point-missing", "the catalog names an invalid point id"
	}
	rec, err := r.LoadPoint(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "point-missing", "the catalog names a point whose record is not in the vault"
	case err != nil:
		return "point-damaged", err.Error()
	}
	if err := s.verifyPoint(rec, vault); err != nil {
		return "signature-invalid", err.Error()
	}
	switch {
	case !bytes.Equal(rec.Server.Signature, p.Signature) || rec.Server.KeyID != p.KeyID:
		return "signature-invalid", "the catalog's signature of the point is not the one on its record"
	case rec.Tree.String() != p.Tree || !rec.Time.Equal(p.Time) || rec.Hostname != p.Hostname:
		return "signature-invalid", "the catalog entry does not match the signed record"
	}
	return "", ""
}

// attributePacks adds each point that needs a blob only damaged or missing
// packs hold to those packs' problems.
func attributePacks(ctx context.Context, r *repo.Repository, problems []api.VerifyProblem, results []*pointResult) error {
	bad := map[blob.ID]int{}
	for i, pr := range problems {
		if pr.Kind != "pack-missing" && pr.Kind != "pack-damaged" {
			continue
		}
		if id, err := blob.ParseID(strings.TrimPrefix(pr.Object, "packs/")); err == nil {
			bad[id] = i
		}
	}
	if len(bad) == 0 {
		return nil
	}
	idx := r.Index()
	blobHits := func(h blob.Handle) []int {
		locs := idx.LookupAll(h)
		var hits []int
		for _, l := range locs {
			i, ok := bad[l.Pack]
			if !ok {
				return nil // an intact copy elsewhere
			}
			hits = append(hits, i)
		}
		return hits
	}
	// memo holds, for each listing, the problems of the packs that it and
	// everything below it need.
	memo := map[blob.ID][]int{}
	var walk func(id blob.ID) ([]int, error)
	walk = func(id blob.ID) ([]int, error) {
		if hits, ok := memo[id]; ok {
			return hits, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		memo[id] = nil // a cycle ends here
		hits := blobHits(blob.Handle{ID: id, Type: blob.TreeBlob})
		t, err := r.LoadTree(ctx, id)
		if err == nil {
			for _, n := range t.Nodes {
				for _, c := range n.Content {
					hits = append(hits, blobHits(blob.Handle{ID: c, Type: blob.DataBlob})...)
				}
				if n.Subtree != nil {
					sub, err := walk(*n.Subtree)
					if err != nil {
						return nil, err
					}
					hits = append(hits, sub...)
				}
			}
		}
		slices.Sort(hits)
		hits = slices.Compact(hits)
		memo[id] = hits
		return hits, nil
	}
	for _, res := range results {
		root, err := blob.ParseID(res.p.Tree)
		if err != nil {
			continue
		}
		hits, err := walk(root)
		if err != nil {
			return err
		}
		for _, i := range hits {
			res.problems[i] = true
		}
	}
	return nil
}

func (s *Server) handleVerify(c *call) error {
	name, err := c.vaultParam(rbac.VaultVerify)
	if err != nil {
		return err
	}
	var req api.VerifyRequest
	if c.r.ContentLength != 0 {
		if err := decodeJSON(c.w, c.r, &req); err != nil {
			return err
		}
	}
	maxAge := s.cfg.VerifyMaxAge
	if req.MaxAge != "" {
		if maxAge, err = parseSpan("max_age", req.MaxAge); err != nil {
			return err
		}
	}
	if req.Full && req.MaxAge != "" && maxAge != 0 {
		return badRequest("give max_age or full, not both")
	}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		_, err := s.loadVault(c, tx, name)
		return err
	})
	if err != nil {
		return err
	}
	rep, err := s.verify(c.ctx, name, c.id.name(), maxAge, req.Full)
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, rep)
}

// verifyView returns the API's view of a point's latest verification.
func verifyView(pv *store.PointVerification) *api.PointVerified {
	if pv == nil {
		return nil
	}
	return &api.PointVerified{At: pv.VerifiedAt, OK: pv.OK, SignatureOK: pv.SignatureOK, Job: pv.Job, Problems: len(pv.Problems)}
}

// verifyCheckEvery is how often the verification schedule looks for
// vaults that are due.
const verifyCheckEvery = 10 * time.Minute

// verifyLoop verifies each vault, incrementally, once every VerifyEvery.
// When each vault was last verified is kept in the store, so a restart
// neither skips nor repeats a due verification.
func (s *Server) verifyLoop(ctx context.Context) {
	tick := time.NewTicker(min(s.cfg.VerifyEvery, verifyCheckEvery))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.verifyDue(ctx)
	}
}

// verifyDue verifies every vault whose last scheduled verification is at
// least VerifyEvery old.
func (s *Server) verifyDue(ctx context.Context) {
	var due []string
	now := s.cfg.Now().UTC()
	err := s.st.View(ctx, func(tx store.Tx) error {
		vs, err := tx.Vaults(ctx)
		if err != nil {
			return err
		}
		for _, v := range vs {
			last, err := tx.Setting(ctx, verifySetting(v.Name))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if t, perr := time.Parse(time.RFC3339Nano, last); err == nil && perr == nil && now.Sub(t) < s.cfg.VerifyEvery {
				continue
			}
			due = append(due, v.Name)
		}
		return nil
	})
	if err != nil {
		s.log.Error("verify: list vaults", "err", err)
		return
	}
	for _, n := range due {
		rep, err := s.verify(ctx, n, serverActor, s.cfg.VerifyMaxAge, false)
		if err != nil {
			s.log.Error("verify", "vault", n, "err", err)
			continue
		}
		if err := s.st.Update(ctx, func(tx store.Tx) error {
			return tx.SetSetting(ctx, verifySetting(n), rep.Started.Format(time.RFC3339Nano))
		}); err != nil {
			s.log.Error("verify: record the run", "vault", n, "err", err)
		}
		lvl := s.log.Info
		if !rep.OK {
			lvl = s.log.Error
		}
		lvl("verify", "vault", n, "points", rep.Points, "points_damaged", len(rep.PointsDamaged),
			"packs_read", rep.PacksRead, "packs_skipped", rep.PacksSkipped, "problems", len(rep.Problems))
	}
}

func verifySetting(vault string) string { return "verify.last/" + vault }
