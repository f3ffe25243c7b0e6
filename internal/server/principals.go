package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/auth"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// Token lifetimes.
const (
	sessionTokenTTL  = 12 * time.Hour
	defaultTokenTTL  = 90 * 24 * time.Hour
	maxTokenTTL      = 2 * 366 * 24 * time.Hour
	adminPasswordLen = 24
)

// maxTokenHosts is how many host names a token may be limited to.
const maxTokenHosts = 100

func (s *Server) passwordParams() auth.PasswordParams {
	if c := s.cfg.PasswordParams; c != nil {
		return auth.PasswordParams{Memory: c.MemoryKiB, Time: c.Time, Threads: c.Threads}
	}
	return auth.DefaultPasswordParams()
}

// Bootstrap creates the first security-admin, "admin", when the server has
// no principals yet. It returns the generated password (empty when nothing
// was created), also written to admin-password in the data directory (mode
// 0600), and that file's path.
func (s *Server) Bootstrap(ctx context.Context) (password, file string, err error) {
	file = filepath.Join(s.cfg.DataDir, "admin-password")
	err = s.st.Update(ctx, func(tx store.Tx) error {
		ps, err := tx.Principals(ctx)
		if err != nil || len(ps) > 0 {
			return err
		}
		password, err = randomPassword(adminPasswordLen)
		if err != nil {
			return err
		}
		hash, err := auth.HashPassword(password, s.passwordParams())
		if err != nil {
			return err
		}
		now := s.cfg.Now().UTC()
		p := &store.Principal{Name: "admin", Kind: store.User, PasswordHash: hash, CreatedAt: now, CreatedBy: "bunker server"}
		if err := tx.CreatePrincipal(ctx, p); err != nil {
			return err
		}
		b := &store.Binding{Binding: rbac.Binding{Principal: "admin", Role: rbac.SecurityAdmin, Vault: rbac.AllVaults},
			PrincipalID: p.ID, CreatedAt: now, CreatedBy: "bunker server"}
		if err := tx.CreateBinding(ctx, b); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit.Entry{Time: now, Action: "server.bootstrap", Target: "principal/admin",
			Outcome: audit.OutcomeOK, Detail: []byte(`{"role":"security-admin"}`)})
	})
	if err != nil || password == "" {
		return "", file, err
	}
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		return password, file, fmt.Errorf("write %s: %w", file, err)
	}
	return password, file, nil
}

func randomPassword(n int) (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out), nil
}

// dummyHash is checked when the user does not exist, so that a login takes
// as long for an unknown name as for a wrong password. It is made once.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() {
		pw, err := randomPassword(adminPasswordLen)
		if err == nil {
			s.dummy, _ = auth.HashPassword(pw, s.passwordParams())
		}
	})
	return s.dummy
}

func (s *Server) handleLogin(c *call) error {
	var req api.LoginRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	c.target = "principal/" + clip(req.Name)
	keys := []string{"name:" + strings.ToLower(req.Name), "addr:" + c.remote}
	if wait := s.logins.wait(keys...); wait > 0 {
		return errorf(http.StatusTooManyRequests, "too_many_attempts", "too many failed logins for %s or from %s: try again in %s", clip(req.Name), c.remote, wait.Round(time.Second))
	}
	wrong := errorf(http.StatusUnauthorized, "unauthenticated", "%s", auth.ErrWrongPassword.Error())
	err := s.login(c, req, wrong)
	if err != nil {
		if ae := asAPIError(err); ae.status == http.StatusUnauthorized && ae.code != "totp_required" {
			s.logins.fail(keys...)
		}
		return err
	}
	s.logins.succeed(keys[0])
	return nil
}

// login checks the password (and TOTP code) and answers with a session token.
func (s *Server) login(c *call, req api.LoginRequest, wrong error) error {
	var p *store.Principal
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.Principal(c.ctx, req.Name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && (p.Kind != store.User || p.Disabled)) {
		_ = auth.CheckPassword(s.dummyHash(), req.Password)
		return wrong
	}
	if err != nil {
		return err
	}
	if err := auth.CheckPassword(p.PasswordHash, req.Password); err != nil {
		return wrong
	}
	now := s.cfg.Now()
	var resp api.NewToken
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		p, err := tx.Principal(c.ctx, req.Name) // again, inside the transaction
		if err != nil {
			return err
		}
		if p.HasTOTP() {
			if req.TOTP == "" {
				return errorf(http.StatusUnauthorized, "totp_required", "%s has a TOTP second factor: give the current code", p.Name)
			}
			seed, err := s.box.Open(p.TOTPSealed, []byte("totp "+p.Name))
			if err != nil {
				return err
			}
			step, err := auth.CheckTOTP(string(seed), req.TOTP, now, p.TOTPLastStep)
			if err != nil {
				return errorf(http.StatusUnauthorized, "unauthenticated", "TOTP code refused: %v", err)
			}
			p.TOTPLastStep = step
			if err := tx.UpdatePrincipal(c.ctx, p); err != nil {
				return err
			}
		}
		c.id = &identity{principal: p}
		resp, err = s.issueToken(c.ctx, tx, p, store.Token{Kind: store.SessionToken, Label: "login"}, sessionTokenTTL)
		if err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"token": resp.ID})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, resp)
}

// issueToken stores a new token of principal p with the kind, label and
// scope (vaults, hosts) of tmpl, valid for ttl, and returns its secret.
func (s *Server) issueToken(ctx context.Context, tx store.Tx, p *store.Principal, tmpl store.Token, ttl time.Duration) (api.NewToken, error) {
	tok, err := auth.NewToken()
	if err != nil {
		return api.NewToken{}, err
	}
	now := s.cfg.Now().UTC()
	t := tmpl
	t.ID, t.PrincipalID, t.Principal, t.Hash = tok.ID, p.ID, p.Name, auth.HashSecret(tok.Secret)
	t.CreatedAt, t.ExpiresAt = now, now.Add(ttl)
	if err := tx.CreateToken(ctx, &t); err != nil {
		return api.NewToken{}, err
	}
	return api.NewToken{Token: tok.String(), ID: tok.ID, Principal: p.Name, ExpiresAt: t.ExpiresAt, Vaults: t.Vaults, Hosts: t.Hosts}, nil
}

func (s *Server) handleLogout(c *call) error {
	c.target = "token/" + c.id.token.ID
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		t := *c.id.token // the identity may be shared through the cache
		t.RevokedAt = s.cfg.Now().UTC()
		if err := tx.UpdateToken(c.ctx, &t); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, nil)
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]string{"status": "logged out"})
}

func (s *Server) handleWhoami(c *call) error {
	bs := c.id.bindings
	if bs == nil {
		bs = []rbac.Binding{}
	}
	return c.ok(http.StatusOK, api.Whoami{Principal: c.id.name(), Kind: string(c.id.principal.Kind), TOTP: c.id.principal.HasTOTP(), Bindings: bs, Token: c.id.token})
}

func (s *Server) handlePrincipalCreate(c *call) error {
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return err
	}
	var req api.PrincipalRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkPrincipalName(req.Name); err != nil {
		return err
	}
	c.target = "principal/" + req.Name
	p := &store.Principal{Name: req.Name, Kind: store.PrincipalKind(req.Kind), CreatedAt: s.cfg.Now().UTC(), CreatedBy: c.id.name()}
	switch p.Kind {
	case store.User:
		if err := auth.ValidatePassword(req.Password); err != nil {
			return badRequest("password: %v", err)
		}
		hash, err := auth.HashPassword(req.Password, s.passwordParams())
		if err != nil {
			return err
		}
		p.PasswordHash = hash
	case store.Service:
		if req.Password != "" {
			return badRequest("a service account has no password: it authenticates with API tokens (`bunker token create --principal %s`)", req.Name)
		}
	default:
		return badRequest("kind must be %q or %q, not %q", store.User, store.Service, clip(req.Kind))
	}
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		if err := tx.CreatePrincipal(c.ctx, p); err != nil {
			if errors.Is(err, store.ErrExists) {
				return conflict("principal %s already exists", p.Name)
			}
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"kind": p.Kind})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusCreated, api.Principal{Principal: p, Bindings: []rbac.Binding{}})
}

func (s *Server) handlePrincipalList(c *call) error {
	if !c.id.can(rbac.PrincipalAdmin, rbac.AllVaults) && !c.id.can(rbac.AuditRead, rbac.AllVaults) {
		return c.require(rbac.PrincipalAdmin, rbac.AllVaults)
	}
	var out []api.Principal
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		ps, err := tx.Principals(c.ctx)
		if err != nil {
			return err
		}
		bs, err := tx.Bindings(c.ctx, "")
		if err != nil {
			return err
		}
		for i := range ps {
			v := api.Principal{Principal: &ps[i], TOTP: ps[i].HasTOTP(), Bindings: []rbac.Binding{}}
			for _, b := range bs {
				if b.Principal == ps[i].Name {
					v.Bindings = append(v.Bindings, b.Binding)
				}
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"principals": out})
}

func (s *Server) loadPrincipal(c *call, tx store.Tx, name string) (*store.Principal, error) {
	p, err := tx.Principal(c.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no principal %s (see `bunker user list`)", clip(name))
	}
	return p, err
}

// handlePrincipalUpdate lets a security-admin disable or enable a principal,
// set a user's password, or remove a lost TOTP factor; not for itself.
func (s *Server) handlePrincipalUpdate(c *call) error {
	name := c.r.PathValue("name")
	c.target = "principal/" + clip(name)
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return err
	}
	var req api.PrincipalUpdate
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if name == c.id.name() {
		return forbidden("%s: change your own password with `bunker user passwd`; another security-admin manages your account", rbac.NoSelfGrant)
	}
	var view api.Principal
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		p, err := s.loadPrincipal(c, tx, name)
		if err != nil {
			return err
		}
		detail := map[string]any{}
		if req.Disabled != nil {
			p.Disabled = *req.Disabled
			detail["disabled"] = p.Disabled
		}
		if req.Password != nil {
			if p.Kind != store.User {
				return badRequest("%s is a service account and has no password", p.Name)
			}
			if err := auth.ValidatePassword(*req.Password); err != nil {
				return badRequest("password: %v", err)
			}
			if p.PasswordHash, err = auth.HashPassword(*req.Password, s.passwordParams()); err != nil {
				return err
			}
			detail["password"] = "set"
			if _, err := s.revokeSessions(c.ctx, tx, p.Name, ""); err != nil {
				return err
			}
		}
		if req.ResetTOTP {
			p.TOTPSealed, p.TOTPLastStep = nil, 0
			detail["totp"] = "removed"
		}
		if len(detail) == 0 {
			return badRequest("nothing to change: give disabled, password or reset_totp")
		}
		if err := tx.UpdatePrincipal(c.ctx, p); err != nil {
			return err
		}
		if p.Disabled {
			if err := s.revokeAll(c.ctx, tx, p.Name); err != nil {
				return err
			}
		}
		bs, err := tx.Bindings(c.ctx, p.Name)
		if err != nil {
			return err
		}
		view = api.Principal{Principal: p, TOTP: p.HasTOTP(), Bindings: []rbac.Binding{}}
		for _, b := range bs {
			view.Bindings = append(view.Bindings, b.Binding)
		}
		return c.audit(tx, audit.OutcomeOK, detail)
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// revokeSessions revokes a principal's login sessions except keep: after a
// password change, whoever knew the old password is logged out.
func (s *Server) revokeSessions(ctx context.Context, tx store.Tx, name, keep string) (int, error) {
	ts, err := tx.Tokens(ctx, name)
	if err != nil {
		return 0, err
	}
	now := s.cfg.Now().UTC()
	n := 0
	for i := range ts {
		if ts[i].Kind == store.SessionToken && ts[i].ID != keep && ts[i].RevokedAt.IsZero() {
			ts[i].RevokedAt = now
			if err := tx.UpdateToken(ctx, &ts[i]); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func (s *Server) revokeAll(ctx context.Context, tx store.Tx, name string) error {
	ts, err := tx.Tokens(ctx, name)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	for i := range ts {
		if ts[i].RevokedAt.IsZero() {
			ts[i].RevokedAt = now
			if err := tx.UpdateToken(ctx, &ts[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// handlePasswordChange changes the caller's own password.
func (s *Server) handlePasswordChange(c *call) error {
	c.target = "principal/" + c.id.name()
	var req api.PasswordChange
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if c.id.principal.Kind != store.User {
		return badRequest("a service account has no password")
	}
	if err := auth.CheckPassword(c.id.principal.PasswordHash, req.Current); err != nil {
		return forbidden("the current password is wrong")
	}
	if err := auth.ValidatePassword(req.New); err != nil {
		return badRequest("new password: %v", err)
	}
	hash, err := auth.HashPassword(req.New, s.passwordParams())
	if err != nil {
		return err
	}
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		p, err := tx.Principal(c.ctx, c.id.name())
		if err != nil {
			return err
		}
		p.PasswordHash = hash
		if err := tx.UpdatePrincipal(c.ctx, p); err != nil {
			return err
		}
		n, err := s.revokeSessions(c.ctx, tx, p.Name, c.id.token.ID)
		if err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"sessions_revoked": n})
	})
	if err != nil {
		return err
	}
	if name := filepath.Join(s.cfg.DataDir, "admin-password"); c.id.name() == "admin" {
		_ = os.Remove(name)
	}
	return c.ok(http.StatusOK, map[string]string{"status": "password changed"})
}

// handleTOTP enrolls the caller's TOTP factor in two steps: without a code
// it makes a secret and returns it (kept pending); with a code that the
// pending secret accepts, it turns the factor on.
func (s *Server) handleTOTP(c *call) error {
	c.target = "principal/" + c.id.name()
	var req api.TOTPRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if c.id.principal.Kind != store.User {
		return badRequest("a service account has no second factor")
	}
	if c.id.principal.HasTOTP() {
		return conflict("%s already has a TOTP factor; a security-admin can reset it", c.id.name())
	}
	key := "totp-pending/" + c.id.name()
	if req.Code == "" {
		secretText, url, err := auth.NewTOTP("bunker", c.id.name())
		if err != nil {
			return err
		}
		sealed, err := s.box.Seal([]byte(secretText), []byte("totp "+c.id.name()))
		if err != nil {
			return err
		}
		err = s.st.Update(c.ctx, func(tx store.Tx) error {
			if err := tx.SetSetting(c.ctx, key, fmt.Sprintf("%x", sealed)); err != nil {
				return err
			}
			return c.audit(tx, audit.OutcomeOK, map[string]any{"step": "started"})
		})
		if err != nil {
			return err
		}
		return c.ok(http.StatusOK, api.TOTPEnrollment{Secret: secretText, URL: url,
			Next: "add it to an authenticator app, then confirm with the current code"})
	}
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		hexSealed, err := tx.Setting(c.ctx, key)
		if errors.Is(err, store.ErrNotFound) || (err == nil && hexSealed == "") {
			return badRequest("no TOTP enrolment is pending: start one without a code")
		}
		if err != nil {
			return err
		}
		var sealed []byte
		if _, err := fmt.Sscanf(hexSealed, "%x", &sealed); err != nil {
			return err
		}
		seed, err := s.box.Open(sealed, []byte("totp "+c.id.name()))
		if err != nil {
			return err
		}
		step, err := auth.CheckTOTP(string(seed), req.Code, s.cfg.Now(), 0)
		if err != nil {
			return forbidden("TOTP code refused: %v", err)
		}
		p, err := tx.Principal(c.ctx, c.id.name())
		if err != nil {
			return err
		}
		p.TOTPSealed, p.TOTPLastStep = sealed, step
		if err := tx.UpdatePrincipal(c.ctx, p); err != nil {
			return err
		}
		if err := tx.SetSetting(c.ctx, key, ""); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"step": "enabled"})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, api.TOTPEnrollment{Next: "TOTP enabled: logins now need the current code", Enabled: true})
}

// handleTokenCreate makes an API token: for the caller itself, or (as a
// security-admin) for another principal, typically a service account.
func (s *Server) handleTokenCreate(c *call) error {
	var req api.TokenRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	name := req.Principal
	if name == "" {
		name = c.id.name()
	}
	c.target = "principal/" + clip(name)
	if name != c.id.name() {
		if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
			return err
		}
	}
	ttl := defaultTokenTTL
	if req.ExpiresIn != "" {
		d, err := parseSpan("expires_in", req.ExpiresIn)
		if err != nil {
			return err
		}
		ttl = d
	}
	if ttl <= 0 || ttl > maxTokenTTL {
		return badRequest("expires_in must be between 1h and 2y")
	}
	if len(req.Label) > 200 {
		return badRequest("label: at most 200 characters")
	}
	for _, v := range req.Vaults {
		if err := checkVaultName(v); err != nil {
			return err
		}
	}
	slices.Sort(req.Vaults)
	req.Vaults = slices.Compact(req.Vaults)
	// A token limited to some vaults cannot make one that reaches further.
	if scope := c.id.token.Vaults; len(scope) > 0 {
		if len(req.Vaults) == 0 {
			return forbidden("this token is limited to vaults %s: a token it makes must name some of them with vaults", strings.Join(scope, ", "))
		}
		for _, v := range req.Vaults {
			if !slices.Contains(scope, v) {
				return forbidden("this token is limited to vaults %s and cannot make one for vault %s", strings.Join(scope, ", "), v)
			}
		}
	}
	hosts, err := tokenHosts(c.id.token.Hosts, req.Hosts)
	if err != nil {
		return err
	}
	req.Hosts = hosts
	var resp api.NewToken
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		p, err := s.loadPrincipal(c, tx, name)
		if err != nil {
			return err
		}
		if p.Disabled {
			return conflict("%s is disabled", p.Name)
		}
		if resp, err = s.issueToken(c.ctx, tx, p, store.Token{Kind: store.APIToken, Label: req.Label, Vaults: req.Vaults, Hosts: req.Hosts}, ttl); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"token": resp.ID, "vaults": req.Vaults, "hosts": req.Hosts, "expires_at": resp.ExpiresAt})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusCreated, resp)
}

// tokenHosts checks the hosts a new token is limited to and returns them
// sorted without repeats. A token limited to some hosts (scope) cannot make
// one that reaches further.
func tokenHosts(scope, hosts []string) ([]string, error) {
	if len(hosts) > maxTokenHosts {
		return nil, badRequest("hosts: at most %d host names", maxTokenHosts)
	}
	for _, h := range hosts {
		if err := checkHost("hosts", h); err != nil {
			return nil, err
		}
	}
	hosts = slices.Compact(slices.Sorted(slices.Values(hosts)))
	if len(scope) == 0 {
		return hosts, nil
	}
	if len(hosts) == 0 {
		return nil, forbidden("this token is limited to hosts %s: a token it makes must name some of them with hosts", strings.Join(scope, ", "))
	}
	for _, h := range hosts {
		if !slices.Contains(scope, h) {
			return nil, forbidden("this token is limited to hosts %s and cannot make one for host %s", strings.Join(scope, ", "), clip(h))
		}
	}
	return hosts, nil
}

func (s *Server) handleTokenList(c *call) error {
	name := c.r.URL.Query().Get("principal")
	admin := c.id.can(rbac.PrincipalAdmin, rbac.AllVaults)
	if !admin {
		if name != "" && name != c.id.name() {
			return c.require(rbac.PrincipalAdmin, rbac.AllVaults)
		}
		name = c.id.name()
	}
	var out []store.Token
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.Tokens(c.ctx, name)
		return err
	})
	if err != nil {
		return err
	}
	if out == nil {
		out = []store.Token{}
	}
	return c.ok(http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) handleTokenRevoke(c *call) error {
	id := c.r.PathValue("id")
	c.target = "token/" + clip(id)
	var t *store.Token
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		t, err = tx.Token(c.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no token %s", clip(id))
		}
		if err != nil {
			return err
		}
		if t.Principal != c.id.name() {
			if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
				return err
			}
		}
		if !t.RevokedAt.IsZero() {
			return conflict("token %s is already revoked", id)
		}
		t.RevokedAt = s.cfg.Now().UTC()
		if err := tx.UpdateToken(c.ctx, t); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"principal": t.Principal})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, t)
}
