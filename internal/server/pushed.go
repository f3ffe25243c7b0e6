package server

import (
	"context"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/store"
)

// The central side of push mode: a commit that names the point it copies.

// maxOriginSkew is how far ahead of this server's clock the time of a
// pushed point's original may be.
const maxOriginSkew = time.Hour

// checkOrigin checks the origin a commit names, when another server pushes
// the point: a well-formed name of the site, vault and point, and a time
// that is not ahead of this server's clock.
func (s *Server) checkOrigin(o *repo.Origin) error {
	if o == nil {
		return nil
	}
	if o.Site != "" {
		if err := checkVaultName(o.Site); err != nil {
			return badRequest("origin.site: %v", err)
		}
	}
	if err := checkVaultName(o.Vault); err != nil {
		return badRequest("origin.vault: %v", err)
	}
	if _, err := blob.ParseID(o.Point); err != nil {
		return badRequest("origin.point: want the original's id, 64 hex digits: %v", err)
	}
	if o.Time.IsZero() || o.Time.After(s.cfg.Now().Add(maxOriginSkew)) {
		return badRequest("origin.time: %s is not a time the original can have been made at (this server's clock says %s)",
			o.Time.UTC().Format(time.RFC3339), s.cfg.Now().UTC().Format(time.RFC3339))
	}
	o.Time = o.Time.UTC()
	return nil
}

// pushedBefore returns the active point of vault v that principal pushed
// as a copy of origin, or nil.
func (s *Server) pushedBefore(ctx context.Context, tx store.Tx, v *store.Vault, principal string, origin repo.Origin) (*api.Point, error) {
	ps, err := tx.Points(ctx, store.PointFilter{Vault: v.Name, State: store.Active, CopyOf: origin.Point})
	if err != nil {
		return nil, err
	}
	for i := range ps {
		o := ps[i].Origin
		if o != nil && ps[i].CreatedBy == principal && o.Site == origin.Site && o.Vault == origin.Vault && o.Point == origin.Point {
			hs, err := tx.Holds(ctx, v.Name, false)
			if err != nil {
				return nil, err
			}
			view := s.pointView(v, &ps[i], hs)
			return &view, nil
		}
	}
	return nil, nil
}

// answerPushedBefore ends backup session se, whose commit names the origin
// of point prev, which the same principal pushed before: no second point
// is made.
func (s *Server) answerPushedBefore(c *call, se *session, prev *api.Point) error {
	c.target = "point/" + se.vault + "/" + prev.ID
	if err := s.st.Update(c.ctx, func(tx store.Tx) error {
		return c.audit(tx, audit.OutcomeOK, map[string]any{"existing": true, "origin": prev.Origin})
	}); err != nil {
		return err
	}
	s.sessions.remove(se.id)
	s.finishBackupJob(c.ctx, se, prev.ID, "")
	return nil
}
