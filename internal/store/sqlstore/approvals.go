package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/store"
)

func (t *tx) CreateTeam(ctx context.Context, tm *approval.Team) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO teams (name, threshold, reject, created_at, created_by) VALUES (?, ?, ?, ?, ?)`,
		tm.Name, tm.Threshold, tm.Reject, nanos(tm.CreatedAt), tm.CreatedBy)
	if isUnique(err) {
		return fmt.Errorf("team %s: %w", tm.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create team %s: %w", tm.Name, err)
	}
	return t.writeMembers(ctx, tm)
}

func (t *tx) writeMembers(ctx context.Context, tm *approval.Team) error {
	for _, m := range tm.Members {
		_, err := t.tx.ExecContext(ctx, `INSERT INTO team_members (team, principal, state, public_key, key_id, invited_at, invited_by, accepted_at, removed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (team, principal) DO UPDATE SET state = excluded.state, public_key = excluded.public_key, key_id = excluded.key_id,
				invited_at = excluded.invited_at, invited_by = excluded.invited_by, accepted_at = excluded.accepted_at, removed_at = excluded.removed_at`,
			tm.Name, m.Principal, m.State, m.PublicKey, m.KeyID, nanos(m.InvitedAt), m.InvitedBy, nanos(m.AcceptedAt), nanos(m.RemovedAt))
		if err != nil {
			return fmt.Errorf("write member %s of team %s: %w", m.Principal, tm.Name, err)
		}
	}
	return nil
}

func (t *tx) UpdateTeam(ctx context.Context, tm *approval.Team) error {
	if err := t.execOne(ctx, "team "+tm.Name, `UPDATE teams SET threshold = ?, reject = ? WHERE name = ?`, tm.Threshold, tm.Reject, tm.Name); err != nil {
		return err
	}
	return t.writeMembers(ctx, tm)
}

func scanTeam(row scanner) (*approval.Team, error) {
	var tm approval.Team
	var created int64
	if err := row.Scan(&tm.Name, &tm.Threshold, &tm.Reject, &created, &tm.CreatedBy); err != nil {
		return nil, err
	}
	tm.CreatedAt = fromNanos(created)
	return &tm, nil
}

func (t *tx) members(ctx context.Context, team string) ([]approval.Member, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT principal, state, public_key, key_id, invited_at, invited_by, accepted_at, removed_at
		FROM team_members WHERE team = ? ORDER BY invited_at, principal`, team)
	if err != nil {
		return nil, fmt.Errorf("read members of team %s: %w", team, err)
	}
	defer rows.Close()
	out := []approval.Member{}
	for rows.Next() {
		var m approval.Member
		var invited, accepted, removed int64
		if err := rows.Scan(&m.Principal, &m.State, &m.PublicKey, &m.KeyID, &invited, &m.InvitedBy, &accepted, &removed); err != nil {
			return nil, fmt.Errorf("read members of team %s: %w", team, err)
		}
		m.InvitedAt, m.AcceptedAt, m.RemovedAt = fromNanos(invited), fromNanos(accepted), fromNanos(removed)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) Team(ctx context.Context, name string) (*approval.Team, error) {
	tm, err := scanTeam(t.tx.QueryRowContext(ctx, `SELECT name, threshold, reject, created_at, created_by FROM teams WHERE name = ?`, name))
	if err := notFound(err, "team "+name); err != nil {
		return nil, err
	}
	if tm.Members, err = t.members(ctx, name); err != nil {
		return nil, err
	}
	return tm, nil
}

func (t *tx) Teams(ctx context.Context) ([]approval.Team, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT name, threshold, reject, created_at, created_by FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	var out []approval.Team
	for rows.Next() {
		tm, err := scanTeam(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list teams: %w", err)
		}
		out = append(out, *tm)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	for i := range out {
		if out[i].Members, err = t.members(ctx, out[i].Name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) ApprovalSettings(ctx context.Context, scope string) (*store.ApprovalSettings, error) {
	var a store.ApprovalSettings
	var unguarded string
	var at int64
	err := t.tx.QueryRowContext(ctx, `SELECT scope, team, unguarded, set_at, set_by FROM approval_settings WHERE scope = ?`, scope).
		Scan(&a.Scope, &a.Team, &unguarded, &at, &a.SetBy)
	if err := notFound(err, "approval settings of "+scope); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(unguarded), &a.Unguarded); err != nil {
		return nil, fmt.Errorf("approval settings of %s: %w", scope, err)
	}
	a.SetAt = fromNanos(at)
	return &a, nil
}

func (t *tx) SetApprovalSettings(ctx context.Context, a *store.ApprovalSettings) error {
	unguarded, err := jsonText(nonNilOps(a.Unguarded))
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO approval_settings (scope, team, unguarded, set_at, set_by) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET team = excluded.team, unguarded = excluded.unguarded, set_at = excluded.set_at, set_by = excluded.set_by`,
		a.Scope, a.Team, unguarded, nanos(a.SetAt), a.SetBy)
	if err != nil {
		return fmt.Errorf("write approval settings of %s: %w", a.Scope, err)
	}
	return nil
}

func nonNilOps(ops []approval.Operation) []approval.Operation {
	if ops == nil {
		return []approval.Operation{}
	}
	return ops
}

func (t *tx) DeleteApprovalSettings(ctx context.Context, scope string) error {
	return t.execOne(ctx, "approval settings of "+scope, `DELETE FROM approval_settings WHERE scope = ?`, scope)
}

const requestCols = `id, canonical, hash, state, deadline, confirmed_at, approved_at, finished_at, note`

func (t *tx) CreateApprovalRequest(ctx context.Context, r *approval.Record) error {
	q := r.Request
	_, err := t.tx.ExecContext(ctx, `INSERT INTO approval_requests (id, operation, scope, target, team, requester, canonical, hash, state,
		created_at, deadline, confirmed_at, approved_at, finished_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.ID, q.Operation, q.Scope, q.Target, q.Team, q.Requester, r.Canonical, r.Hash, r.State,
		nanos(q.Created), nanos(r.Deadline), nanos(r.ConfirmedAt), nanos(r.ApprovedAt), nanos(r.FinishedAt), r.Note)
	if isUnique(err) {
		return fmt.Errorf("approval request %s: %w", q.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create approval request %s: %w", q.ID, err)
	}
	for _, b := range r.Ballots {
		if err := t.AddBallot(ctx, q.ID, b); err != nil {
			return err
		}
	}
	return nil
}

func scanRequest(row scanner) (*approval.Record, error) {
	var r approval.Record
	var deadline, confirmed, approved, finished int64
	if err := row.Scan(&r.Request.ID, &r.Canonical, &r.Hash, &r.State, &deadline, &confirmed, &approved, &finished, &r.Note); err != nil {
		return nil, err
	}
	id := r.Request.ID
	// What the canonical form says, unchecked: a changed form is caught by
	// Record.Check before anything is done with it.
	if err := json.Unmarshal([]byte(r.Canonical), &r.Request); err != nil {
		r.Request = approval.Request{}
	}
	r.Request.ID = id
	r.Deadline, r.ConfirmedAt, r.ApprovedAt, r.FinishedAt = fromNanos(deadline), fromNanos(confirmed), fromNanos(approved), fromNanos(finished)
	r.Ballots = []approval.Ballot{}
	return &r, nil
}

func (t *tx) ballots(ctx context.Context, r *approval.Record) error {
	rows, err := t.tx.QueryContext(ctx, `SELECT member, vote, key_id, signature, reason, at FROM approval_votes WHERE request = ? ORDER BY at, member`, r.Request.ID)
	if err != nil {
		return fmt.Errorf("read votes on request %s: %w", r.Request.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var b approval.Ballot
		var at int64
		if err := rows.Scan(&b.Member, &b.Vote, &b.KeyID, &b.Signature, &b.Reason, &at); err != nil {
			return fmt.Errorf("read votes on request %s: %w", r.Request.ID, err)
		}
		b.At = fromNanos(at)
		r.Ballots = append(r.Ballots, b)
	}
	return rows.Err()
}

func (t *tx) ApprovalRequest(ctx context.Context, id string) (*approval.Record, error) {
	r, err := scanRequest(t.tx.QueryRowContext(ctx, `SELECT `+requestCols+` FROM approval_requests WHERE id = ?`, id))
	if err := notFound(err, "approval request "+id); err != nil {
		return nil, err
	}
	return r, t.ballots(ctx, r)
}

func (t *tx) ApprovalRequests(ctx context.Context, f store.ApprovalFilter) ([]approval.Record, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"state", string(f.State)}, {"requester", f.Requester}, {"team", f.Team}, {"scope", f.Scope}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.Prefix != "" {
		where = append(where, "substr(id, 1, ?) = ?")
		args = append(args, len(f.Prefix), strings.ToLower(f.Prefix))
	}
	q := `SELECT ` + requestCols + ` FROM approval_requests`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	rows, err := t.tx.QueryContext(ctx, q+` ORDER BY created_at DESC, id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list approval requests: %w", err)
	}
	var out []approval.Record
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list approval requests: %w", err)
		}
		out = append(out, *r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list approval requests: %w", err)
	}
	for i := range out {
		if err := t.ballots(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) UpdateApprovalRequest(ctx context.Context, r *approval.Record, from approval.State) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE approval_requests SET state = ?, deadline = ?, confirmed_at = ?, approved_at = ?, finished_at = ?, note = ?
		WHERE id = ? AND state = ?`,
		r.State, nanos(r.Deadline), nanos(r.ConfirmedAt), nanos(r.ApprovedAt), nanos(r.FinishedAt), r.Note, r.Request.ID, from)
	if err != nil {
		return fmt.Errorf("write approval request %s: %w", r.Request.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("write approval request %s: %w", r.Request.ID, err)
	} else if n == 0 {
		return fmt.Errorf("approval request %s is no longer %s: %w", r.Request.ID, from, store.ErrConflict)
	}
	return nil
}

func (t *tx) AddBallot(ctx context.Context, request string, b approval.Ballot) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO approval_votes (request, member, vote, key_id, signature, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		request, b.Member, b.Vote, b.KeyID, b.Signature, b.Reason, nanos(b.At))
	if isUnique(err) {
		return fmt.Errorf("vote of %s on request %s: %w", b.Member, request, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("record vote of %s on request %s: %w", b.Member, request, err)
	}
	return nil
}

const grantCols = `id, request, vault, point, principal, created_at, expires_at, used_at, revoked_at, revoked_by`

func scanGrant(row scanner) (*store.Grant, error) {
	var g store.Grant
	var created, expires, used, revoked int64
	if err := row.Scan(&g.ID, &g.Request, &g.Vault, &g.Point, &g.Principal, &created, &expires, &used, &revoked, &g.RevokedBy); err != nil {
		return nil, err
	}
	g.CreatedAt, g.ExpiresAt, g.UsedAt, g.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(used), fromNanos(revoked)
	return &g, nil
}

func (t *tx) CreateGrant(ctx context.Context, g *store.Grant) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.Request, g.Vault, g.Point, g.Principal, nanos(g.CreatedAt), nanos(g.ExpiresAt), nanos(g.UsedAt), nanos(g.RevokedAt), g.RevokedBy)
	if isUnique(err) {
		return fmt.Errorf("grant of request %s: %w", g.Request, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create grant %s: %w", g.ID, err)
	}
	return nil
}

func (t *tx) Grant(ctx context.Context, id string) (*store.Grant, error) {
	g, err := scanGrant(t.tx.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if err := notFound(err, "grant "+id); err != nil {
		return nil, err
	}
	return g, nil
}

func (t *tx) Grants(ctx context.Context, principal string) ([]store.Grant, error) {
	q, args := `SELECT `+grantCols+` FROM grants`, []any{}
	if principal != "" {
		q, args = q+` WHERE principal = ?`, append(args, principal)
	}
	rows, err := t.tx.QueryContext(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

func (t *tx) UpdateGrant(ctx context.Context, g *store.Grant) error {
	return t.execOne(ctx, "grant "+g.ID, `UPDATE grants SET used_at = ?, revoked_at = ?, revoked_by = ? WHERE id = ?`,
		nanos(g.UsedAt), nanos(g.RevokedAt), g.RevokedBy, g.ID)
}
