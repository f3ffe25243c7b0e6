package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/auth"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// identity is who a request comes from.
type identity struct {
	principal *store.Principal
	token     *store.Token
	bindings  []rbac.Binding
	// grant is set for a restore-access grant's token: it may list and
	// restore from one vault, whatever its principal's bindings.
	grant *store.Grant
}

func (id *identity) name() string { return id.principal.Name }

// hostAllowed reports whether the identity may act for host: run its plans
// and make its points. A token limited to some hosts acts only for them.
func (id *identity) hostAllowed(host string) bool {
	return len(id.token.Hosts) == 0 || slices.Contains(id.token.Hosts, host)
}

// requireHost checks that the identity may act for host.
func (id *identity) requireHost(host string) error {
	if id.hostAllowed(host) {
		return nil
	}
	return forbidden("this token of %s is limited to hosts %s, not %s: make the agent of %s a token with bunker token create --host %s", id.name(), strings.Join(id.token.Hosts, ", "), clip(host), clip(host), clip(host))
}

// can reports whether the identity has permission p on vault (AllVaults for
// server-wide actions). A token limited to some vaults carries only
// permissions on those vaults.
func (id *identity) can(p rbac.Permission, vault string) bool {
	if id.grant != nil {
		return vault == id.grant.Vault && (p == rbac.VaultRead || p == rbac.PointRead || p == rbac.DataRead)
	}
	if len(id.token.Vaults) > 0 {
		if vault == rbac.AllVaults {
			return false
		}
		found := false
		for _, v := range id.token.Vaults {
			found = found || v == vault
		}
		if !found {
			return false
		}
	}
	return rbac.Allowed(id.bindings, p, vault)
}

// call is one request being handled.
type call struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	id      *identity // nil before authentication
	reqID   string
	remote  string
	action  string // audit action of the route
	target  string // audit target, set by the handler
	audited bool   // the handler wrote a refusal entry of its own
	status  int

	box outbox // events to hand to the notifier once the request succeeded
	// approving is the request whose execution this call is: the entries
	// the operation writes name it.
	approving string
}

type handlerFunc func(c *call) error

// route wraps a handler: request id, panic recovery, authentication,
// metrics, error responses, and an audit entry for every refused
// state-changing request and every refusal of permission.
func (s *Server) route(pattern, action string, authenticated bool, h handlerFunc) (string, http.Handler) {
	name := pattern
	return pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		c := &call{s: s, w: w, r: r, ctx: r.Context(), reqID: newRequestID(), remote: remoteAddr(r), action: action}
		w.Header().Set("X-Request-Id", c.reqID)
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("panic in handler", "route", name, "request_id", c.reqID, "panic", v, "stack", string(debug.Stack()))
					err = errors.New("panic")
				}
			}()
			if authenticated {
				if c.id, err = s.authenticate(c); err != nil {
					return
				}
				if c.id.grant != nil && !grantRoute(pattern) {
					err = forbidden("this is a restore-access grant for vault %s: it can list and restore from that vault and do nothing else", c.id.grant.Vault)
					return
				}
			}
			err = h(c)
		}()
		if err != nil {
			c.fail(err)
		} else {
			s.deliver(c.ctx, c.box)
		}
		if c.id != nil && c.id.grant != nil {
			c.auditGrantUse()
		}
		s.metrics.requests.WithLabelValues(name, strconv.Itoa(c.status)).Inc()
		s.metrics.duration.WithLabelValues(name).Observe(time.Since(began).Seconds())
	})
}

// ok writes a successful JSON response.
func (c *call) ok(status int, v any) error {
	c.status = status
	writeJSON(c.w, status, v)
	return nil
}

// fail writes the error response and audits the refusal.
func (c *call) fail(err error) {
	ae := asAPIError(err)
	c.status = ae.status
	if ae.status >= 500 {
		c.s.log.Error("request failed", "action", c.action, "target", c.target, "request_id", c.reqID, "err", err)
	}
	if ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden {
		c.s.metrics.denied.Inc()
	}
	mutating := c.r.Method != http.MethodGet && c.r.Method != http.MethodHead
	if !c.audited && ae.status >= 400 && ae.status < 500 &&
		(mutating || ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden || ae.status == http.StatusMethodNotAllowed) {
		outcome := audit.OutcomeDenied
		if ae.status == http.StatusBadRequest || ae.status == http.StatusNotFound || ae.status == http.StatusRequestEntityTooLarge || ae.status == http.StatusUnsupportedMediaType {
			outcome = audit.OutcomeFailed
		}
		c.auditAlone(outcome, map[string]any{"status": ae.status, "error": ae.message, "method": c.r.Method, "path": clip(c.r.URL.Path)})
	}
	writeJSON(c.w, ae.status, api.ErrorBody{Error: api.ErrorDetail{Code: ae.code, Message: ae.message, RequestID: c.reqID, PlanErrors: ae.plans}})
}

func (c *call) actor() string {
	if c.id == nil {
		return ""
	}
	return c.id.name()
}

// entry builds an audit entry for this request.
func (c *call) entry(outcome string, detail map[string]any) audit.Entry {
	e := audit.Entry{
		Time: c.s.cfg.Now().UTC(), Actor: c.actor(), Action: c.action, Target: c.target,
		Outcome: outcome, Remote: c.remote,
	}
	if c.action == "" {
		e.Action = "request"
	}
	if c.approving != "" && !strings.HasPrefix(e.Action, "approval.") {
		detail = maps.Clone(detail)
		if detail == nil {
			detail = map[string]any{}
		}
		detail["approval"] = c.approving
	}
	if len(detail) > 0 {
		if b, err := json.Marshal(detail); err == nil {
			e.Detail = b
		}
	}
	return e
}

// audit appends this request's entry in the caller's transaction, so that
// it commits or rolls back with the change it records.
func (c *call) audit(tx store.Tx, outcome string, detail map[string]any) error {
	return c.s.appendAudit(c.ctx, tx, c.entry(outcome, detail))
}

// auditAlone appends this request's entry in a transaction of its own.
func (c *call) auditAlone(outcome string, detail map[string]any) {
	c.audited = true
	err := c.s.st.Update(context.WithoutCancel(c.ctx), func(tx store.Tx) error {
		return c.s.appendAudit(c.ctx, tx, c.entry(outcome, detail))
	})
	if err != nil {
		c.s.log.Error("audit entry lost", "action", c.action, "err", err)
	}
}

// vaultParam returns the vault the request's path names, makes it the
// audit target, and checks that the caller has permission p on it.
func (c *call) vaultParam(p rbac.Permission) (string, error) {
	name := c.r.PathValue("vault")
	c.target = "vault/" + clip(name)
	return name, c.require(p, name)
}

// require checks that the caller has permission p on vault.
func (c *call) require(p rbac.Permission, vault string) error {
	if c.id.can(p, vault) {
		return nil
	}
	scope := "vault " + vault
	if vault == rbac.AllVaults {
		scope = "this server"
	}
	return forbidden("%s lacks the %s permission on %s", c.id.name(), p, scope)
}

// authenticate checks the bearer token.
func (s *Server) authenticate(c *call) (*identity, error) {
	hdr := c.r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(hdr, "Bearer ")
	if !ok || raw == "" {
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "this request needs an API token: log in with `bunker login` or set $BUNKER_TOKEN")
	}
	tok, err := auth.ParseToken(strings.TrimSpace(raw))
	if err != nil {
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "invalid API token: %v", err)
	}
	now := s.cfg.Now()
	if id, ok := s.auth.get(tok.ID, now); ok && auth.SecretMatches(id.token.Hash, tok.Secret) && id.token.Valid(now) && !id.principal.Disabled {
		return id, nil
	}
	gen := s.auth.gen.Load()
	var id *identity
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		t, err := tx.Token(c.ctx, tok.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusUnauthorized, "unauthenticated", "unknown API token %s", tok.ID)
		}
		if err != nil {
			return err
		}
		if !auth.SecretMatches(t.Hash, tok.Secret) {
			return errorf(http.StatusUnauthorized, "unauthenticated", "unknown API token %s", tok.ID)
		}
		if !t.Valid(now) {
			return errorf(http.StatusUnauthorized, "unauthenticated", "API token %s has expired or was revoked: log in again or ask for a new token", tok.ID)
		}
		if id, err = identityFor(c.ctx, tx, t); err != nil {
			return err
		}
		if t.Kind == store.GrantToken {
			if err := grantIdentity(c.ctx, tx, id, now); err != nil {
				return err
			}
		}
		if id.principal.Disabled {
			return errorf(http.StatusUnauthorized, "unauthenticated", "principal %s is disabled", id.principal.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if now.Sub(id.token.LastUsed) > time.Minute {
		id.token.LastUsed = now
		_ = s.st.Update(context.WithoutCancel(c.ctx), func(tx store.Tx) error { return tx.TouchToken(c.ctx, id.token.ID, now) })
	}
	s.auth.put(tok.ID, id, gen, now)
	return id, nil
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// appendAudit chains an entry into the log within tx and counts it toward
// the next checkpoint.
func (s *Server) appendAudit(ctx context.Context, tx store.Tx, e audit.Entry) error {
	if _, err := tx.AppendAudit(ctx, e); err != nil {
		return err
	}
	s.metrics.auditEntries.WithLabelValues(e.Outcome).Inc()
	select {
	case s.auditNotify <- struct{}{}:
	default:
	}
	return nil
}
