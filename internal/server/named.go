package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// listAll is the body of a GET of server-wide settings (remotes, push
// targets, event rules): it needs perm on all vaults, loads the rows with
// load and answers each as view shows it.
func listAll[R, V any](c *call, perm rbac.Permission, load func(store.Tx, context.Context) ([]R, error), view func(*R) V) ([]V, error) {
	if err := c.require(perm, rbac.AllVaults); err != nil {
		return nil, err
	}
	var rows []R
	if err := c.s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		rows, err = load(tx, c.ctx)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]V, 0, len(rows))
	for i := range rows {
		out = append(out, view(&rows[i]))
	}
	return out, nil
}

// deleteNamed is the body of a DELETE of a server-wide setting, once the
// caller's permission is checked: it deletes name with del and audits
// that in one transaction. what names the kind of setting and list the
// command that lists them, for the 404.
func (s *Server) deleteNamed(c *call, name, what, list string, del func(store.Tx, context.Context, string) error) error {
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		err := del(tx, c.ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no %s %s (see `%s`)", what, clip(name), list)
		}
		if err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, nil)
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]string{"status": "deleted"})
}
