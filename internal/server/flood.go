package server

import (
	"context"
	"errors"
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
		detail := map[string]any{"principal": se.principal, "scope": scope, "limit": r.limit, "hostname": se.hostname}
		if err := s.recordFlood(c.ctx, se.vault, se.principal, detail); err != nil {
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

// admitPull counts a copy pulled from a remote into a vault against the
// flood limits: the vault's, which its commits count against too, and the
// remote's, which is a principal's. So a workload site that is taken over
// can fill the central vault no faster than a host could. Over a limit the
// pull is refused (and tried again at a later look), and the first refusal
// of the window records a vault.flood event.
func (s *Server) admitPull(ctx context.Context, remote, vault string, p *store.Point) error {
	r := s.floods.admit(
		floodLimit{key: "vault:" + vault, limit: s.cfg.VaultCommitLimit},
		floodLimit{key: "remote:" + remote, limit: s.cfg.PrincipalCommitLimit},
	)
	if r == nil {
		return nil
	}
	scope, who := "vault", "vault "+vault
	if r.key != "vault:"+vault {
		scope, who = "remote", "remote "+remote
	}
	if r.alert {
		s.log.Warn("pulls refused over the flood limit", "vault", vault, "remote", remote, "scope", scope, "limit", r.limit)
		detail := map[string]any{"remote": remote, "scope": scope, "limit": r.limit, "hostname": p.Hostname}
		if err := s.recordFlood(ctx, vault, "remote:"+remote, detail); err != nil {
			return err
		}
	}
	return errorf(http.StatusTooManyRequests, "flood_limit",
		"%s has taken %d points in the last %s, the most the flood limit allows: point %s is pulled at a look after %s, or ask an operator to raise the limit",
		who, r.limit, retention.Format(s.cfg.FloodWindow), short(p.ID), max(r.retry.Round(time.Second), time.Second))
}

// isFloodRefusal reports whether err is a refusal over a flood limit.
func isFloodRefusal(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.code == "flood_limit"
}

// recordFlood records the vault.flood event of a refused commit or pull;
// detail gains the window's length.
func (s *Server) recordFlood(ctx context.Context, vault, actor string, detail map[string]any) error {
	detail["window_seconds"] = s.cfg.FloodWindow.Seconds()
	e := event.Envelope{Kind: event.VaultFlood, Vault: vault, Actor: actor, Detail: detail}
	err := s.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return s.record(ctx, tx, nil, e) })
	if err != nil {
		return fmt.Errorf("flood alert: %w", err)
	}
	return nil
}
