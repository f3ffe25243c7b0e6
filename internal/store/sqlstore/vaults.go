package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/store"
)

const vaultCols = `name, storage_id, backend, location, policy, created_at, created_by, scan, air_gapped`

func scanVault(row scanner) (*store.Vault, error) {
	var v store.Vault
	var policy string
	var created int64
	var scan, airGapped int
	if err := row.Scan(&v.Name, &v.StorageID, &v.Backend, &v.Location, &policy, &created, &v.CreatedBy, &scan, &airGapped); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(policy), &v.Policy); err != nil {
		return nil, fmt.Errorf("vault %s: policy: %w", v.Name, err)
	}
	v.CreatedAt, v.Scan, v.AirGapped = fromNanos(created), scan != 0, airGapped != 0
	return &v, nil
}

func (t *tx) CreateVault(ctx context.Context, v *store.Vault) error {
	policy, err := jsonText(v.Policy)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO vaults (`+vaultCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Name, v.StorageID, v.Backend, v.Location, policy, nanos(v.CreatedAt), v.CreatedBy, boolInt(v.Scan), boolInt(v.AirGapped))
	if isUnique(err) {
		return fmt.Errorf("vault %s: %w", v.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create vault %s: %w", v.Name, err)
	}
	return nil
}

func (t *tx) Vault(ctx context.Context, name string) (*store.Vault, error) {
	v, err := scanVault(t.tx.QueryRowContext(ctx, `SELECT `+vaultCols+` FROM vaults WHERE name = ?`, name))
	if err := notFound(err, "vault "+name); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *tx) Vaults(ctx context.Context) ([]store.Vault, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+vaultCols+` FROM vaults ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list vaults: %w", err)
	}
	defer rows.Close()
	var out []store.Vault
	for rows.Next() {
		v, err := scanVault(rows)
		if err != nil {
			return nil, fmt.Errorf("list vaults: %w", err)
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

func (t *tx) UpdateVault(ctx context.Context, v *store.Vault) error {
	policy, err := jsonText(v.Policy)
	if err != nil {
		return err
	}
	return t.execOne(ctx, "vault "+v.Name, `UPDATE vaults SET policy = ?, scan = ? WHERE name = ?`, policy, boolInt(v.Scan), v.Name)
}

func (t *tx) DeleteVault(ctx context.Context, name string) error {
	for _, q := range []string{`DELETE FROM holds WHERE vault = ?`, `DELETE FROM approval_settings WHERE scope = ?`} {
		if _, err := t.tx.ExecContext(ctx, q, name); err != nil {
			return fmt.Errorf("delete vault %s: %w", name, err)
		}
	}
	return t.execOne(ctx, "vault "+name, `DELETE FROM vaults WHERE name = ?`, name)
}

const pointCols = `vault, id, time, hostname, username, paths, tags, tree, parent, summary, client_time, created_by,
	expires, state, binned_at, purge_after, binned_by, bin_reason, key_id, signature, origin`

func scanPoint(row scanner) (*store.Point, error) {
	var p store.Point
	var paths, tags, summary, origin string
	var tm, client, expires, binned, purge int64
	if err := row.Scan(&p.Vault, &p.ID, &tm, &p.Hostname, &p.Username, &paths, &tags, &p.Tree, &p.Parent, &summary, &client,
		&p.CreatedBy, &expires, &p.State, &binned, &purge, &p.BinnedBy, &p.BinReason, &p.KeyID, &p.Signature, &origin); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		src string
		dst any
	}{{paths, &p.Paths}, {tags, &p.Tags}, {summary, &p.Summary}, {origin, &p.Origin}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("point %s: %w", p.ID, err)
		}
	}
	p.Time, p.ClientTime, p.Expires = fromNanos(tm), fromNanos(client), fromNanos(expires)
	p.BinnedAt, p.PurgeAfter = fromNanos(binned), fromNanos(purge)
	return &p, nil
}

func (t *tx) CreatePoint(ctx context.Context, p *store.Point) error {
	paths, err := jsonText(nonNil(p.Paths))
	if err != nil {
		return err
	}
	tags, err := jsonText(nonNil(p.Tags))
	if err != nil {
		return err
	}
	summary, err := jsonText(p.Summary)
	if err != nil {
		return err
	}
	origin, err := jsonText(p.Origin)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO points (`+pointCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Vault, p.ID, nanos(p.Time), p.Hostname, p.Username, paths, tags, p.Tree, p.Parent, summary, nanos(p.ClientTime), p.CreatedBy,
		nanos(p.Expires), p.State, nanos(p.BinnedAt), nanos(p.PurgeAfter), p.BinnedBy, p.BinReason, p.KeyID, p.Signature, origin)
	if isUnique(err) {
		return fmt.Errorf("point %s in vault %s: %w", p.ID, p.Vault, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create point %s: %w", p.ID, err)
	}
	return nil
}

func (t *tx) Point(ctx context.Context, vault, id string) (*store.Point, error) {
	p, err := scanPoint(t.tx.QueryRowContext(ctx, `SELECT `+pointCols+` FROM points WHERE vault = ? AND id = ?`, vault, id))
	if err := notFound(err, "point "+id+" in vault "+vault); err != nil {
		return nil, err
	}
	return p, nil
}

func (t *tx) Points(ctx context.Context, f store.PointFilter) ([]store.Point, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Vault != "" {
		add("vault = ?", f.Vault)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.Hostname != "" {
		add("hostname = ?", f.Hostname)
	}
	if !f.Since.IsZero() {
		add("time >= ?", nanos(f.Since))
	}
	if f.CopyOf != "" {
		add("json_extract(origin, '$.point') = ?", f.CopyOf)
	}
	if f.Prefix != "" {
		add("substr(id, 1, ?) = ?", len(f.Prefix))
		args = append(args, strings.ToLower(f.Prefix))
	}
	q := `SELECT ` + pointCols + ` FROM points`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	order := ` ORDER BY time, id`
	if f.CopyOf != "" {
		// The copies of a point are few: sorting them is cheaper than
		// reading a vault's points in time order to find them.
		order = ` ORDER BY +time, id`
	}
	rows, err := t.tx.QueryContext(ctx, q+order, args...)
	if err != nil {
		return nil, fmt.Errorf("list points: %w", err)
	}
	defer rows.Close()
	var out []store.Point
	for rows.Next() {
		p, err := scanPoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list points: %w", err)
		}
		if f.Tag != "" && !contains(p.Tags, f.Tag) {
			continue
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (t *tx) CountPoints(ctx context.Context, vault string) (map[store.PointState]int, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT state, COUNT(*) FROM points WHERE vault = ? GROUP BY state`, vault)
	if err != nil {
		return nil, fmt.Errorf("count points: %w", err)
	}
	defer rows.Close()
	out := map[store.PointState]int{}
	for rows.Next() {
		var st store.PointState
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count points: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// UpdatePoint writes the fields that change in a point's life: expiry and
// bin state. Everything else is fixed when the point is made.
func (t *tx) UpdatePoint(ctx context.Context, p *store.Point) error {
	return t.execOne(ctx, "point "+p.ID, `UPDATE points SET expires = ?, state = ?, binned_at = ?, purge_after = ?, binned_by = ?, bin_reason = ?
		WHERE vault = ? AND id = ?`,
		nanos(p.Expires), p.State, nanos(p.BinnedAt), nanos(p.PurgeAfter), p.BinnedBy, p.BinReason, p.Vault, p.ID)
}

func (t *tx) DeletePoint(ctx context.Context, vault, id string) error {
	if err := t.execOne(ctx, "point "+id, `DELETE FROM points WHERE vault = ? AND id = ?`, vault, id); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM point_verifications WHERE vault = ? AND point = ?`, vault, id); err != nil {
		return fmt.Errorf("forget verifications of point %s: %w", id, err)
	}
	return nil
}

const holdCols = `id, vault, point, tag, range_from, range_to, reason, created_at, created_by, released_at, released_by`

func scanHold(row scanner) (*store.Hold, error) {
	var h store.Hold
	var from, to, created, released int64
	if err := row.Scan(&h.ID, &h.Vault, &h.Point, &h.Tag, &from, &to, &h.Reason, &created, &h.CreatedBy, &released, &h.ReleasedBy); err != nil {
		return nil, err
	}
	h.From, h.To, h.CreatedAt, h.ReleasedAt = fromNanos(from), fromNanos(to), fromNanos(created), fromNanos(released)
	return &h, nil
}

func (t *tx) CreateHold(ctx context.Context, h *store.Hold) error {
	err := t.tx.QueryRowContext(ctx, `INSERT INTO holds (vault, point, tag, range_from, range_to, reason, created_at, created_by, released_at, released_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		h.Vault, h.Point, h.Tag, nanos(h.From), nanos(h.To), h.Reason, nanos(h.CreatedAt), h.CreatedBy, nanos(h.ReleasedAt), h.ReleasedBy).Scan(&h.ID)
	if err != nil {
		return fmt.Errorf("create hold: %w", err)
	}
	return nil
}

func (t *tx) Hold(ctx context.Context, vault string, id int64) (*store.Hold, error) {
	h, err := scanHold(t.tx.QueryRowContext(ctx, `SELECT `+holdCols+` FROM holds WHERE vault = ? AND id = ?`, vault, id))
	if err := notFound(err, fmt.Sprintf("hold %d in vault %s", id, vault)); err != nil {
		return nil, err
	}
	return h, nil
}

func (t *tx) Holds(ctx context.Context, vault string, released bool) ([]store.Hold, error) {
	q := `SELECT ` + holdCols + ` FROM holds WHERE vault = ?`
	if !released {
		q += ` AND released_at = 0`
	}
	rows, err := t.tx.QueryContext(ctx, q+` ORDER BY id`, vault)
	if err != nil {
		return nil, fmt.Errorf("list holds: %w", err)
	}
	defer rows.Close()
	var out []store.Hold
	for rows.Next() {
		h, err := scanHold(rows)
		if err != nil {
			return nil, fmt.Errorf("list holds: %w", err)
		}
		out = append(out, *h)
	}
	return out, rows.Err()
}

func (t *tx) UpdateHold(ctx context.Context, h *store.Hold) error {
	return t.execOne(ctx, fmt.Sprintf("hold %d", h.ID), `UPDATE holds SET released_at = ?, released_by = ? WHERE id = ? AND vault = ?`,
		nanos(h.ReleasedAt), h.ReleasedBy, h.ID, h.Vault)
}
