package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/eventrule"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// ruleCopyActor is the principal the copies event rules make are
// audited as.
const ruleCopyActor = "event-rule"

// Bounds of GET /v1/deliveries.
const (
	defaultDeliveryLimit = 100
	maxDeliveryLimit     = 1000
)

// ruleView is what the API shows of a stored rule.
func ruleView(r *store.EventRule) api.EventRule {
	v := api.EventRule{Name: r.Name, Rule: r.Spec, Targets: []string{},
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy}
	if parsed, err := eventrule.ParseRule(r.Spec); err == nil {
		v.Targets = targetNames(parsed)
	}
	return v
}

// targetNames names a rule's targets with no secret.
func targetNames(r *eventrule.Rule) []string {
	out := make([]string, len(r.Targets))
	for i, t := range r.Targets {
		out[i] = t.Name()
	}
	return out
}

// ruleParam returns the rule the request's path names, makes it the audit
// target, and checks that the caller may manage rules.
func (c *call) ruleParam() (string, error) {
	name := c.r.PathValue("name")
	c.target = "event-rule/" + clip(name)
	if err := c.require(rbac.RuleAdmin, rbac.AllVaults); err != nil {
		return "", err
	}
	if err := eventrule.CheckName(name); err != nil {
		return "", badRequest("name: %v", err)
	}
	return name, nil
}

// handleRulePut creates or replaces an event rule.
func (s *Server) handleRulePut(c *call) error {
	name, err := c.ruleParam()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := decodeJSON(c.w, c.r, &raw); err != nil {
		return err
	}
	rule, err := eventrule.ParseRule(raw)
	if err != nil {
		return badRequest("%v", err)
	}
	if rule.Name != name {
		return badRequest("name: the body names rule %s but the path names %s; make them the same", rule.Name, name)
	}
	now := s.cfg.Now().UTC()
	stored, err := rule.Stored(c.id.name(), now)
	if err != nil {
		return err
	}
	created := false
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		if err := checkCopyTargets(c.ctx, tx, rule); err != nil {
			return err
		}
		made, err := putRule(c.ctx, tx, stored)
		if err != nil {
			return err
		}
		created = made
		if stored, err = tx.EventRule(c.ctx, name); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"created": created, "enabled": rule.Enabled,
			"description": rule.Description, "targets": targetNames(rule)})
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.ok(status, ruleView(stored))
}

// putRule stores r, replacing the rule of its name if there is one, and
// reports whether it created it.
func putRule(ctx context.Context, tx store.Tx, r *store.EventRule) (bool, error) {
	old, err := tx.EventRule(ctx, r.Name)
	if err == nil {
		r.CreatedAt, r.CreatedBy = old.CreatedAt, old.CreatedBy
		return false, tx.UpdateEventRule(ctx, r)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	all, err := tx.EventRules(ctx)
	if err != nil {
		return false, err
	}
	if len(all) >= eventrule.MaxRules {
		return false, conflict("this server keeps at most %d event rules; remove one first (`bunker rule remove`)", eventrule.MaxRules)
	}
	err = tx.CreateEventRule(ctx, r)
	if errors.Is(err, store.ErrExists) {
		return false, conflict("event rule %s was created meanwhile; try again", r.Name)
	}
	return true, err
}

// checkCopyTargets refuses copy targets whose action names no vault of
// this server: a copy target's action is the vault the event's point is
// copied into.
func checkCopyTargets(ctx context.Context, tx store.Tx, r *eventrule.Rule) error {
	for i, t := range r.Targets {
		if t.Copy == nil {
			continue
		}
		_, err := tx.Vault(ctx, t.Copy.Action)
		if errors.Is(err, store.ErrNotFound) {
			return badRequest("targets[%d].copy.action: no vault %s on this server (a copy target names the vault to copy the event's point into; see `bunker vault list`)", i, clip(t.Copy.Action))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) handleRuleList(c *call) error {
	rules, err := listAll(c, rbac.RuleAdmin, store.Tx.EventRules, ruleView)
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, api.EventRuleList{Rules: rules})
}

func (s *Server) handleRuleShow(c *call) error {
	name, err := c.ruleParam()
	if err != nil {
		return err
	}
	var r *store.EventRule
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		r, err = tx.EventRule(c.ctx, name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no event rule %s (see `bunker rule list`)", name)
	}
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, ruleView(r))
}

func (s *Server) handleRuleDelete(c *call) error {
	name, err := c.ruleParam()
	if err != nil {
		return err
	}
	return s.deleteNamed(c, name, "event rule", "bunker rule list", store.Tx.DeleteEventRule)
}

// deliveryFilter reads the query of GET /v1/deliveries.
func deliveryFilter(c *call) (store.DeliveryFilter, error) {
	q := c.r.URL.Query()
	f := store.DeliveryFilter{State: store.DeliveryState(q.Get("state")), Rule: q.Get("rule"), Limit: defaultDeliveryLimit}
	switch f.State {
	case "", store.DeliveryPending, store.DeliveryDelivered, store.DeliveryDead:
	default:
		return f, badRequest("state: %q; want pending, delivered or dead", clip(string(f.State)))
	}
	if f.Rule != "" {
		if err := eventrule.CheckName(f.Rule); err != nil {
			return f, badRequest("rule: %v", err)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeliveryLimit {
			return f, badRequest("limit: %q; want a number from 1 to %d", clip(v), maxDeliveryLimit)
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, badRequest("before: %q; want the seq of a delivery, from an earlier page", clip(v))
		}
		f.Before = n
	}
	return f, nil
}

func (s *Server) handleDeliveryList(c *call) error {
	if err := c.require(rbac.DeliveryRead, rbac.AllVaults); err != nil {
		return err
	}
	f, err := deliveryFilter(c)
	if err != nil {
		return err
	}
	out := api.DeliveryList{Deliveries: []store.Delivery{}}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		ds, err := tx.Deliveries(c.ctx, f)
		out.Deliveries = append(out.Deliveries, ds...)
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, out)
}

// checkDeliveryID checks the form of a delivery's id: 32 hex digits.
func checkDeliveryID(id string) error {
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return badRequest("id: %q; want a delivery's id, 32 hex digits, as `bunker delivery list` shows it", clip(id))
	}
	return nil
}

// handleDeliveryReplay makes a dead letter due again, with its attempts
// counted afresh.
func (s *Server) handleDeliveryReplay(c *call) error {
	id := c.r.PathValue("id")
	c.target = "delivery/" + clip(id)
	if err := c.require(rbac.DeliveryReplay, rbac.AllVaults); err != nil {
		return err
	}
	if err := checkDeliveryID(id); err != nil {
		return err
	}
	var d *store.Delivery
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		old, err := tx.Delivery(c.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no delivery %s (see `bunker delivery list`)", id)
		}
		if err != nil {
			return err
		}
		if old.State != store.DeliveryDead {
			return conflict("delivery %s is %s, not a dead letter: only dead letters are replayed (see `bunker delivery list --state dead`)", id, old.State)
		}
		if err := tx.ReplayDeadLetter(c.ctx, id, s.cfg.Now().UTC()); err != nil {
			return err
		}
		if d, err = tx.Delivery(c.ctx, id); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"rule": old.Rule, "event": old.EventID, "kind": old.Kind,
			"target": old.TargetName, "attempts": old.Attempts, "last_error": old.LastError})
	})
	if err != nil {
		return err
	}
	s.deliverer.Wake()
	return c.ok(http.StatusOK, d)
}

// ruleRunner is the Sender of the server's event deliveries: webhook
// secrets from cfg.EventSecrets, commands under cfg.EventCommands, and
// copies into this server's vaults.
func (s *Server) ruleRunner() *eventrule.Runner {
	r := &eventrule.Runner{Now: s.cfg.Now, Copy: s.copy, CommandDir: s.cfg.EventCommands}
	if dir := s.cfg.EventSecrets; dir != "" {
		r.Secret = func(ctx context.Context, name string) ([]byte, error) {
			if err := eventrule.CheckName(name); err != nil {
				return nil, &notify.DeliveryError{Err: fmt.Errorf("secret name: %w", err), Permanent: true}
			}
			return notify.ReadSecretFile(filepath.Join(dir, name))
		}
	}
	return r
}

// permanentf is a delivery failure that retrying cannot fix.
func permanentf(format string, a ...any) error {
	return &notify.DeliveryError{Err: fmt.Errorf(format, a...), Permanent: true}
}

// copyForRule is the server's eventrule.CopyFunc. A copy target's action
// names a vault of this server: the event's point (its subject, in the
// event's vault) is copied into it, as `bunker point copy` would. A vault
// that holds a copy of the point already is left as it is, so an event
// delivered twice makes one copy.
func (s *Server) copyForRule(ctx context.Context, action string, e *event.Envelope) error {
	if k, ok := event.Lookup(e.Kind); !ok || k.Subject != event.SubjectPoint || e.Subject == "" || e.Vault == "" {
		return permanentf("event %s is a %s, which names no point of a vault to copy; match events about points, as backup.completed", e.ID, e.Kind)
	}
	if action == e.Vault {
		return permanentf("point %s is in vault %s already; copy it into another vault", short(e.Subject), action)
	}
	var src, dst *store.Vault
	var p *store.Point
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if src, err = tx.Vault(ctx, e.Vault); err != nil {
			return err
		}
		if p, err = tx.Point(ctx, e.Vault, e.Subject); err != nil {
			return err
		}
		dst, err = tx.Vault(ctx, action)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return permanentf("point %s of vault %s into vault %s: %v", short(e.Subject), e.Vault, action, err)
	}
	if err != nil {
		return err
	}
	switch {
	case p.State != store.Active:
		return permanentf("point %s of vault %s is %s, not active", short(p.ID), src.Name, p.State)
	case src.AirGapped:
		return permanentf("vault %s is air-gapped: its points are not copied out of it", src.Name)
	}
	_, err = s.copyPoint(ctx, s.localCopy(src, p), dst, ruleCopyActor)
	return err
}
