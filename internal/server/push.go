package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/replicate"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/store"
)

// Push mode: this server (a workload site) sends its points to a vault of
// a central server through a backup session there, with a token that can
// only add points to that vault.
const (
	jobPush = "push"
	// pushAlertAfter is how many failures in a row of one point's push
	// raise push.stalled.
	pushAlertAfter = 3
)

// pushTokenAAD binds a sealed push token to its target.
func pushTokenAAD(name string) []byte { return []byte("push token " + name) }

func pushTargetView(t *store.PushTarget) api.PushTarget {
	vs := t.Vaults
	if vs == nil {
		vs = []string{}
	}
	return api.PushTarget{Name: t.Name, URL: t.URL, Fingerprint: t.Fingerprint, Vault: t.Vault, Vaults: vs, Site: t.Site,
		Principal: t.Principal, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, UpdatedAt: t.UpdatedAt, UpdatedBy: t.UpdatedBy}
}

// checkPushTargetRequest checks what can be checked without calling the
// central server.
func checkPushTargetRequest(req *api.PushTargetRequest) error {
	u, err := url.Parse(req.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" {
		return badRequest("url: want https://host:port of the central bunker server, got %q", clip(req.URL))
	}
	if !strings.HasPrefix(req.Fingerprint, "sha256:") || len(req.Fingerprint) != len("sha256:")+64 {
		return badRequest("fingerprint: want the central server's certificate fingerprint, sha256: and 64 hex digits, as `bunker server` prints it")
	}
	if req.Token == "" {
		return badRequest("token: give the push token the central server issued (a principal with backup-operator on its vault and nothing else)")
	}
	if err := checkVaultName(req.Vault); err != nil {
		return badRequest("vault: %v", err)
	}
	for i, v := range req.Vaults {
		if err := checkVaultName(v); err != nil {
			return badRequest("vaults[%d]: %v", i, err)
		}
	}
	if req.Site != "" {
		if err := checkVaultName(req.Site); err != nil {
			return badRequest("site: %v", err)
		}
	}
	return nil
}

// checkPushIdentity refuses a token that can do more at the central site
// than add points to the one vault: a workload site that is taken over
// must not hold anything that could read, change or delete central
// copies.
func checkPushIdentity(who api.Whoami, vault string) error {
	if len(who.Bindings) == 0 {
		return badRequest("token: %s holds no role at the central site; bind backup-operator on vault %s to it there", who.Principal, vault)
	}
	for _, b := range who.Bindings {
		if b.Role != rbac.BackupOperator || b.Vault != vault {
			return badRequest("token: it acts as %s, who holds %s on %s at the central site; a push token may hold backup-operator on vault %s only (make a principal for pushing there)",
				who.Principal, b.Role, scopeLabel(b.Vault), vault)
		}
	}
	return nil
}

func scopeLabel(v string) string {
	if v == rbac.AllVaults {
		return "all vaults"
	}
	return "vault " + v
}

// dialPushTarget returns a client for target t, with its certificate
// pinned and its token.
func (s *Server) dialPushTarget(t *store.PushTarget) (*client.Client, error) {
	return s.dialSealed("push target "+t.Name, t.URL, t.Fingerprint, t.TokenSealed, pushTokenAAD(t.Name))
}

func (s *Server) handlePushTargetPut(c *call) error {
	name := c.r.PathValue("name")
	c.target = "push-target/" + clip(name)
	if err := c.require(rbac.PushAdmin, rbac.AllVaults); err != nil {
		return err
	}
	if err := checkVaultName(name); err != nil {
		return badRequest("push target name: %v", err)
	}
	var req api.PushTargetRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkPushTargetRequest(&req); err != nil {
		return err
	}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		for i, v := range req.Vaults {
			if _, err := s.loadVault(c, tx, v); err != nil {
				return badRequest("vaults[%d]: %v", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Pushing sends a vault's content off this server: only someone who
	// may read it chooses to.
	for _, v := range req.Vaults {
		if err := c.require(rbac.DataRead, v); err != nil {
			return err
		}
	}
	who, err := peerIdentity(c, "the central server", req.URL, req.Fingerprint, req.Token)
	if err != nil {
		return err
	}
	if err := checkPushIdentity(who, req.Vault); err != nil {
		return err
	}
	sealed, err := s.box.Seal([]byte(req.Token), pushTokenAAD(name))
	if err != nil {
		return err
	}
	site := req.Site
	if site == "" {
		site = who.Principal
	}
	now := s.cfg.Now().UTC()
	t := &store.PushTarget{Name: name, URL: req.URL, Fingerprint: req.Fingerprint, TokenSealed: sealed, Vault: req.Vault,
		Vaults: req.Vaults, Site: site, Principal: who.Principal,
		CreatedAt: now, CreatedBy: c.id.name(), UpdatedAt: now, UpdatedBy: c.id.name()}
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		if err := tx.PutPushTarget(c.ctx, t); err != nil {
			return err
		}
		if t, err = tx.PushTarget(c.ctx, name); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"url": req.URL, "fingerprint": req.Fingerprint,
			"principal": who.Principal, "vault": req.Vault, "vaults": t.Vaults, "site": site})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, pushTargetView(t))
}

func (s *Server) handlePushTargetList(c *call) error {
	out, err := listAll(c, rbac.PushAdmin, store.Tx.PushTargets, pushTargetView)
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"push_targets": out})
}

func (s *Server) handlePushTargetDelete(c *call) error {
	name := c.r.PathValue("name")
	c.target = "push-target/" + clip(name)
	if err := c.require(rbac.PushAdmin, rbac.AllVaults); err != nil {
		return err
	}
	return s.deleteNamed(c, name, "push target", "bunker push-target list", store.Tx.DeletePushTarget)
}

// handlePointPush pushes one active point to a push target.
func (s *Server) handlePointPush(c *call) error {
	vault, err := c.vaultParam(rbac.DataRead)
	if err != nil {
		return err
	}
	if err := c.require(rbac.PushAdmin, rbac.AllVaults); err != nil {
		return err
	}
	var req api.PushRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if req.Target == "" {
		return badRequest("target: name the push target (see `bunker push-target list`)")
	}
	var v *store.Vault
	var p *store.Point
	var t *store.PushTarget
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		if v, err = s.loadVault(c, tx, vault); err != nil {
			return err
		}
		if p, err = findPoint(c, tx, vault, c.r.PathValue("point"), store.Active); err != nil {
			return err
		}
		c.target = "point/" + vault + "/" + p.ID
		t, err = tx.PushTarget(c.ctx, req.Target)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no push target %s (see `bunker push-target list`)", clip(req.Target))
		}
		return err
	})
	if err != nil {
		return err
	}
	if v.AirGapped {
		return forbidden("vault %s is air-gapped: its points are not copied out of it", vault)
	}
	rep, err := s.pushPoint(c.ctx, t, v, p, c.id.name())
	var ae *apiError
	if err != nil && !errors.As(err, &ae) && c.ctx.Err() == nil {
		return errorf(http.StatusBadGateway, "push_failed", "%v", err)
	}
	if err != nil {
		return err
	}
	c.audited = true // pushPoint audited it
	status := http.StatusCreated
	if rep.Existing {
		status = http.StatusOK
	}
	return c.ok(status, rep)
}

// pushPoint pushes point p of vault v to target t as a job. A point
// pushed there before is not sent again. A push that fails keeps what it
// stored, and the next attempt sends only the rest.
func (s *Server) pushPoint(ctx context.Context, t *store.PushTarget, v *store.Vault, p *store.Point, by string) (*api.PushReport, error) {
	// One push of a point to a target at a time: a push asked for while
	// the server pushes the point on its own waits, and then finds it
	// pushed.
	unlock, err := s.pushLocks.lock(ctx, t.Name+"\x00"+v.Name+"\x00"+p.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &api.PushReport{Target: t.Name, FromVault: v.Name, FromPoint: p.ID, ToVault: t.Vault, Stats: api.CopyStats{}}
	var prev *store.Push
	var verdict *store.PointVerdict
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if prev, err = tx.Pushed(ctx, t.Name, v.Name, p.ID); errors.Is(err, store.ErrNotFound) {
			prev, err = nil, nil
		}
		if err != nil {
			return err
		}
		if verdict, err = tx.PointVerdict(ctx, v.Name, p.ID); errors.Is(err, store.ErrNotFound) {
			verdict, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if prev != nil {
		rep.Existing, rep.ToPoint = true, prev.ToPoint
		return rep, nil
	}
	if verdict != nil && verdict.Level == store.VerdictInfected {
		return nil, conflict("point %s of vault %s is infected: it is not pushed (`bunker point show --vault %s %s`)", short(p.ID), v.Name, v.Name, short(p.ID))
	}
	started := s.cfg.Now().UTC()
	job := &store.Job{Kind: jobPush, Vault: v.Name, State: store.JobRunning, Started: started, By: by,
		Detail: map[string]any{"target": t.Name, "point": p.ID, "to_vault": t.Vault}}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, job) }); err != nil {
		return nil, err
	}
	rep.Job = job.ID
	err = s.pushSteps(ctx, t, v, p, by, job, rep)
	rep.DurationSeconds = s.cfg.Now().Sub(started).Seconds()
	if err != nil {
		s.finishPushJob(ctx, job, rep, by, err)
		return nil, err
	}
	if err := s.streaks.clear(ctx, s.st, streakKey(store.StreakPush, t.Name, v.Name, p.ID)); err != nil {
		s.log.Error("forget the failed pushes of a point", "target", t.Name, "point", p.ID, "err", err)
	}
	return rep, nil
}

// pushSteps sends the point's content and has the central server seal
// it; the job, the push and the audit entry are recorded together.
func (s *Server) pushSteps(ctx context.Context, t *store.PushTarget, v *store.Vault, p *store.Point, by string, job *store.Job, rep *api.PushReport) error {
	what := "push point " + short(p.ID) + " of vault " + v.Name + " to " + t.Name
	root, err := blob.ParseID(p.Tree)
	if err != nil {
		return fmt.Errorf("%s: tree: %w", what, err)
	}
	ov, err := s.vaults.get(ctx, v)
	if err != nil {
		return err
	}
	ov.gc.RLock()
	defer ov.gc.RUnlock()
	cl, err := s.dialPushTarget(t)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, remoteCallTimeout)
	dst, err := remote.StartPush(sctx, cl, t.Vault, api.SessionRequest{Hostname: p.Hostname, Paths: p.Paths, Tags: p.Tags})
	cancel()
	if err != nil {
		return fmt.Errorf("%s: open a backup session on vault %s there: %w (check the push token: `bunker push-target add` again)", what, t.Vault, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteCallTimeout)
		defer cancel()
		_ = dst.Close(cctx)
	}()
	m := dst.Checked(storeMap{st: s.st, scope: copyScope(ov.repo.IDKey(), "push/"+t.Name+"/"+t.Vault)})
	copied, stats, err := replicate.Copy(ctx, replicate.VaultSource{Vault: ov.repo}, dst, m, root, replicate.Options{})
	rep.Stats = api.CopyStats(stats)
	sent := func() {
		st := dst.Stats()
		rep.BlobsSent, rep.BytesSent = st.Blobs, st.StoredBytes
	}
	if err != nil {
		sent()
		return fmt.Errorf("%s: %w", what, err)
	}
	origin := repo.Origin{Site: t.Site, Vault: v.Name, Point: p.ID, Time: p.Time}
	cp, err := dst.Commit(ctx, copied, origin, p.Username, p.Summary)
	if client.IsStatus(err, http.StatusBadRequest) && strings.Contains(err.Error(), "incomplete") {
		// The central vault holds a listing an earlier push stored but
		// not all below it: its garbage collection took part of an
		// expired copy. Push the point again trusting no pair; what the
		// vault holds is still not sent.
		s.log.Warn("push again without earlier pairs", "target", t.Name, "vault", v.Name, "point", short(p.ID), "err", err)
		var more replicate.Stats
		copied, more, err = replicate.Copy(ctx, replicate.VaultSource{Vault: ov.repo}, dst, &replicate.MemMap{}, root, replicate.Options{})
		stats = addStats(stats, more)
		rep.Stats = api.CopyStats(stats)
		if err == nil {
			cp, err = dst.Commit(ctx, copied, origin, p.Username, p.Summary)
		}
	}
	sent()
	if err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	rep.ToPoint, rep.Expires, rep.Lock = cp.ID, cp.Expires, string(cp.Lock)
	var box outbox
	err = s.st.Update(ctx, func(tx store.Tx) error {
		box = nil
		now := s.cfg.Now().UTC()
		if err := tx.RecordPush(ctx, &store.Push{Target: t.Name, Vault: v.Name, Point: p.ID, ToPoint: cp.ID, At: now}); err != nil {
			return err
		}
		job.State, job.Finished, job.Bytes = store.JobSucceded, now, rep.BytesSent
		job.Detail["to_point"], job.Detail["bytes_read"], job.Detail["bytes_sent"] = cp.ID, stats.BytesRead, rep.BytesSent
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		detail := map[string]any{"target": t.Name, "url": t.URL, "to_vault": t.Vault, "to_point": cp.ID, "job": job.ID,
			"blobs_read": stats.BlobsRead, "bytes_read": stats.BytesRead, "blobs_sent": rep.BlobsSent, "bytes_sent": rep.BytesSent}
		if err := s.appendAudit(ctx, tx, s.serverEntry(by, "point.push", "point/"+v.Name+"/"+p.ID, audit.OutcomeOK, detail)); err != nil {
			return err
		}
		return s.emit(ctx, tx, &box, event.PushCompleted, v.Name, map[string]any{"job": job.ID, "point": p.ID,
			"target": t.Name, "to_vault": t.Vault, "to_point": cp.ID, "bytes_sent": rep.BytesSent,
			"duration_seconds": s.cfg.Now().Sub(job.Started).Seconds()})
	})
	if err != nil {
		return fmt.Errorf("%s: the central server recorded point %s, but recording it here failed: %w (push it again: it is answered with that point)", what, short(cp.ID), err)
	}
	s.deliver(ctx, box)
	return nil
}

func addStats(a, b replicate.Stats) replicate.Stats {
	return replicate.Stats{TreesRead: a.TreesRead + b.TreesRead, TreesSkipped: a.TreesSkipped + b.TreesSkipped,
		BlobsRead: a.BlobsRead + b.BlobsRead, BlobsKnown: a.BlobsKnown + b.BlobsKnown, BlobsNew: a.BlobsNew + b.BlobsNew,
		BytesRead: a.BytesRead + b.BytesRead, BytesNew: a.BytesNew + b.BytesNew}
}

// finishPushJob records a failed push: its job, an audit entry and the
// push.failed event, and push.stalled once the point failed
// pushAlertAfter times in a row. A push cut short by the server stopping
// is recorded, but not counted as a failure of the target.
func (s *Server) finishPushJob(ctx context.Context, job *store.Job, rep *api.PushReport, by string, cause error) {
	stopping := ctx.Err() != nil
	ctx = context.WithoutCancel(ctx)
	job.State, job.Finished, job.Error = store.JobFailed, s.cfg.Now().UTC(), cause.Error()
	job.Detail["bytes_read"], job.Detail["bytes_sent"] = rep.Stats.BytesRead, rep.BytesSent
	job.Bytes = rep.BytesSent
	var box outbox
	err := s.st.Update(ctx, func(tx store.Tx) error {
		box = nil
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		failures := 0
		detail := map[string]any{"target": rep.Target, "to_vault": rep.ToVault, "job": job.ID, "error": cause.Error()}
		if !stopping {
			n, err := s.streaks.add(ctx, tx, streakKey(store.StreakPush, rep.Target, rep.FromVault, rep.FromPoint))
			if err != nil {
				return err
			}
			failures, detail["failures"] = n, n
		}
		if err := s.appendAudit(ctx, tx, s.serverEntry(by, "point.push", "point/"+rep.FromVault+"/"+rep.FromPoint, audit.OutcomeFailed, detail)); err != nil {
			return err
		}
		fields := map[string]any{"job": job.ID, "point": rep.FromPoint, "target": rep.Target, "to_vault": rep.ToVault, "error": cause.Error()}
		if err := s.emit(ctx, tx, &box, event.PushFailed, rep.FromVault, fields); err != nil {
			return err
		}
		if failures < pushAlertAfter {
			return nil
		}
		return s.emit(ctx, tx, &box, event.PushStalled, rep.FromVault, map[string]any{"job": job.ID, "point": rep.FromPoint,
			"target": rep.Target, "to_vault": rep.ToVault, "failures": failures, "error": cause.Error()})
	})
	if err != nil {
		s.log.Error("record a failed push", "job", job.ID, "err", err)
		return
	}
	s.deliver(ctx, box)
}

// keyLocks holds one lock per key, taken with a context.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// lock takes the lock of key, waiting until it is free or ctx ends, and
// returns its release.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	for {
		k.mu.Lock()
		if k.m == nil {
			k.m = map[string]chan struct{}{}
		}
		held, busy := k.m[key]
		if !busy {
			ch := make(chan struct{})
			k.m[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.m, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pushTarget pushes every active point of the target's vaults that was
// not pushed to it yet, oldest first, and returns the errors. A point
// that fails is tried again on the next look; the points after it are
// still pushed.
func (s *Server) pushTarget(ctx context.Context, t *store.PushTarget, by string) []error {
	var errs []error
	for _, name := range t.Vaults {
		var v *store.Vault
		var ps []store.Point
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			if v, err = tx.Vault(ctx, name); err != nil {
				return err
			}
			ps, err = tx.Points(ctx, store.PointFilter{Vault: name, State: store.Active})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("vault %s: %w", name, err))
			continue
		}
		if v.AirGapped {
			errs = append(errs, fmt.Errorf("vault %s is air-gapped: its points are not pushed", name))
			continue
		}
		active := make(map[string]bool, len(ps))
		for i := range ps {
			active[ps[i].ID] = true
		}
		if err := s.streaks.forgetGone(ctx, s.st, store.StreakPush, t.Name, name, active); err != nil {
			s.log.Error("forget the failed pushes of points gone from a vault", "target", t.Name, "vault", name, "err", err)
		}
		for i := range ps {
			if ctx.Err() != nil {
				return append(errs, ctx.Err())
			}
			if _, err := s.pushPoint(ctx, t, v, &ps[i], by); err != nil {
				s.log.Warn("push to a central server", "target", t.Name, "vault", name, "point", short(ps[i].ID), "err", err)
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// pushLoop pushes the new points of every push target's vaults
// periodically.
func (s *Server) pushLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.PushEvery)
	defer tick.Stop()
	for {
		var ts []store.PushTarget
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			ts, err = tx.PushTargets(ctx)
			return err
		})
		if err != nil && ctx.Err() == nil {
			s.log.Error("read push targets", "err", err)
		}
		for i := range ts {
			s.pushTarget(ctx, &ts[i], "pusher")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
