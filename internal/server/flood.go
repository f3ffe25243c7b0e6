package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

// Defaults of the flood limits (see Config).
const (
	DefaultFloodWindow          = time.Hour
	DefaultVaultCommitLimit     = 2000
	DefaultPrincipalCommitLimit = 200
)

// admitCommit counts the session's commit against the flood limits of its
// vault and its principal. Over a limit it refuses the commit with 429,
// which the call audits as denied, and records a vault.flood event for the
// first refusal of the window.
func (s *Server) admitCommit(c *call, se *session) error {
	r := s.floods.admit(
		floodLimit{key: "vault:" + se.vault, limit: s.cfg.VaultCommitLimit},
		floodLimit{key: "principal:" + se.principal, limit: s.cfg.PrincipalCommitLimit},
	)
	if r == nil {
		return nil
	}
	scope, who := "vault", "vault "+se.vault
	if r.key != "vault:"+se.vault {
		scope, who = "principal", se.principal
	}
	window := retention.Format(s.cfg.FloodWindow)
	if r.alert {
		s.log.Warn("commits refused over the flood limit", "vault", se.vault, "principal", se.principal, "scope", scope, "limit", r.limit)
		if err := s.recordFlood(c.ctx, se, scope, r.limit); err != nil {
			return err
		}
	}
	retry := max(r.retry.Round(time.Second), time.Second)
	c.w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
	return errorf(http.StatusTooManyRequests, "flood_limit",
		"%s has made %d points in the last %s, the most the flood limit allows: the point of %s is refused as part of a flood; commit it again in %s, or ask an operator to raise the limit",
		who, r.limit, window, clip(se.hostname), retry)
}

// seedFloods counts the commits of the last flood window, as the catalog
// records them, against the flood limits, so that a restart does not
// reset them: a flood goes on where it stopped. Points with an origin
// (copies, pushed points among them) are left out, so a restart may forget
// a push but never counts a commit the gate did not.
func (s *Server) seedFloods(ctx context.Context) error {
	if s.cfg.FloodWindow <= 0 {
		return nil
	}
	var ps []store.Point
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		ps, err = tx.Points(ctx, store.PointFilter{Since: s.cfg.Now().Add(-s.cfg.FloodWindow)})
		return err
	})
	if err != nil {
		return fmt.Errorf("count the commits of the last flood window: %w", err)
	}
	for _, p := range ps { // oldest first
		if p.Origin != nil {
			continue
		}
		s.floods.seed("vault:"+p.Vault, p.Time)
		s.floods.seed("principal:"+p.CreatedBy, p.Time)
	}
	return nil
}

// recordFlood records the vault.flood event of a refused commit.
func (s *Server) recordFlood(ctx context.Context, se *session, scope string, limit int) error {
	e := event.Envelope{Kind: event.VaultFlood, Vault: se.vault, Actor: se.principal, Detail: map[string]any{
		"principal": se.principal, "scope": scope, "limit": limit,
		"window_seconds": s.cfg.FloodWindow.Seconds(), "hostname": se.hostname,
	}}
	err := s.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return s.record(ctx, tx, nil, e) })
	if err != nil {
		return fmt.Errorf("flood alert: %w", err)
	}
	return nil
}
