package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// gate carries a guarded operation through its handler: the parameters a
// request pins, and either the approved request being executed or the
// request the call became.
type gate struct {
	params   any              // what a request pins; set before need
	approved *approval.Record // the request this call executes
	pending  *approval.Record // the request this call became
	team     *approval.Team   // the team of pending
}

// guardian returns the team that must approve op in scope (a vault, or
// approval.ServerScope), or nil when nobody has to.
func (s *Server) guardian(c *call, tx store.Tx, scope string, op approval.Operation) (*approval.Team, error) {
	set, err := tx.ApprovalSettings(c.ctx, scope)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !set.Guards(op) && !(op == approval.AirGapOpen && set.Team != "") {
		return nil, nil
	}
	return s.loadTeam(c, tx, set.Team)
}

func (s *Server) loadTeam(c *call, tx store.Tx, name string) (*approval.Team, error) {
	t, err := tx.Team(c.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no approval team %s (see `bunker team list`)", clip(name))
	}
	return t, err
}

// need decides, in tx, whether the operation waits for team's approval
// (team nil: it does not). Called for an approved request, it checks that
// the request is for this operation on this target and lets it proceed;
// otherwise, with a team, it records a request pinning g.params and
// reports true: the handler then changes nothing and answers 202.
func (s *Server) need(c *call, tx store.Tx, g *gate, op approval.Operation, scope, target string, team *approval.Team) (bool, error) {
	if g.approved != nil {
		r := g.approved.Request
		if r.Operation != op || r.Scope != scope || r.Target != target {
			return false, conflict("request %s approved %s on %s, not %s on %s", r.ID[:8], r.Operation, r.Target, op, target)
		}
		return false, nil
	}
	if team == nil {
		return false, nil
	}
	if !team.Active() {
		return false, conflict("this needs the approval of team %s (%s), which is not active yet: %d of the %d members it needs have accepted (`bunker team show %s`)",
			team.Name, op.Describe(), team.ActiveCount(), max(team.Threshold, approval.MinThreshold), team.Name)
	}
	params, err := json.Marshal(g.params)
	if err != nil {
		return false, fmt.Errorf("pin the parameters of %s: %w", op, err)
	}
	id, err := approval.NewID()
	if err != nil {
		return false, err
	}
	now := s.cfg.Now().UTC()
	rec, err := approval.Open(approval.Request{ID: id, Operation: op, Scope: scope, Target: target, Params: params,
		Requester: c.id.name(), Team: team.Name, Created: now}, now, s.cfg.ApprovalTimeout)
	if err != nil {
		return false, badRequest("%v", err)
	}
	if err := tx.CreateApprovalRequest(c.ctx, rec); err != nil {
		return false, err
	}
	detail := map[string]any{"operation": op, "on": target, "team": team.Name, "request": json.RawMessage(rec.Canonical),
		"hash": rec.Hash, "deadline": rec.Deadline}
	if err := c.auditAs(tx, "approval.request", "approval/"+id, detail); err != nil {
		return false, err
	}
	if err := s.emit(c.ctx, tx, &c.box, "approval.requested", vaultOf(scope), requestFields(rec, []string{rec.Request.Requester})); err != nil {
		return false, err
	}
	g.pending, g.team = rec, team
	return true, nil
}

// vaultOf is the vault a scope names, or "" for the server.
func vaultOf(scope string) string {
	if scope == approval.ServerScope {
		return ""
	}
	return scope
}

// requestFields are the fields of an event about a request.
func requestFields(r *approval.Record, notify []string) map[string]any {
	return map[string]any{"request": r.Request.ID, "operation": r.Request.Operation, "scope": r.Request.Scope,
		"target": r.Request.Target, "requester": r.Request.Requester, "team": r.Request.Team, "state": r.State,
		"hash": r.Hash, "deadline": r.Deadline, "notify": notify}
}

// auditAs appends an entry of this request under another action and
// target than the route's, in tx.
func (c *call) auditAs(tx store.Tx, action, target string, detail map[string]any) error {
	e := c.entry(audit.OutcomeOK, detail)
	e.Action, e.Target = action, target
	return c.s.appendAudit(c.ctx, tx, e)
}

// asDetail turns a struct into an audit detail.
func asDetail(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// pending answers a call that became a request.
func (c *call) pending(g *gate) error {
	view := approvalView(g.pending, g.team)
	msg := fmt.Sprintf("nothing was done yet: %s needs the approval of %d members of team %s. Request %s pins it (hash %s); confirm it with `bunker approvals confirm %s`",
		g.pending.Request.Operation.Describe(), g.team.Threshold, g.team.Name, g.pending.Request.ID, g.pending.Hash[:16], g.pending.Request.ID[:12])
	return c.ok(http.StatusAccepted, api.Pending{Approval: view, Message: msg})
}

// approvalView shows a request with what its team makes of it now.
func approvalView(r *approval.Record, team *approval.Team) api.Approval {
	v := api.Approval{Record: *r}
	if v.Ballots == nil {
		v.Ballots = []approval.Ballot{}
	}
	if team != nil {
		v.Threshold = team.Threshold
		ok, _ := approval.Tally(r.Hash, r.Request.Requester, r.Ballots, team)
		v.Approvals = len(ok)
	}
	id := r.Request.ID
	switch r.State {
	case approval.AwaitingConfirmation:
		v.Next = fmt.Sprintf("%s confirms the request: `bunker approvals confirm %s`", r.Request.Requester, id)
	case approval.PendingApproval:
		v.Next = fmt.Sprintf("members of team %s approve or reject it: `bunker approvals approve %s` (%d of %d approvals)", r.Request.Team, id, v.Approvals, v.Threshold)
	case approval.Approved:
		v.Next = fmt.Sprintf("%s confirms once more to execute it: `bunker approvals confirm %s`", r.Request.Requester, id)
	default:
		v.Next = "nothing: the request is " + string(r.State)
	}
	return v
}

// findRequest resolves a request id, or a prefix of at least 8 of its hex
// digits.
func findRequest(c *call, tx store.Tx, ref string) (*approval.Record, error) {
	ref = strings.ToLower(ref)
	if len(ref) < 8 || len(ref) > 32 || strings.Trim(ref, "0123456789abcdef") != "" {
		return nil, badRequest("approval request %q: give at least 8 hex digits of its id", clip(ref))
	}
	rs, err := tx.ApprovalRequests(c.ctx, store.ApprovalFilter{Prefix: ref, Limit: 2})
	if err != nil {
		return nil, err
	}
	switch len(rs) {
	case 0:
		return nil, notFound("no approval request %s (see `bunker approvals list`)", ref)
	case 1:
		c.target = "approval/" + rs[0].Request.ID
		return &rs[0], nil
	}
	return nil, badRequest("approval request %s is ambiguous: give more digits", ref)
}

// approvalError maps a workflow refusal to its answer.
func approvalError(err error) error {
	switch {
	case errors.Is(err, approval.ErrSelfApproval), errors.Is(err, approval.ErrNotMember), errors.Is(err, approval.ErrNotRequester),
		errors.Is(err, approval.ErrSignature):
		return forbidden("%v", err)
	case errors.Is(err, approval.ErrHash):
		return conflict("%v: nothing was done", err)
	case errors.Is(err, approval.ErrExpired), errors.Is(err, approval.ErrState), errors.Is(err, approval.ErrVoted),
		errors.Is(err, approval.ErrThreshold), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists):
		return conflict("%v", err)
	}
	return err
}

// mayView reports whether the caller may see a request: its requester,
// members of its team (invited or active), security-admins and auditors.
func mayView(c *call, r *approval.Record, team *approval.Team) bool {
	if r.Request.Requester == c.id.name() || c.id.can(rbac.PrincipalAdmin, rbac.AllVaults) || c.id.can(rbac.AuditRead, rbac.AllVaults) {
		return true
	}
	if team == nil {
		return false
	}
	m := team.Member(c.id.name())
	return m != nil && m.State != approval.Removed
}

// expireRequests moves every waiting request past its deadline to
// expired, audited, and tells the notifier.
func (s *Server) expireRequests(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	var box outbox
	err := s.st.Update(ctx, func(tx store.Tx) error {
		for _, st := range []approval.State{approval.AwaitingConfirmation, approval.PendingApproval, approval.Approved} {
			rs, err := tx.ApprovalRequests(ctx, store.ApprovalFilter{State: st})
			if err != nil {
				return err
			}
			for i := range rs {
				r := &rs[i]
				if !r.Expire(now) {
					continue
				}
				if err := tx.UpdateApprovalRequest(ctx, r, st); err != nil {
					return err
				}
				d, _ := json.Marshal(map[string]any{"from": st, "note": r.Note})
				if err := s.appendAudit(ctx, tx, audit.Entry{Time: now, Action: "approval.expire", Target: "approval/" + r.Request.ID,
					Outcome: audit.OutcomeOK, Detail: d}); err != nil {
					return err
				}
				if err := s.emit(ctx, tx, &box, "approval.expired", vaultOf(r.Request.Scope), requestFields(r, []string{r.Request.Requester})); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		s.deliver(ctx, box)
	}
	return err
}

func (s *Server) handleApprovalList(c *call) error {
	if err := s.expireRequests(c.ctx); err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.ApprovalFilter{State: approval.State(q.Get("state")), Team: q.Get("team"), Requester: q.Get("requester"), Scope: q.Get("vault")}
	switch f.State {
	case "", approval.AwaitingConfirmation, approval.PendingApproval, approval.Approved, approval.Executed, approval.Rejected, approval.Expired, approval.Cancelled:
	default:
		return badRequest("state %q: want awaiting-confirmation, pending-approval, approved, executed, rejected, expired or cancelled", clip(string(f.State)))
	}
	out := []api.Approval{}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		rs, err := tx.ApprovalRequests(c.ctx, f)
		if err != nil {
			return err
		}
		teams := map[string]*approval.Team{}
		for i := range rs {
			name := rs[i].Request.Team
			if _, ok := teams[name]; !ok {
				if teams[name], err = tx.Team(c.ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			if mayView(c, &rs[i], teams[name]) {
				out = append(out, approvalView(&rs[i], teams[name]))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"approvals": out})
}

// requestAndTeam loads the request the path names and its team (nil when
// the team is gone).
func requestAndTeam(c *call, tx store.Tx) (*approval.Record, *approval.Team, error) {
	r, err := findRequest(c, tx, c.r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	team, err := requestTeam(c, tx, r)
	if err != nil {
		return nil, nil, err
	}
	return r, team, nil
}

// requestTeam reads a request's team, nil if it is gone.
func requestTeam(c *call, tx store.Tx, r *approval.Record) (*approval.Team, error) {
	t, err := tx.Team(c.ctx, r.Request.Team)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return t, err
}

func (s *Server) handleApprovalShow(c *call) error {
	if err := s.expireRequests(c.ctx); err != nil {
		return err
	}
	var view api.Approval
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		r, team, err := requestAndTeam(c, tx)
		if err != nil {
			return err
		}
		if !mayView(c, r, team) {
			return forbidden("%s may not see request %s: it is neither its requester nor a member of team %s", c.id.name(), r.Request.ID[:8], r.Request.Team)
		}
		view = approvalView(r, team)
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// handleApprovalConfirm is the requester's confirmation: of its intent,
// which sends the request to the team, or, once approved, the final one,
// which executes it.
func (s *Server) handleApprovalConfirm(c *call) error {
	var req api.ConfirmRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := approval.CheckHash(req.Hash); err != nil {
		return badRequest("hash: %v (`bunker approvals show ID` shows it)", err)
	}
	if err := s.expireRequests(c.ctx); err != nil {
		return err
	}
	var state approval.State
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		r, err := findRequest(c, tx, c.r.PathValue("id"))
		if err == nil {
			state = r.State
		}
		return err
	})
	if err != nil {
		return err
	}
	if state == approval.Approved {
		return s.execute(c, req.Hash)
	}
	var view api.Approval
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		r, team, err := requestAndTeam(c, tx)
		if err != nil {
			return err
		}
		from := r.State
		if err := r.Confirm(c.id.name(), req.Hash, s.cfg.Now().UTC(), s.cfg.ApprovalTimeout); err != nil {
			return approvalError(err)
		}
		if err := tx.UpdateApprovalRequest(c.ctx, r, from); err != nil {
			return approvalError(err)
		}
		if err := c.auditAs(tx, "approval.confirm", c.target, map[string]any{"hash": r.Hash, "state": r.State, "deadline": r.Deadline}); err != nil {
			return err
		}
		var notify []string
		if team != nil {
			for _, m := range team.Members {
				if m.State == approval.Active && m.Principal != r.Request.Requester {
					notify = append(notify, m.Principal)
				}
			}
		}
		if err := s.emit(c.ctx, tx, &c.box, "approval.pending", vaultOf(r.Request.Scope), requestFields(r, notify)); err != nil {
			return err
		}
		view = approvalView(r, team)
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// handleApprovalVote records a member's signed approval or rejection.
func (s *Server) handleApprovalVote(c *call, vote approval.Vote) error {
	if err := c.require(rbac.ApprovalVote, rbac.AllVaults); err != nil {
		return err
	}
	var req api.VoteRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if len(req.Reason) > 1000 {
		return badRequest("reason: at most 1000 characters")
	}
	if err := s.expireRequests(c.ctx); err != nil {
		return err
	}
	var view api.Approval
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		r, team, err := requestAndTeam(c, tx)
		if err != nil {
			return err
		}
		if team == nil {
			return conflict("team %s of request %s no longer exists", r.Request.Team, r.Request.ID[:8])
		}
		if err := r.Check(); err != nil {
			return approvalError(err)
		}
		from := r.State
		b := approval.Ballot{Member: c.id.name(), Vote: vote, KeyID: req.KeyID, Signature: req.Signature, Reason: audit.Clean(req.Reason)}
		if err := r.Vote(b, team, s.cfg.Now().UTC(), s.cfg.ApprovalTimeout); err != nil {
			return approvalError(err)
		}
		cast := r.Ballots[len(r.Ballots)-1]
		if err := tx.AddBallot(c.ctx, r.Request.ID, cast); err != nil {
			return approvalError(err)
		}
		if err := tx.UpdateApprovalRequest(c.ctx, r, from); err != nil {
			return approvalError(err)
		}
		view = approvalView(r, team)
		detail := map[string]any{"member": cast.Member, "vote": cast.Vote, "key_id": cast.KeyID, "signature": cast.Signature,
			"reason": cast.Reason, "hash": r.Hash, "state": r.State, "approvals": view.Approvals, "threshold": team.Threshold}
		if err := c.auditAs(tx, "approval."+string(vote), c.target, detail); err != nil {
			return err
		}
		kind, notify := "approval.vote", []string{r.Request.Requester}
		switch r.State {
		case approval.Approved:
			kind = "approval.approved"
		case approval.Rejected:
			kind = "approval.rejected"
		}
		return s.emit(c.ctx, tx, &c.box, kind, vaultOf(r.Request.Scope), requestFields(r, notify))
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// handleApprovalCancel withdraws a request.
func (s *Server) handleApprovalCancel(c *call) error {
	if err := s.expireRequests(c.ctx); err != nil {
		return err
	}
	var view api.Approval
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		r, team, err := requestAndTeam(c, tx)
		if err != nil {
			return err
		}
		from := r.State
		if err := r.Cancel(c.id.name(), s.cfg.Now().UTC()); err != nil {
			return approvalError(err)
		}
		if err := tx.UpdateApprovalRequest(c.ctx, r, from); err != nil {
			return approvalError(err)
		}
		if err := c.auditAs(tx, "approval.cancel", c.target, map[string]any{"from": from}); err != nil {
			return err
		}
		view = approvalView(r, team)
		return s.emit(c.ctx, tx, &c.box, "approval.cancelled", vaultOf(r.Request.Scope), requestFields(r, nil))
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// executor performs an approved request's operation in tx from its
// pinned parameters; it returns the operation's answer, and what to run
// once the transaction has committed (or nil).
type executor func(c *call, tx store.Tx, req approval.Request, g *gate) (result any, after func(), err error)

// decodeParams reads a request's pinned parameters strictly.
func decodeParams(req approval.Request, v any) error {
	dec := json.NewDecoder(bytes.NewReader(req.Params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return conflict("request %s: its parameters do not decode: %v", req.ID[:8], err)
	}
	return nil
}

// execute is the final confirmation of an approved request: in one
// transaction it checks the request again (its pinned form, the
// threshold of valid approvals by the team as it is now), records the
// execution, performs exactly the pinned operation and marks the request
// executed, so that it runs once.
func (s *Server) execute(c *call, hash string) error {
	var view api.Approval
	var after func()
	route := c.action
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		r, team, err := requestAndTeam(c, tx)
		if err != nil {
			return err
		}
		if team == nil {
			return conflict("team %s of request %s no longer exists", r.Request.Team, r.Request.ID[:8])
		}
		now := s.cfg.Now().UTC()
		approvals, err := r.Final(c.id.name(), hash, team, now)
		if err != nil {
			return approvalError(err)
		}
		action, ex := s.executor(r.Request.Operation)
		if ex == nil {
			return conflict("request %s is for %s, which nothing executes", r.Request.ID[:8], r.Request.Operation)
		}
		detail, err := asDetail(approval.Execution{Request: json.RawMessage(r.Canonical), Hash: r.Hash, Team: team.Name,
			Threshold: team.Threshold, Approvals: approvals})
		if err != nil {
			return err
		}
		target := c.target
		if err := c.auditAs(tx, approval.ActionExecute, target, detail); err != nil {
			return err
		}
		from := r.State
		r.Done(now)
		if err := tx.UpdateApprovalRequest(c.ctx, r, from); err != nil {
			return approvalError(err)
		}
		c.action, c.approving = action, r.Request.ID
		result, then, err := ex(c, tx, r.Request, &gate{approved: r})
		c.action, c.approving, c.target = route, "", target
		if err != nil {
			return err
		}
		after = then
		view = approvalView(r, team)
		if g, ok := result.(api.NewGrant); ok {
			view.Grant = &g
		} else {
			view.Result = result
		}
		return s.emit(c.ctx, tx, &c.box, "approval.executed", vaultOf(r.Request.Scope), requestFields(r, []string{r.Request.Requester}))
	})
	if err != nil {
		return err
	}
	if after != nil {
		after()
	}
	return c.ok(http.StatusOK, view)
}
