package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// checkpoint signs the newest audit entry unless it is signed already.
// With force unset it only signs once CheckpointEvery entries have
// accumulated.
func (s *Server) checkpointIf(ctx context.Context, force bool) error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	return s.st.Update(ctx, func(tx store.Tx) error {
		last, err := tx.LastAudit(ctx)
		if err != nil || last == nil {
			return err
		}
		cp, err := tx.LastCheckpoint(ctx)
		if err != nil {
			return err
		}
		var signed uint64
		if cp != nil {
			signed = cp.Seq
		}
		if last.Seq <= signed || (!force && last.Seq-signed < uint64(s.cfg.CheckpointEvery)) {
			return nil
		}
		cp2, err := audit.Sign(s.signer, *last, s.cfg.Now().UTC())
		if err != nil {
			return err
		}
		return tx.AddCheckpoint(ctx, cp2)
	})
}

// checkpoint signs the newest entry now.
func (s *Server) checkpoint(ctx context.Context) error { return s.checkpointIf(ctx, true) }

// checkpointLoop signs a checkpoint every CheckpointEvery entries and once
// a minute while entries keep coming.
func (s *Server) checkpointLoop(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-s.auditNotify:
		case <-tick.C:
			force = true
		}
		if err := s.checkpointIf(ctx, force); err != nil && ctx.Err() == nil {
			s.log.Error("audit checkpoint", "err", err)
		}
	}
}

// queryUint reads an optional unsigned integer query parameter.
func queryUint(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest("query parameter %s=%q is not a non-negative integer", name, clip(v))
	}
	return n, nil
}

func (s *Server) handleAuditList(c *call) error {
	if err := c.require(rbac.AuditRead, rbac.AllVaults); err != nil {
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
	var page api.AuditPage
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		page.Entries, err = tx.AuditEntries(c.ctx, after, int(limit))
		return err
	})
	if err != nil {
		return err
	}
	if page.Entries == nil {
		page.Entries = []audit.Entry{}
	}
	if uint64(len(page.Entries)) == limit {
		page.Next = page.Entries[len(page.Entries)-1].Seq
	}
	return c.ok(200, page)
}

// handleAuditExport streams the whole log with its checkpoints as JSON
// lines, after signing a checkpoint of the newest entry.
func (s *Server) handleAuditExport(c *call) error {
	if err := c.require(rbac.AuditRead, rbac.AllVaults); err != nil {
		return err
	}
	if err := s.checkpoint(c.ctx); err != nil {
		return err
	}
	var entries []audit.Entry
	var cps []audit.Checkpoint
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		var after uint64
		for {
			page, err := tx.AuditEntries(c.ctx, after, 5000)
			if err != nil {
				return err
			}
			entries = append(entries, page...)
			if len(page) < 5000 {
				break
			}
			after = page[len(page)-1].Seq
		}
		var err error
		cps, err = tx.Checkpoints(c.ctx)
		return err
	})
	if err != nil {
		return err
	}
	c.target = "audit"
	if err := s.st.Update(c.ctx, func(tx store.Tx) error {
		return c.audit(tx, audit.OutcomeOK, map[string]any{"entries": len(entries), "checkpoints": len(cps)})
	}); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/x-ndjson")
	c.status = 200
	return audit.WriteJSONL(c.w, s.PublicKey(), entries, cps)
}

// handleAuditDelete exists so that an attempt to delete the log gets a
// clear answer and its own audit entry.
func (s *Server) handleAuditDelete(c *call) error {
	c.target = "audit"
	return forbidden("the audit log is append-only: nobody can delete or change it, through the API or otherwise")
}
