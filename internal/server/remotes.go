package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/replicate"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/store"
)

// remoteCallTimeout bounds one call to a remote that is not a pull.
const remoteCallTimeout = 30 * time.Second

// peerIdentity asks the server at url (what names it in errors: "the
// remote", "the central server"), pinned to fingerprint, whom token
// authenticates: the check that a remote or push target is registered
// with a working credential.
func peerIdentity(c *call, what, url, fingerprint, token string) (api.Whoami, error) {
	cl, err := client.New(client.Options{URL: url, Fingerprint: fingerprint, Token: token})
	if err != nil {
		return api.Whoami{}, badRequest("url: %v", err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, remoteCallTimeout)
	defer cancel()
	who, err := cl.Whoami(ctx)
	if err != nil {
		return api.Whoami{}, errorf(http.StatusBadGateway, "remote_unreachable", "%s at %s did not accept the token: %v (check the URL, the fingerprint and the token)", what, clip(url), err)
	}
	return who, nil
}

// tokenAAD binds a sealed replication token to its remote.
func tokenAAD(name string) []byte { return []byte("remote token " + name) }

// webhookAAD binds a remote's sealed webhook secret to its name.
func webhookAAD(name string) []byte { return []byte("remote webhook " + name) }

// webhookPath is where a remote's events are received.
func webhookPath(name string) string { return "/v1/remotes/" + name + "/events" }

func remoteView(r *store.Remote) api.Remote {
	fs := r.Follow
	if fs == nil {
		fs = []store.Follow{}
	}
	return api.Remote{Name: r.Name, URL: r.URL, Fingerprint: r.Fingerprint, Follow: fs, WebhookPath: webhookPath(r.Name),
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy}
}

// checkRemoteRequest checks what can be checked without calling the
// remote.
func checkRemoteRequest(req *api.RemoteRequest) error {
	u, err := url.Parse(req.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" {
		return badRequest("url: want https://host:port of the remote bunker server, got %q", clip(req.URL))
	}
	if !strings.HasPrefix(req.Fingerprint, "sha256:") || len(req.Fingerprint) != len("sha256:")+64 {
		return badRequest("fingerprint: want the remote's certificate fingerprint, sha256: and 64 hex digits, as `bunker server` prints it")
	}
	if req.Token == "" {
		return badRequest("token: give the replication token the remote issued (a principal with restore-operator on the followed vaults)")
	}
	for i, f := range req.Follow {
		if err := checkVaultName(f.Vault); err != nil {
			return badRequest("follow[%d].vault: %v", i, err)
		}
		if err := checkVaultName(f.ToVault); err != nil {
			return badRequest("follow[%d].to_vault: %v", i, err)
		}
	}
	return nil
}

// checkReplicationIdentity refuses a token that can do more on the remote
// than read the followed vaults: the central site must hold nothing that
// could change a workload site.
func checkReplicationIdentity(who api.Whoami, follow []store.Follow) error {
	for _, b := range who.Bindings {
		if b.Role != rbac.RestoreOperator {
			return badRequest("token: it acts as %s, who holds %s on the remote; a replication token may hold restore-operator only (make a principal for replication there)", who.Principal, b.Role)
		}
	}
	for i, f := range follow {
		if !rbac.Allowed(who.Bindings, rbac.DataRead, f.Vault) {
			return badRequest("follow[%d].vault: %s cannot read vault %s on the remote (bind restore-operator on it there)", i, who.Principal, f.Vault)
		}
	}
	return nil
}

// dialRemote returns a client for remote r, with its certificate pinned
// and its token.
func (s *Server) dialRemote(r *store.Remote) (*client.Client, error) {
	return s.dialSealed("remote "+r.Name, r.URL, r.Fingerprint, r.TokenSealed, tokenAAD(r.Name))
}

// dialSealed returns a client for another bunker server at url, with its
// certificate pinned to fingerprint and the token sealed under aad; what
// names the server for errors.
func (s *Server) dialSealed(what, url, fingerprint string, sealed, aad []byte) (*client.Client, error) {
	tok, err := s.box.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("%s: open its token: %w", what, err)
	}
	return client.New(client.Options{URL: url, Fingerprint: fingerprint, Token: string(tok)})
}

func (s *Server) handleRemotePut(c *call) error {
	name := c.r.PathValue("name")
	c.target = "remote/" + clip(name)
	if err := c.require(rbac.RemoteAdmin, rbac.AllVaults); err != nil {
		return err
	}
	if err := checkVaultName(name); err != nil {
		return badRequest("remote name: %v", err)
	}
	var req api.RemoteRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkRemoteRequest(&req); err != nil {
		return err
	}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		for i, f := range req.Follow {
			if _, err := s.loadVault(c, tx, f.ToVault); err != nil {
				return badRequest("follow[%d].to_vault: %v", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	who, err := peerIdentity(c, "the remote", req.URL, req.Fingerprint, req.Token)
	if err != nil {
		return err
	}
	if err := checkReplicationIdentity(who, req.Follow); err != nil {
		return err
	}
	sealed, err := s.box.Seal([]byte(req.Token), tokenAAD(name))
	if err != nil {
		return err
	}
	secret := rand.Text()
	hookSealed, err := s.box.Seal([]byte(secret), webhookAAD(name))
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	r := &store.Remote{Name: name, URL: req.URL, Fingerprint: req.Fingerprint, TokenSealed: sealed, WebhookSealed: hookSealed,
		Follow: req.Follow, CreatedAt: now, CreatedBy: c.id.name(), UpdatedAt: now, UpdatedBy: c.id.name()}
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		if err := tx.PutRemote(c.ctx, r); err != nil {
			return err
		}
		if r, err = tx.Remote(c.ctx, name); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"url": req.URL, "fingerprint": req.Fingerprint,
			"principal": who.Principal, "follow": req.Follow})
	})
	if err != nil {
		return err
	}
	view := remoteView(r)
	view.WebhookSecret = secret
	return c.ok(http.StatusOK, view)
}

func (s *Server) handleRemoteList(c *call) error {
	out, err := listAll(c, rbac.RemoteAdmin, store.Tx.Remotes, remoteView)
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"remotes": out})
}

func (s *Server) handleRemoteDelete(c *call) error {
	name := c.r.PathValue("name")
	c.target = "remote/" + clip(name)
	if err := c.require(rbac.RemoteAdmin, rbac.AllVaults); err != nil {
		return err
	}
	return s.deleteNamed(c, name, "remote", "bunker remote list", store.Tx.DeleteRemote)
}

// loadRemote reads a remote, answering 404 for unknown names.
func (s *Server) loadRemote(ctx context.Context, name string) (*store.Remote, error) {
	var r *store.Remote
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = tx.Remote(ctx, name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no remote %s (see `bunker remote list`)", clip(name))
	}
	return r, err
}

// handleRemotePull pulls one point of a remote into a vault of this
// server.
func (s *Server) handleRemotePull(c *call) error {
	name := c.r.PathValue("name")
	c.target = "remote/" + clip(name)
	if err := c.require(rbac.RemoteAdmin, rbac.AllVaults); err != nil {
		return err
	}
	var req api.PullRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkVaultName(req.Vault); err != nil {
		return badRequest("vault: %v", err)
	}
	if req.Point == "" {
		return badRequest("point: name the remote's point (an id prefix, or latest)")
	}
	if err := checkVaultName(req.ToVault); err != nil {
		return badRequest("to_vault: %v", err)
	}
	r, err := s.loadRemote(c.ctx, name)
	if err != nil {
		return err
	}
	var dst *store.Vault
	if err := s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		dst, err = s.loadVault(c, tx, req.ToVault)
		return err
	}); err != nil {
		return err
	}
	cl, err := s.dialRemote(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, remoteCallTimeout)
	p, err := cl.Point(ctx, req.Vault, req.Point)
	cancel()
	if err != nil {
		return errorf(http.StatusBadGateway, "remote_failed", "remote %s: point %s of vault %s: %v", name, clip(req.Point), req.Vault, err)
	}
	return s.answerCopy(c, s.remoteCopy(r.Name, cl, req.Vault, p), dst)
}

// remoteCopy is the original of a copy pulled from vault of remote site
// through cl: read through a restore session there, every blob checked
// against its id as it arrives.
func (s *Server) remoteCopy(site string, cl *client.Client, vault string, p api.Point) copyFrom {
	return copyFrom{
		origin: repo.Origin{Site: site, Vault: vault, Point: p.ID, Time: p.Time},
		point:  p.Point,
		admit: func(ctx context.Context, dst *store.Vault) error {
			return s.admitPull(ctx, site, dst.Name, p.Point)
		},
		open: func(ctx context.Context) (replicate.Source, *crypto.IDKey, func(), error) {
			rs, err := remote.StartRestore(ctx, cl, vault, p.ID)
			if err != nil {
				return nil, nil, nil, err
			}
			if rs.Point().Tree.String() != p.Tree {
				rs.Close(context.WithoutCancel(ctx))
				return nil, nil, nil, fmt.Errorf("the remote opened point %s with tree %s, not %s", short(p.ID), rs.Point().Tree.Short(), clip(p.Tree))
			}
			return rs, rs.IDKey(), func() { _ = rs.Close(context.WithoutCancel(ctx)) }, nil
		},
	}
}

// handleRemoteSync looks at a remote's followed vaults now.
func (s *Server) handleRemoteSync(c *call) error {
	name := c.r.PathValue("name")
	c.target = "remote/" + clip(name)
	if err := c.require(rbac.RemoteAdmin, rbac.AllVaults); err != nil {
		return err
	}
	r, err := s.loadRemote(c.ctx, name)
	if err != nil {
		return err
	}
	rep := s.syncRemote(c.ctx, r, c.id.name())
	c.audited = true // every copy was audited
	return c.ok(http.StatusOK, rep)
}

// syncRemote pulls every active point of the remote's followed vaults
// that the vault it is followed into holds no copy of, oldest first. A
// point that fails is reported and tried again on the next look; the
// points after it are still pulled.
func (s *Server) syncRemote(ctx context.Context, r *store.Remote, by string) api.SyncReport {
	rep := api.SyncReport{Remote: r.Name, Copies: []api.CopyReport{}, Errors: []string{}}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		rep.Errors = append(rep.Errors, msg)
		s.log.Warn("pull from remote", "remote", r.Name, "err", msg)
	}
	cl, err := s.dialRemote(r)
	if err != nil {
		fail("%v", err)
		return rep
	}
	for _, f := range r.Follow {
		var dst *store.Vault
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			dst, err = tx.Vault(ctx, f.ToVault)
			return err
		})
		if err != nil {
			fail("vault %s: %v", f.ToVault, err)
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, remoteCallTimeout)
		ps, err := cl.Points(lctx, f.Vault, client.PointFilter{})
		cancel()
		if err != nil {
			fail("list the points of vault %s on %s: %v", f.Vault, r.Name, err)
			s.pullFailed(ctx, r.Name, f, "", err)
			continue
		}
		s.pullSucceeded(ctx, r.Name, f, "")
		listed := make(map[string]bool, len(ps))
		for _, p := range ps {
			listed[p.ID] = true
		}
		if err := s.streaks.forgetGone(ctx, s.st, store.StreakPull, r.Name, f.Vault, listed); err != nil {
			s.log.Error("forget the failed pulls of points gone from a remote", "remote", r.Name, "vault", f.Vault, "err", err)
		}
		slices.SortFunc(ps, func(a, b api.Point) int { return a.Time.Compare(b.Time) })
		for _, p := range ps {
			if ctx.Err() != nil {
				return rep
			}
			cr, err := s.copyPoint(ctx, s.remoteCopy(r.Name, cl, f.Vault, p), dst, by)
			if isFloodRefusal(err) {
				// The later points would be refused too: they wait for the
				// next window, and vault.flood, not pull.stalled, says so.
				fail("point %s of vault %s and those after it: %v", short(p.ID), f.Vault, err)
				s.auditHeldBack(ctx, by, r.Name, f, p.ID, err)
				break
			}
			if err != nil {
				fail("point %s of vault %s: %v", short(p.ID), f.Vault, err)
				s.pullFailed(ctx, r.Name, f, p.ID, err)
				continue
			}
			s.pullSucceeded(ctx, r.Name, f, p.ID)
			if !cr.Existing {
				rep.Copies = append(rep.Copies, *cr)
			}
		}
	}
	return rep
}

// pullFailed counts a failed look at a followed vault (point empty) or
// pull of one of its points, and raises pull.stalled from the
// pushAlertAfter-th failure in a row on.
func (s *Server) pullFailed(ctx context.Context, remote string, f store.Follow, point string, cause error) {
	if ctx.Err() != nil {
		return // the server stops: that is not the remote failing
	}
	detail := map[string]any{"remote": remote, "from_vault": f.Vault, "error": cause.Error()}
	if point != "" {
		detail["point"] = point
	}
	var box outbox
	err := s.st.Update(ctx, func(tx store.Tx) error {
		box = nil
		n, err := s.streaks.add(ctx, tx, streakKey(store.StreakPull, remote, f.Vault, point))
		if err != nil || n < pushAlertAfter {
			return err
		}
		detail["failures"] = n
		return s.emit(ctx, tx, &box, event.PullStalled, f.ToVault, detail)
	})
	if err != nil {
		s.log.Error("record a failed pull", "remote", remote, "vault", f.Vault, "err", err)
		return
	}
	s.deliver(ctx, box)
}

// auditHeldBack records a pull the flood limit refused as a denied
// point.copy.
func (s *Server) auditHeldBack(ctx context.Context, by, remote string, f store.Follow, point string, cause error) {
	detail := map[string]any{"from_site": remote, "from_vault": f.Vault, "from_point": point, "to_vault": f.ToVault, "error": cause.Error()}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		return s.appendAudit(ctx, tx, s.serverEntry(by, "point.copy", "remote/"+remote, audit.OutcomeDenied, detail))
	})
	if err != nil {
		s.log.Error("audit a pull held back by the flood limit", "remote", remote, "err", err)
	}
}

// pullSucceeded starts the count of a followed vault's looks (point
// empty) or of a point's pulls again.
func (s *Server) pullSucceeded(ctx context.Context, remote string, f store.Follow, point string) {
	if err := s.streaks.clear(ctx, s.st, streakKey(store.StreakPull, remote, f.Vault, point)); err != nil {
		s.log.Error("forget the failed pulls", "remote", remote, "vault", f.Vault, "point", point, "err", err)
	}
}

// pullLoop looks at every remote's followed vaults every PullEvery, and
// at one remote's as soon as its webhook says it has something new.
func (s *Server) pullLoop(ctx context.Context) {
	pace := newNudgePace(s.cfg.NudgeGap)
	var every <-chan time.Time
	if s.cfg.PullEvery > 0 {
		tick := time.NewTicker(s.cfg.PullEvery)
		defer tick.Stop()
		every = tick.C
	} else {
		s.awaitNudges(ctx, nil, pace) // looked at only when told
		return
	}
	for {
		var rs []store.Remote
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			rs, err = tx.Remotes(ctx)
			return err
		})
		if err != nil && ctx.Err() == nil {
			s.log.Error("read remotes", "err", err)
		}
		for i := range rs {
			if len(rs[i].Follow) > 0 {
				s.syncRemote(ctx, &rs[i], "puller")
			}
		}
		pace.lookedAtAll()
		if !s.awaitNudges(ctx, every, pace) {
			return
		}
	}
}

// awaitNudges pulls from each remote whose webhook calls, at most once
// per NudgeGap for each, until every ticks (never, if nil); it reports
// false once ctx ends.
func (s *Server) awaitNudges(ctx context.Context, every <-chan time.Time, pace *nudgePace) bool {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	look := func(name string) {
		r, err := s.loadRemote(ctx, name)
		if err != nil {
			s.log.Warn("pull on a remote's event", "remote", name, "err", err)
			return
		}
		s.syncRemote(ctx, r, "puller")
	}
	for {
		if d, ok := pace.nextOwed(time.Now()); ok {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return false
		case <-every:
			return true
		case name := <-s.nudges:
			if pace.nudged(name, time.Now()) {
				look(name)
			}
		case <-timer.C:
			for _, name := range pace.due(time.Now()) {
				look(name)
			}
		}
		timer.Stop()
	}
}

// DefaultNudgeGap is the shortest time between two looks at one remote
// that its webhook asks for (Config.NudgeGap).
const DefaultNudgeGap = 10 * time.Second

// nudgePace spaces the looks that remotes' webhooks ask for: a remote
// whose workload site is taken over, and which signs events as fast as it
// can, gets one look per gap, not one per event. A nudge within the gap is
// not lost: the remote is looked at once the gap has passed.
type nudgePace struct {
	gap  time.Duration
	last map[string]time.Time // when a nudge last made a look at each remote
	owed map[string]bool      // remotes nudged within their gap
}

func newNudgePace(gap time.Duration) *nudgePace {
	if gap == 0 {
		gap = DefaultNudgeGap
	}
	return &nudgePace{gap: gap, last: map[string]time.Time{}, owed: map[string]bool{}}
}

// nudged reports whether a nudge of name at now is to be looked at now;
// otherwise the look is owed.
func (p *nudgePace) nudged(name string, now time.Time) bool {
	if last, ok := p.last[name]; ok && now.Sub(last) < p.gap {
		p.owed[name] = true
		return false
	}
	p.last[name] = now
	return true
}

// nextOwed returns how long until the first owed look is due.
func (p *nudgePace) nextOwed(now time.Time) (time.Duration, bool) {
	var first time.Time
	for name := range p.owed {
		if at := p.last[name].Add(p.gap); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return max(first.Sub(now), 0), !first.IsZero()
}

// due returns the remotes whose owed look is due at now, and counts it
// as made.
func (p *nudgePace) due(now time.Time) []string {
	var out []string
	for name := range p.owed {
		if now.Sub(p.last[name]) >= p.gap {
			out = append(out, name)
			delete(p.owed, name)
			p.last[name] = now
		}
	}
	slices.Sort(out)
	return out
}

// lookedAtAll records a regular look at every remote: no look is owed.
func (p *nudgePace) lookedAtAll() { clear(p.owed) }

// maxRemoteEvent bounds the body of a remote's event.
const maxRemoteEvent = 1 << 20

// handleRemoteEvents receives an event a remote's event rule sends by
// webhook (the body and signature of package notify's webhooks), signed
// with the remote's webhook secret, and pulls from that
// remote at once. The event is a hint and nothing more: what is pulled is
// what the remote lists when this server asks it with its own credential,
// so a forged or replayed event could at most bring a look forward. The
// route takes no bearer token, since the remote holds no credential for
// this server; an unknown remote and a bad signature get the same 401.
func (s *Server) handleRemoteEvents(c *call) error {
	name := c.r.PathValue("name")
	c.target = "remote/" + clip(name)
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxRemoteEvent))
	if err != nil {
		return badRequest("event: %v (a signed event envelope of at most %d bytes)", err, maxRemoteEvent)
	}
	refused := errorf(http.StatusUnauthorized, "unauthorized", "not a signed event of a registered remote: sign with the webhook secret `bunker remote add` printed, and send to the remote's webhook path")
	r, err := s.loadRemote(c.ctx, name)
	if err != nil || len(r.WebhookSealed) == 0 {
		return refused
	}
	secret, err := s.box.Open(r.WebhookSealed, webhookAAD(name))
	if err != nil {
		return fmt.Errorf("remote %s: open its webhook secret: %w", name, err)
	}
	if err := notify.VerifyWebhook(secret, c.r.Header, body, s.cfg.Now(), 0); err != nil {
		return refused
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Bunker.Version != notify.PayloadVersion || p.Bunker.Kind == "" {
		return badRequest("event: not a bunker webhook body of version %d (its \"bunker\" object names the event's kind and vault)", notify.PayloadVersion)
	}
	e := p.Bunker.Event
	followed := slices.ContainsFunc(r.Follow, func(f store.Follow) bool { return f.Vault == e.Vault })
	if followed {
		select {
		case s.nudges <- name:
		default: // a look is already due
		}
	}
	c.auditAlone(audit.OutcomeOK, map[string]any{"event": e.ID, "kind": e.Kind, "vault": e.Vault, "pull": followed})
	return c.ok(http.StatusAccepted, api.RemoteEventAnswer{Pull: followed})
}
