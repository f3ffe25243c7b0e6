package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/store"
)

// copyLookupBatch bounds the handles of one lookup query, below SQLite's
// limit on bound parameters.
const copyLookupBatch = 400

func (t *tx) LookupCopyPairs(ctx context.Context, scope string, hs []blob.Handle) (map[blob.Handle]blob.ID, error) {
	out := make(map[blob.Handle]blob.ID)
	for len(hs) > 0 {
		n := min(len(hs), copyLookupBatch)
		var q strings.Builder
		q.WriteString(`SELECT type, src, dst FROM copy_pairs WHERE scope = ? AND (type, src) IN (VALUES `)
		args := make([]any, 0, 1+2*n)
		args = append(args, scope)
		for i, h := range hs[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?)")
			args = append(args, int(h.Type), h.ID[:])
		}
		q.WriteString(")")
		rows, err := t.tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("look up copies in %s: %w", scope, err)
		}
		for rows.Next() {
			var typ int
			var src, dst []byte
			if err := rows.Scan(&typ, &src, &dst); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up copies in %s: %w", scope, err)
			}
			if len(src) != blob.IDSize || len(dst) != blob.IDSize {
				rows.Close()
				return nil, fmt.Errorf("look up copies in %s: a stored id is %d and %d bytes long", scope, len(src), len(dst))
			}
			var h blob.Handle
			h.Type = blob.Type(typ)
			copy(h.ID[:], src)
			var d blob.ID
			copy(d[:], dst)
			out[h] = d
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("look up copies in %s: %w", scope, err)
		}
		hs = hs[n:]
	}
	return out, nil
}

func (t *tx) RecordCopyPairs(ctx context.Context, scope string, ps []store.CopyPair) error {
	if len(ps) == 0 {
		return nil
	}
	st, err := t.tx.PrepareContext(ctx, `INSERT INTO copy_pairs (scope, type, src, dst) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, type, src) DO UPDATE SET dst = excluded.dst`)
	if err != nil {
		return fmt.Errorf("record copies in %s: %w", scope, err)
	}
	defer st.Close()
	for _, p := range ps {
		if _, err := st.ExecContext(ctx, scope, int(p.Src.Type), p.Src.ID[:], p.Dst[:]); err != nil {
			return fmt.Errorf("record copies in %s: %w", scope, err)
		}
	}
	return nil
}

func (t *tx) DeleteCopyPairs(ctx context.Context, scope string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM copy_pairs WHERE scope = ?`, scope); err != nil {
		return fmt.Errorf("forget copies in %s: %w", scope, err)
	}
	return nil
}

const remoteCols = `name, url, fingerprint, token_sealed, follow, created_at, created_by, updated_at, updated_by, webhook_sealed`

func (t *tx) PutRemote(ctx context.Context, r *store.Remote) error {
	fs := r.Follow
	if fs == nil {
		fs = []store.Follow{}
	}
	follow, err := jsonText(fs)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO remotes (`+remoteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET url = excluded.url, fingerprint = excluded.fingerprint, token_sealed = excluded.token_sealed,
		follow = excluded.follow, updated_at = excluded.updated_at, updated_by = excluded.updated_by, webhook_sealed = excluded.webhook_sealed`,
		r.Name, r.URL, r.Fingerprint, r.TokenSealed, follow, nanos(r.CreatedAt), r.CreatedBy, nanos(r.UpdatedAt), r.UpdatedBy, bytesOrEmpty(r.WebhookSealed))
	if err != nil {
		return fmt.Errorf("store remote %s: %w", r.Name, err)
	}
	return nil
}

func scanRemote(row scanner) (*store.Remote, error) {
	var r store.Remote
	var follow string
	var created, updated int64
	if err := row.Scan(&r.Name, &r.URL, &r.Fingerprint, &r.TokenSealed, &follow, &created, &r.CreatedBy, &updated, &r.UpdatedBy, &r.WebhookSealed); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(follow), &r.Follow); err != nil {
		return nil, fmt.Errorf("remote %s: %w", r.Name, err)
	}
	r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &r, nil
}

func (t *tx) Remote(ctx context.Context, name string) (*store.Remote, error) {
	r, err := scanRemote(t.tx.QueryRowContext(ctx, `SELECT `+remoteCols+` FROM remotes WHERE name = ?`, name))
	if err := notFound(err, "remote "+name); err != nil {
		return nil, err
	}
	return r, nil
}

func (t *tx) Remotes(ctx context.Context) ([]store.Remote, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+remoteCols+` FROM remotes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read remotes: %w", err)
	}
	defer rows.Close()
	var out []store.Remote
	for rows.Next() {
		r, err := scanRemote(rows)
		if err != nil {
			return nil, fmt.Errorf("read remotes: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

func (t *tx) DeleteRemote(ctx context.Context, name string) error {
	if err := t.clearPeerFailures(ctx, store.StreakPull, name); err != nil {
		return err
	}
	return t.execOne(ctx, "remote "+name, `DELETE FROM remotes WHERE name = ?`, name)
}

// bytesOrEmpty returns b, or an empty slice for nil, for NOT NULL blob
// columns.
func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const pushTargetCols = `name, url, fingerprint, token_sealed, vault, vaults, site, principal, created_at, created_by, updated_at, updated_by`

func (t *tx) PutPushTarget(ctx context.Context, p *store.PushTarget) error {
	vs := p.Vaults
	if vs == nil {
		vs = []string{}
	}
	vaults, err := jsonText(vs)
	if err != nil {
		return err
	}
	// What was pushed to another server or vault is not in this one.
	_, err = t.tx.ExecContext(ctx, `DELETE FROM pushes WHERE target = ? AND EXISTS
		(SELECT 1 FROM push_targets WHERE name = ? AND (url != ? OR vault != ?))`, p.Name, p.Name, p.URL, p.Vault)
	if err != nil {
		return fmt.Errorf("store push target %s: %w", p.Name, err)
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO push_targets (`+pushTargetCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET url = excluded.url, fingerprint = excluded.fingerprint, token_sealed = excluded.token_sealed,
		vault = excluded.vault, vaults = excluded.vaults, site = excluded.site, principal = excluded.principal,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		p.Name, p.URL, p.Fingerprint, p.TokenSealed, p.Vault, vaults, p.Site, p.Principal,
		nanos(p.CreatedAt), p.CreatedBy, nanos(p.UpdatedAt), p.UpdatedBy)
	if err != nil {
		return fmt.Errorf("store push target %s: %w", p.Name, err)
	}
	return nil
}

func scanPushTarget(row scanner) (*store.PushTarget, error) {
	var p store.PushTarget
	var vaults string
	var created, updated int64
	if err := row.Scan(&p.Name, &p.URL, &p.Fingerprint, &p.TokenSealed, &p.Vault, &vaults, &p.Site, &p.Principal,
		&created, &p.CreatedBy, &updated, &p.UpdatedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(vaults), &p.Vaults); err != nil {
		return nil, fmt.Errorf("push target %s: %w", p.Name, err)
	}
	p.CreatedAt, p.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &p, nil
}

func (t *tx) PushTarget(ctx context.Context, name string) (*store.PushTarget, error) {
	p, err := scanPushTarget(t.tx.QueryRowContext(ctx, `SELECT `+pushTargetCols+` FROM push_targets WHERE name = ?`, name))
	if err := notFound(err, "push target "+name); err != nil {
		return nil, err
	}
	return p, nil
}

func (t *tx) PushTargets(ctx context.Context) ([]store.PushTarget, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+pushTargetCols+` FROM push_targets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read push targets: %w", err)
	}
	defer rows.Close()
	var out []store.PushTarget
	for rows.Next() {
		p, err := scanPushTarget(rows)
		if err != nil {
			return nil, fmt.Errorf("read push targets: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (t *tx) DeletePushTarget(ctx context.Context, name string) error {
	if err := t.clearPeerFailures(ctx, store.StreakPush, name); err != nil {
		return err
	}
	return t.execOne(ctx, "push target "+name, `DELETE FROM push_targets WHERE name = ?`, name)
}

func (t *tx) RecordPush(ctx context.Context, p *store.Push) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO pushes (target, vault, point, to_point, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (target, vault, point) DO UPDATE SET to_point = excluded.to_point, at = excluded.at`,
		p.Target, p.Vault, p.Point, p.ToPoint, nanos(p.At))
	if err != nil {
		return fmt.Errorf("record the push of point %s to %s: %w", p.Point, p.Target, err)
	}
	return nil
}

func (t *tx) Pushed(ctx context.Context, target, vault, point string) (*store.Push, error) {
	p := store.Push{Target: target, Vault: vault, Point: point}
	var at int64
	err := t.tx.QueryRowContext(ctx, `SELECT to_point, at FROM pushes WHERE target = ? AND vault = ? AND point = ?`,
		target, vault, point).Scan(&p.ToPoint, &at)
	if err := notFound(err, "push of point "+point+" to "+target); err != nil {
		return nil, err
	}
	p.At = fromNanos(at)
	return &p, nil
}
