package sqlstore

import (
	"context"
	"fmt"

	"github.com/bunkerhq/bunker/internal/store"
)

func (t *tx) CreateEventRule(ctx context.Context, r *store.EventRule) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO event_rules (name, spec, created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Name, string(r.Spec), nanos(r.CreatedAt), r.CreatedBy, nanos(r.UpdatedAt), r.UpdatedBy)
	if isUnique(err) {
		return fmt.Errorf("event rule %s: %w", r.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create event rule %s: %w", r.Name, err)
	}
	return nil
}

const eventRuleCols = `name, spec, created_at, created_by, updated_at, updated_by`

func scanEventRule(row scanner) (*store.EventRule, error) {
	var r store.EventRule
	var spec string
	var created, updated int64
	if err := row.Scan(&r.Name, &spec, &created, &r.CreatedBy, &updated, &r.UpdatedBy); err != nil {
		return nil, err
	}
	r.Spec, r.CreatedAt, r.UpdatedAt = []byte(spec), fromNanos(created), fromNanos(updated)
	return &r, nil
}

func (t *tx) EventRule(ctx context.Context, name string) (*store.EventRule, error) {
	r, err := scanEventRule(t.tx.QueryRowContext(ctx, `SELECT `+eventRuleCols+` FROM event_rules WHERE name = ?`, name))
	if err := notFound(err, "event rule "+name); err != nil {
		return nil, err
	}
	return r, nil
}

func (t *tx) EventRules(ctx context.Context) ([]store.EventRule, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+eventRuleCols+` FROM event_rules ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list event rules: %w", err)
	}
	defer rows.Close()
	var out []store.EventRule
	for rows.Next() {
		r, err := scanEventRule(rows)
		if err != nil {
			return nil, fmt.Errorf("list event rules: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

func (t *tx) UpdateEventRule(ctx context.Context, r *store.EventRule) error {
	return t.execOne(ctx, "event rule "+r.Name, `UPDATE event_rules SET spec = ?, updated_at = ?, updated_by = ? WHERE name = ?`,
		string(r.Spec), nanos(r.UpdatedAt), r.UpdatedBy, r.Name)
}

func (t *tx) DeleteEventRule(ctx context.Context, name string) error {
	return t.execOne(ctx, "event rule "+name, `DELETE FROM event_rules WHERE name = ?`, name)
}
