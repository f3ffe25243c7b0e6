package sqlstore

import (
	"context"
	"fmt"

	"github.com/bunkerhq/bunker/internal/store"
)

const planColumns = `name, vault, spec, created_at, created_by, updated_at, updated_by, schedule_since`

func (t *tx) PutPlan(ctx context.Context, p *store.Plan) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO plans (`+planColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET vault = excluded.vault, spec = excluded.spec, updated_at = excluded.updated_at,
		updated_by = excluded.updated_by, schedule_since = excluded.schedule_since`,
		p.Name, p.Vault, string(p.Spec), nanos(p.CreatedAt), p.CreatedBy, nanos(p.UpdatedAt), p.UpdatedBy, nanos(p.ScheduleSince))
	if err != nil {
		return fmt.Errorf("write plan %s: %w", p.Name, err)
	}
	return nil
}

// planRow is what scans one row of plans.
type planRow interface{ Scan(dest ...any) error }

func scanPlan(r planRow) (store.Plan, error) {
	var p store.Plan
	var spec string
	var created, updated, since int64
	if err := r.Scan(&p.Name, &p.Vault, &spec, &created, &p.CreatedBy, &updated, &p.UpdatedBy, &since); err != nil {
		return p, err
	}
	p.Spec = []byte(spec)
	p.CreatedAt, p.UpdatedAt, p.ScheduleSince = fromNanos(created), fromNanos(updated), fromNanos(since)
	return p, nil
}

func (t *tx) Plan(ctx context.Context, name string) (*store.Plan, error) {
	p, err := scanPlan(t.tx.QueryRowContext(ctx, `SELECT `+planColumns+` FROM plans WHERE name = ?`, name))
	if err := notFound(err, "plan "+name); err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *tx) Plans(ctx context.Context) ([]store.Plan, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+planColumns+` FROM plans ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	defer rows.Close()
	var out []store.Plan
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, fmt.Errorf("list plans: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t *tx) DeletePlan(ctx context.Context, name string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM plan_runs WHERE plan = ?`, name); err != nil {
		return fmt.Errorf("delete runs of plan %s: %w", name, err)
	}
	return t.execOne(ctx, "plan "+name, `DELETE FROM plans WHERE name = ?`, name)
}

func (t *tx) PlanRuns(ctx context.Context) (map[string]store.PlanRun, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT plan, last_slot, run_slot, run_started, host FROM plan_runs`)
	if err != nil {
		return nil, fmt.Errorf("read plan runs: %w", err)
	}
	defer rows.Close()
	out := map[string]store.PlanRun{}
	for rows.Next() {
		var r store.PlanRun
		var last, slot, started int64
		if err := rows.Scan(&r.Plan, &last, &slot, &started, &r.Host); err != nil {
			return nil, fmt.Errorf("read plan runs: %w", err)
		}
		r.LastSlot, r.RunSlot, r.RunStarted = fromNanos(last), fromNanos(slot), fromNanos(started)
		out[r.Plan] = r
	}
	return out, rows.Err()
}

func (t *tx) SetPlanRun(ctx context.Context, r *store.PlanRun) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO plan_runs (plan, last_slot, run_slot, run_started, host) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (plan) DO UPDATE SET last_slot = excluded.last_slot, run_slot = excluded.run_slot,
		run_started = excluded.run_started, host = excluded.host`,
		r.Plan, nanos(r.LastSlot), nanos(r.RunSlot), nanos(r.RunStarted), r.Host)
	if err != nil {
		return fmt.Errorf("record runs of plan %s: %w", r.Plan, err)
	}
	return nil
}
