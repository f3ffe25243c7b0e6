package server

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/wire"
)

func signMessage(priv ed25519.PrivateKey, msg []byte) []byte { return ed25519.Sign(priv, msg) }

// Limits of one blob read.
const (
	maxReadHandles = 1024
	maxReadBytes   = 64 << 20
)

// handleRestoreStart opens a restore session on one active point: the
// client may then read exactly the blobs that point needs.
func (s *Server) handleRestoreStart(c *call) error {
	vault, err := c.vaultParam(rbac.DataRead)
	if err != nil {
		return err
	}
	var req api.RestoreRequest
	if c.r.ContentLength != 0 {
		if err := decodeJSON(c.w, c.r, &req); err != nil {
			return err
		}
	}
	var v *store.Vault
	var p *store.Point
	var hs []store.Hold
	var verdict *store.PointVerdict
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		if v, err = s.loadVault(c, tx, vault); err != nil {
			return err
		}
		if p, err = findPoint(c, tx, vault, c.r.PathValue("point"), store.Active); err != nil {
			return err
		}
		c.target = "point/" + vault + "/" + p.ID
		if hs, err = tx.Holds(c.ctx, vault, false); err != nil {
			return err
		}
		verdict, err = tx.PointVerdict(c.ctx, vault, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			verdict, err = nil, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	grant := c.id.grant
	if v.AirGapped && grant == nil {
		return forbidden("vault %s is air-gapped: nobody restores from it without a restore-access grant its team approved (`bunker access request --vault %s`)", vault, vault)
	}
	if grant != nil && grant.Point != "" {
		if p.ID != grant.Point {
			return forbidden("this grant restores point %s only", grant.Point[:8])
		}
		req.AllowInfected = true // what the grant was approved for
	}
	infected := verdict != nil && verdict.Level == store.VerdictInfected
	if infected && !req.AllowInfected {
		return errorf(http.StatusConflict, "point_infected",
			"point %s is infected (scanned %s, score %.1f, %d findings: `bunker point show %s`); restore it anyway with --allow-infected (allow_infected: true), or restore the last clean point (`bunker point list --source HOST`)",
			p.ID[:8], verdict.ScannedAt.Format(time.RFC3339), verdict.Score, verdict.EvidenceTotal, p.ID[:8])
	}
	if infected && grant == nil {
		g := &gate{params: pointParams{Point: p.ID}}
		err := s.st.Update(c.ctx, func(tx store.Tx) error {
			team, err := s.guardian(c, tx, vault, approval.InfectedRestore)
			if err != nil {
				return err
			}
			_, err = s.need(c, tx, g, approval.InfectedRestore, vault, c.target, team)
			return err
		})
		if err != nil {
			return err
		}
		if g.pending != nil {
			return c.pending(g)
		}
	}
	ov, err := s.vaults.get(c.ctx, v)
	if err != nil {
		return err
	}
	root, err := blob.ParseID(p.Tree)
	if err != nil {
		return err
	}
	ov.gc.RLock()
	reach, err := collectBlobs(c.ctx, ov.repo, root)
	ov.gc.RUnlock()
	if err != nil {
		return conflict("point %s cannot be restored whole: %v (run `bunker check` on the server)", p.ID[:8], err)
	}
	now := s.cfg.Now()
	se := &session{id: newSessionID(), restore: true, vault: vault, principal: c.id.name(), created: now, lastUsed: now, point: p, reachable: reach, grant: grant}
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		detail := map[string]any{"blobs": len(reach)}
		if grant != nil {
			detail["grant"] = grant.ID
		}
		if grant != nil && grant.Point != "" {
			g, err := tx.Grant(c.ctx, grant.ID)
			if err != nil {
				return err
			}
			if !g.UsedAt.IsZero() {
				return conflict("grant %s was for one restore, and it was used at %s", g.ID, g.UsedAt.Format(time.RFC3339))
			}
			g.UsedAt = now.UTC()
			if err := tx.UpdateGrant(c.ctx, g); err != nil {
				return err
			}
		}
		if verdict != nil {
			detail["verdict"] = verdict.Level
		}
		if infected {
			detail["allow_infected"] = true
		}
		return c.audit(tx, audit.OutcomeOK, detail)
	})
	if err != nil {
		return err
	}
	s.sessions.add(se)
	s.metrics.sessions.Set(float64(s.sessions.count()))
	return c.ok(http.StatusCreated, api.RestoreResponse{
		Session: se.id, ContentKey: base64.StdEncoding.EncodeToString(ov.repo.IDKey().Bytes()),
		Point: s.restoreView(v, p, hs, verdict), Blobs: len(reach),
	})
}

// handleRestoreRead sends the listed blobs as frames, payloads as stored
// (compressed where they are); the client checks each against its id.
func (s *Server) handleRestoreRead(c *call) error {
	return s.withSession(c, true, func(se *session, ov *openVault) error {
		body, err := readBody(c, wire.HandlesType, maxReadHandles*wire.HandleSize)
		if err != nil {
			return err
		}
		hs, err := wire.DecodeHandles(body, maxReadHandles)
		if err != nil {
			return badRequest("%v", err)
		}
		for _, h := range hs {
			if _, ok := se.reachable[h]; !ok {
				return forbidden("blob %s is not part of point %s", h, se.point.ID[:8])
			}
		}
		var out []byte
		err = ov.repo.LoadPayloads(c.ctx, hs, func(p repo.Payload) error {
			if len(out) > 0 && len(out)+len(p.Data) > maxReadBytes {
				return repo.ErrStop // the client asks again for the rest
			}
			out = wire.AppendFrame(out, wire.Frame{Handle: p.Handle, Compressed: p.Compressed, RawLen: p.RawLen, Payload: p.Data})
			s.metrics.blobsOut.Inc()
			s.metrics.bytesOut.Add(float64(len(p.Data)))
			return nil
		})
		if err != nil {
			return err
		}
		c.w.Header().Set("Content-Type", wire.FramesType)
		c.status = http.StatusOK
		_, err = c.w.Write(out)
		return err
	})
}

// restoreView is the point a restore session opens, with its verdict.
func (s *Server) restoreView(v *store.Vault, p *store.Point, hs []store.Hold, verdict *store.PointVerdict) api.Point {
	view := s.pointView(v, p, hs)
	view.Verdict = verdictView(verdict)
	if view.Verdict != nil {
		view.Verdict.Evidence = nil
	}
	return view
}
