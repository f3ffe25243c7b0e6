package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/tree"
	"github.com/bunkerhq/bunker/internal/wire"
)

// Limits of the blob endpoints.
const (
	maxHandlesPerRequest = 10000
	maxFramesPerRequest  = 4096
	maxFramesBody        = 256 << 20
	maxPaths             = 1000
	// maxUploadsInFlight bounds concurrent upload requests: each holds up to
	// one blob (at most 64 MiB) in memory while it checks it.
	maxUploadsInFlight = 16
)

func checkPaths(ps []string) error {
	if len(ps) == 0 || len(ps) > maxPaths {
		return badRequest("a backup names 1 to %d paths", maxPaths)
	}
	for _, p := range ps {
		if !strings.HasPrefix(p, "/") || len(p) > 4096 || path.Clean(p) != p || !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
			return badRequest("invalid path %q: give absolute, clean paths", clip(p))
		}
	}
	return nil
}

func (s *Server) handleSessionCreate(c *call) error {
	vault, err := c.vaultParam(rbac.PointCreate)
	if err != nil {
		return err
	}
	var req api.SessionRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkHost("hostname", req.Hostname); err != nil {
		return err
	}
	if err := c.id.requireHost(req.Hostname); err != nil {
		return err
	}
	if err := checkPaths(req.Paths); err != nil {
		return err
	}
	if err := checkTags(req.Tags); err != nil {
		return err
	}
	paths := slices.Clone(req.Paths)
	slices.Sort(paths)
	paths = slices.Compact(paths)
	var v *store.Vault
	var parent *store.Point
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		if v, err = s.loadVault(c, tx, vault); err != nil {
			return err
		}
		parent, err = s.findParent(c, tx, vault, req.Hostname, paths, req.Parent)
		return err
	})
	if err != nil {
		return err
	}
	ov, err := s.vaults.get(c.ctx, v)
	if err != nil {
		return err
	}
	if ov.recover.Swap(false) {
		// A write failed earlier: packs it stored before failing may be
		// unindexed; index them so this backup re-uses them.
		ov.gc.RLock()
		if _, err := ov.repo.RecoverPacks(c.ctx); err != nil {
			ov.recover.Store(true)
			s.log.Warn("recover packs after a storage failure", "vault", v.Name, "err", err)
		}
		ov.gc.RUnlock()
	}
	now := s.cfg.Now()
	se := &session{
		id: newSessionID(), vault: vault, principal: c.id.name(), created: now, lastUsed: now,
		hostname: req.Hostname, paths: paths, tags: req.Tags, parent: parent,
		parentTrees: map[blob.ID]bool{}, claims: map[blob.Handle]struct{}{},
	}
	if parent != nil {
		if id, err := blob.ParseID(parent.Tree); err == nil {
			se.parentTrees[id] = true
		}
	}
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		detail := map[string]any{"session": se.id, "hostname": se.hostname, "paths": len(se.paths)}
		if parent != nil {
			detail["parent"] = parent.ID
		}
		if err := s.createBackupJob(c, tx, se); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, detail)
	})
	if err != nil {
		return err
	}
	s.sessions.add(se)
	s.metrics.sessions.Set(float64(s.sessions.count()))
	cfg := ov.repo.Config()
	return c.ok(http.StatusCreated, api.SessionResponse{
		Session: se.id, ContentKey: base64.StdEncoding.EncodeToString(ov.repo.IDKey().Bytes()),
		ChunkMin: cfg.ChunkMin, ChunkAvg: cfg.ChunkAvg, ChunkMax: cfg.ChunkMax, PackSize: cfg.PackSize, Parent: parent,
	})
}

// findParent picks the point a backup compares with: the one named, or the
// latest active point of the same host and paths. Only points the caller
// made itself qualify: a backup client never reads another's listings.
func (s *Server) findParent(c *call, tx store.Tx, vault, host string, paths []string, ref string) (*store.Point, error) {
	if ref != "" {
		p, err := findPoint(c, tx, vault, ref, store.Active)
		if err != nil {
			return nil, err
		}
		if p.CreatedBy != c.id.name() {
			return nil, forbidden("point %s was not made by %s and cannot be its parent", p.ID[:8], c.id.name())
		}
		if !c.id.hostAllowed(p.Hostname) {
			return nil, forbidden("point %s is of host %s, which this token may not back up, and cannot be its parent", p.ID[:8], clip(p.Hostname))
		}
		return p, nil
	}
	ps, err := tx.Points(c.ctx, store.PointFilter{Vault: vault, State: store.Active, Hostname: host})
	if err != nil {
		return nil, err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].CreatedBy == c.id.name() && sameSource(&ps[i], host, paths) {
			return &ps[i], nil
		}
	}
	return nil, nil
}

// withSession runs fn on the caller's session id with the vault open and
// its garbage collection held off.
func (s *Server) withSession(c *call, restore bool, fn func(se *session, ov *openVault) error) error {
	id := c.r.PathValue("session")
	se, ok := s.sessions.get(id, c.id, restore)
	if !ok {
		return notFound("no open session %s for %s: it ended, timed out or the server restarted; start the %s again", clip(id), c.id.name(), map[bool]string{false: "backup", true: "restore"}[restore])
	}
	defer s.sessions.done(se)
	c.target = "vault/" + se.vault
	perm := rbac.PointCreate
	if restore {
		perm = rbac.DataRead
	}
	if err := c.require(perm, se.vault); err != nil {
		return err
	}
	ov, err := s.vaults.byName(c, se.vault)
	if err != nil {
		return err
	}
	ov.gc.RLock()
	defer ov.gc.RUnlock()
	return fn(se, ov)
}

// readBody reads a binary request body of the given type, bounded.
func readBody(c *call, contentType string, limit int64) ([]byte, error) {
	if ct := c.r.Header.Get("Content-Type"); ct != contentType {
		return nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as %s, not %q", contentType, clip(ct))
	}
	return io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, limit))
}

// handleMissing answers which of the listed blobs the vault lacks.
func (s *Server) handleMissing(c *call) error {
	return s.withSession(c, false, func(se *session, ov *openVault) error {
		body, err := readBody(c, wire.HandlesType, maxHandlesPerRequest*wire.HandleSize)
		if err != nil {
			return err
		}
		hs, err := wire.DecodeHandles(body, maxHandlesPerRequest)
		if err != nil {
			return badRequest("%v", err)
		}
		var missing, present []blob.Handle
		for _, h := range hs {
			if ov.repo.Has(h) {
				present = append(present, h)
			} else {
				missing = append(missing, h)
			}
		}
		se.claim(present...)
		c.w.Header().Set("Content-Type", wire.HandlesType)
		c.status = http.StatusOK
		_, err = c.w.Write(wire.AppendHandles(nil, missing))
		return err
	})
}

// handleUpload takes a stream of blob frames. Every blob is checked against
// its id before it is stored; the first bad one ends the request.
func (s *Server) handleUpload(c *call) error {
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
	return s.withSession(c, false, func(se *session, ov *openVault) error {
		if ct := c.r.Header.Get("Content-Type"); ct != wire.FramesType {
			return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as %s, not %q", wire.FramesType, clip(ct))
		}
		fr := wire.NewFrameReader(http.MaxBytesReader(c.w, c.r.Body, maxFramesBody), pack.MaxBlobSize, maxFramesPerRequest)
		var res api.UploadResult
		var uploaded int64
		var scratch []byte
		for {
			f, err := fr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return badRequest("%v", err)
			}
			u := repo.Upload{Handle: f.Handle, Payload: f.Payload, Compressed: f.Compressed, RawLen: f.RawLen}
			// The pack a blob lands in is written in the background and
			// belongs to the vault, not to this request: it must not stop
			// when the request ends.
			isNew, buf, err := ov.repo.SaveUploaded(context.WithoutCancel(c.ctx), u, scratch)
			scratch = buf
			if errors.Is(err, repo.ErrMismatch) || errors.Is(err, repo.ErrUpload) {
				return badRequest("blob %d of the upload refused: %v", res.Received, err)
			}
			if err != nil {
				ov.recover.Store(true)
				return storageFailed(err)
			}
			res.Received++
			s.metrics.blobsIn.Inc()
			s.metrics.bytesIn.Add(float64(len(f.Payload)))
			uploaded += int64(len(f.Payload))
			if isNew {
				res.Stored++
				s.metrics.blobsStored.Inc()
			}
			se.claim(f.Handle)
		}
		se.mu.Lock()
		se.received += int64(res.Received)
		se.stored += int64(res.Stored)
		se.bytes += uploaded
		se.mu.Unlock()
		return c.ok(http.StatusOK, res)
	})
}

// handleParentTree sends a listing of the session's parent point, so the
// client can skip unchanged files. Only the parent's own trees are served,
// reached from its root one listing at a time.
func (s *Server) handleParentTree(c *call) error {
	return s.withSession(c, false, func(se *session, ov *openVault) error {
		id, err := blob.ParseID(c.r.PathValue("tree"))
		if err != nil {
			return badRequest("%v", err)
		}
		se.mu.Lock()
		allowed := se.parentTrees[id]
		se.mu.Unlock()
		if !allowed {
			return forbidden("tree %s is not a listing of this session's parent point", id.Short())
		}
		data, err := ov.repo.LoadBlob(c.ctx, blob.TreeBlob, id, nil)
		if err != nil {
			return err
		}
		t, err := tree.Decode(data)
		if err != nil {
			return err
		}
		// The client may reuse what the listing names: its subtrees become
		// readable, and everything it names is kept from garbage
		// collection while the session lives.
		claims := []blob.Handle{{ID: id, Type: blob.TreeBlob}}
		se.mu.Lock()
		for _, n := range t.Nodes {
			if n.Subtree != nil {
				se.parentTrees[*n.Subtree] = true
			}
			for _, cid := range n.Content {
				claims = append(claims, blob.Handle{ID: cid, Type: blob.DataBlob})
			}
		}
		se.mu.Unlock()
		se.claim(claims...)
		c.w.Header().Set("Content-Type", "application/octet-stream")
		c.status = http.StatusOK
		_, err = c.w.Write(data)
		return err
	})
}

// handleCommit records the session's point: once every blob it names is in
// the vault, the server stamps it with its own time and the vault's expiry,
// signs it, stores it and catalogs it.
func (s *Server) handleCommit(c *call) error {
	var req api.CommitRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	root, err := blob.ParseID(req.Tree)
	if err != nil {
		return badRequest("tree: %v", err)
	}
	if len(req.Username) > 256 || !utf8.ValidString(req.Username) {
		return badRequest("invalid username")
	}
	if err := s.checkOrigin(req.Origin); err != nil {
		return err
	}
	var sealed *sealedPoint
	var done *session
	var existing *api.Point
	err = s.withSession(c, false, func(se *session, ov *openVault) error {
		var v *store.Vault
		if err := s.st.View(c.ctx, func(tx store.Tx) error {
			var err error
			if v, err = s.loadVault(c, tx, se.vault); err != nil || req.Origin == nil {
				return err
			}
			existing, err = s.pushedBefore(c.ctx, tx, v, se.principal, *req.Origin)
			return err
		}); err != nil {
			return err
		}
		if existing != nil {
			return s.answerPushedBefore(c, se, existing)
		}
		if err := s.admitCommit(c, se); err != nil {
			return err
		}
		p := &repo.Point{
			Hostname: se.hostname, Username: req.Username, Paths: se.paths, Tags: se.tags,
			Tree: root, Summary: req.Summary, Program: "bunker",
			Server: &repo.Stamp{CreatedBy: se.principal, ClientTime: req.ClientTime.UTC(), Origin: req.Origin},
		}
		if se.parent != nil {
			if pid, err := blob.ParseID(se.parent.ID); err == nil {
				p.Parent = &pid
			}
		}
		sealed, err = s.seal(c.ctx, ov, v, p, func(tx store.Tx, sp *store.Point) error {
			c.target = "point/" + v.Name + "/" + sp.ID
			detail := map[string]any{"hostname": sp.Hostname, "expires": sp.Expires, "blobs_received": se.received, "blobs_stored": se.stored}
			if !sp.ClientTime.IsZero() {
				detail["client_time"] = sp.ClientTime
			}
			if err := s.record(c.ctx, tx, nil, backupCompleted(sp, se.principal, s.cfg.Now().Sub(se.created))); err != nil {
				return err
			}
			return c.audit(tx, audit.OutcomeOK, detail)
		})
		if errors.Is(err, errIncomplete) {
			return badRequest("%v; run the backup again", err)
		}
		if err != nil {
			return err
		}
		s.sessions.remove(se.id)
		done = se
		return nil
	})
	if err != nil {
		return err
	}
	if existing != nil {
		return c.ok(http.StatusOK, existing)
	}
	s.afterSeal(c.ctx, sealed)
	s.finishBackupJob(c.ctx, done, sealed.view.ID, "")
	s.metrics.sessions.Set(float64(s.sessions.count()))
	return c.ok(http.StatusCreated, sealed.view)
}

// errIncomplete reports a tree that names a blob the vault lacks.
var errIncomplete = errors.New("the point is incomplete")

// sealedPoint is what seal made.
type sealedPoint struct {
	view   api.Point
	ov     *openVault
	held   bool // a legal hold covers it
	scanIt bool // the vault scans its new points
}

// seal makes p, whose tree is stored in ov, a point of vault v: it flushes
// the vault, checks that the tree is complete, extends the storage's
// retention of everything the point needs, stamps the point with the
// server's time, the vault's name and the expiry its policy gives, signs
// and stores it, and records it in the catalog in one transaction with
// what record adds (the audit entry). The caller fills p's content, and
// in p.Server only CreatedBy, ClientTime and Origin; it holds ov.gc shared.
func (s *Server) seal(ctx context.Context, ov *openVault, v *store.Vault, p *repo.Point, record func(tx store.Tx, sp *store.Point) error) (*sealedPoint, error) {
	if err := ov.repo.Flush(context.WithoutCancel(ctx)); err != nil {
		ov.recover.Store(true)
		return nil, storageFailed(err)
	}
	reach, err := collectBlobs(ctx, ov.repo, p.Tree)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errIncomplete, err)
	}
	now := s.cfg.Now().UTC()
	// Before the point exists, everything it needs is retained by the
	// storage at least as long as the point will be: older packs it
	// shares by deduplication are extended.
	need := now.Add(horizon(v.Policy))
	if exp := v.Policy.Expiry(now); !exp.IsZero() {
		need = exp.Add(v.Policy.BinRetention)
	}
	if _, err := ov.prot.ensure(context.WithoutCancel(ctx), pointObjects(ov.repo, "", reach), need); err != nil {
		return nil, err
	}
	p.Time = now
	p.Server.Vault, p.Server.Expires, p.Server.KeyID = v.Name, v.Policy.Expiry(now), s.keyID
	if err := s.sign(p); err != nil {
		return nil, err
	}
	if _, err := ov.repo.SavePoint(context.WithoutCancel(ctx), p); err != nil {
		return nil, storageFailed(err)
	}
	sp := catalogEntry(p)
	out := &sealedPoint{ov: ov, scanIt: v.Scan}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreatePoint(ctx, sp); err != nil {
			return err
		}
		hs, err := tx.Holds(ctx, v.Name, false)
		if err != nil {
			return err
		}
		out.held = len(retention.HeldBy(sp.RetentionView(), activeHolds(hs))) > 0
		out.view = s.pointView(v, sp, hs)
		return record(tx, sp)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// afterSeal does what follows a new point outside the hold on garbage
// collection: legal holds on the storage, the scan, the metrics.
func (s *Server) afterSeal(ctx context.Context, sp *sealedPoint) {
	if sp.held {
		// syncHolds takes the hold on garbage collection itself.
		if _, _, err := s.syncHolds(context.WithoutCancel(ctx), sp.ov.name, sp.ov); err != nil {
			s.log.Error("legal holds on storage for a new point", "vault", sp.ov.name, "point", sp.view.ID, "err", err)
		}
	}
	if sp.scanIt {
		s.scanLater(sp.view.Vault, sp.view.ID)
	}
	s.metrics.points.WithLabelValues("created").Inc()
}

// sign sets the server's signature on a stamped point.
func (s *Server) sign(p *repo.Point) error {
	msg, err := p.SigningBytes()
	if err != nil {
		return err
	}
	p.Server.Signature = signMessage(s.signer, msg)
	return nil
}

// handleSessionEnd abandons a session.
func (s *Server) handleSessionEnd(c *call, restore bool) error {
	id := c.r.PathValue("session")
	se, ok := s.sessions.get(id, c.id, restore)
	if !ok {
		return notFound("no open session %s", clip(id))
	}
	s.sessions.done(se)
	s.sessions.remove(id)
	if !restore {
		s.finishBackupJob(c.ctx, se, "", "the session was abandoned")
	}
	if se.grant != nil && se.grant.Point != "" {
		// A grant for one restore ends with it.
		if err := s.endGrant(c, se.grant.ID); err != nil {
			return err
		}
	}
	s.metrics.sessions.Set(float64(s.sessions.count()))
	return c.ok(http.StatusOK, map[string]string{"status": "ended"})
}

// collectBlobs walks the trees from root and returns every blob they need,
// checking that each listing loads and decodes and that every data blob is
// in the vault. It walks level by level, loading the listings of a level
// concurrently: on object storage each listing not in the tree cache is a
// request, and one at a time they would add up to most of a commit.
func collectBlobs(ctx context.Context, r *repo.Repository, root blob.ID) (map[blob.Handle]struct{}, error) {
	seen := map[blob.Handle]struct{}{}
	level := []blob.ID{root}
	seen[blob.Handle{ID: root, Type: blob.TreeBlob}] = struct{}{}
	for len(level) > 0 {
		trees, err := loadTrees(ctx, r, level)
		if err != nil {
			return nil, err
		}
		var next []blob.ID
		for _, t := range trees {
			for _, n := range t.Nodes {
				if n.Subtree != nil {
					th := blob.Handle{ID: *n.Subtree, Type: blob.TreeBlob}
					if _, ok := seen[th]; !ok {
						seen[th] = struct{}{}
						next = append(next, *n.Subtree)
					}
				}
				for _, cid := range n.Content {
					h := blob.Handle{ID: cid, Type: blob.DataBlob}
					if _, ok := seen[h]; ok {
						continue
					}
					if !r.Index().Has(h) {
						return nil, fmt.Errorf("file %q needs chunk %s, which was never uploaded", n.Name, cid.Short())
					}
					seen[h] = struct{}{}
				}
			}
		}
		level = next
	}
	return seen, nil
}

// treeLoaders bounds the listings collectBlobs loads at once.
const treeLoaders = 16

// loadTrees loads the listings ids, up to treeLoaders at a time, in order.
func loadTrees(ctx context.Context, r *repo.Repository, ids []blob.ID) ([]*tree.Tree, error) {
	out := make([]*tree.Tree, len(ids))
	errs := make([]error, len(ids))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, treeLoaders)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if out[i], errs[i] = r.LoadTree(ctx, id); errs[i] != nil {
				errs[i] = fmt.Errorf("listing %s: %w", id.Short(), errs[i])
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// storageFailed reports a failure of the vault's storage to the client as
// what it is: nothing of the point was recorded, and the backup can run
// again, sending only what is missing.
func storageFailed(err error) error {
	return errorf(http.StatusServiceUnavailable, "storage_unavailable", "the vault's storage failed (%v); nothing was recorded: run the backup again once it is back", err)
}

// backupCompleted is the backup.completed event of the point sp, sealed
// at the request of actor by a session that lasted took.
func backupCompleted(sp *store.Point, actor string, took time.Duration) event.Envelope {
	d := map[string]any{"hostname": sp.Hostname, "paths": sp.Paths, "tags": sp.Tags, "duration_seconds": took.Seconds()}
	if sp.Tags == nil {
		d["tags"] = []string{}
	}
	if sp.Parent != "" {
		d["parent"] = sp.Parent
	}
	if sm := sp.Summary; sm != nil {
		d["files"] = sm.FilesNew + sm.FilesChanged + sm.FilesUnchanged
		d["bytes"] = sm.TotalBytes
		d["bytes_added"] = sm.BytesStored
	}
	if !sp.Expires.IsZero() {
		d["expires"] = sp.Expires.UTC().Format(time.RFC3339)
	}
	return event.Envelope{Kind: event.BackupCompleted, Vault: sp.Vault, Subject: sp.ID, Actor: actor, Detail: d}
}
