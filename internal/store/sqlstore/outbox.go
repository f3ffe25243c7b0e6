package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/bunkerhq/bunker/internal/store"
)

const deliveryCols = `seq, id, event_id, kind, rule, target, target_name, envelope, state, attempts, next_at,
	lease_owner, lease_until, last_error, created_at, done_at, replays`

func scanDelivery(row scanner) (*store.Delivery, error) {
	var d store.Delivery
	var target, envelope string
	var next, lease, created, done int64
	if err := row.Scan(&d.Seq, &d.ID, &d.EventID, &d.Kind, &d.Rule, &target, &d.TargetName, &envelope, &d.State, &d.Attempts, &next,
		&d.LeaseOwner, &lease, &d.LastError, &created, &done, &d.Replays); err != nil {
		return nil, err
	}
	d.Target, d.Envelope = []byte(target), []byte(envelope)
	d.NextAt, d.LeaseUntil, d.CreatedAt, d.DoneAt = fromNanos(next), fromNanos(lease), fromNanos(created), fromNanos(done)
	return &d, nil
}

func (t *tx) EnqueueDeliveries(ctx context.Context, ds []store.Delivery) error {
	for i := range ds {
		d := &ds[i]
		err := t.tx.QueryRowContext(ctx, `INSERT INTO deliveries (id, event_id, kind, rule, target, target_name, envelope, state, attempts, next_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
			ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING seq`,
			d.ID, d.EventID, d.Kind, d.Rule, string(d.Target), d.TargetName, string(d.Envelope), store.DeliveryPending,
			nanos(d.NextAt), nanos(d.CreatedAt)).Scan(&d.Seq)
		if err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", d.ID, err)
		}
		d.State = store.DeliveryPending
	}
	return nil
}

// ClaimDeliveries runs in the write transaction that SQLite's immediate
// locking makes exclusive, so no two claims take the same delivery. (On
// PostgreSQL the select takes FOR UPDATE SKIP LOCKED.)
func (t *tx) ClaimDeliveries(ctx context.Context, c store.Claim) ([]store.Delivery, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	now := nanos(c.Now)
	rows, err := t.tx.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries
		WHERE state = ? AND next_at <= ? AND lease_until <= ? ORDER BY seq LIMIT ?`, store.DeliveryPending, now, now, c.Limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	var out []store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		out = append(out, *d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	for i := range out {
		d := &out[i]
		d.Attempts++
		d.LeaseOwner, d.LeaseUntil = c.Owner, c.Until
		if err := t.execOne(ctx, "delivery "+d.ID, `UPDATE deliveries SET attempts = ?, lease_owner = ?, lease_until = ? WHERE id = ?`,
			d.Attempts, c.Owner, nanos(c.Until), d.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, done_at = ?, lease_until = 0, last_error = '' WHERE id = ? AND state != ?`,
		store.DeliveryDelivered, nanos(at), id, store.DeliveryDelivered)
	if err != nil {
		return fmt.Errorf("mark delivery %s delivered: %w", id, err)
	}
	return nil
}

func (t *tx) RescheduleDelivery(ctx context.Context, id string, attempt int, next time.Time, lastErr string) error {
	return t.execOne(ctx, fmt.Sprintf("attempt %d of delivery %s", attempt, id),
		`UPDATE deliveries SET next_at = ?, lease_until = 0, last_error = ? WHERE id = ? AND state = ? AND attempts = ?`,
		nanos(next), lastErr, id, store.DeliveryPending, attempt)
}

func (t *tx) DeadLetterDelivery(ctx context.Context, id string, attempt int, at time.Time, reason string) error {
	return t.execOne(ctx, fmt.Sprintf("attempt %d of delivery %s", attempt, id),
		`UPDATE deliveries SET state = ?, done_at = ?, lease_until = 0, last_error = ? WHERE id = ? AND state = ? AND attempts = ?`,
		store.DeliveryDead, nanos(at), reason, id, store.DeliveryPending, attempt)
}

func (t *tx) Delivery(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := scanDelivery(t.tx.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`, id))
	if err := notFound(err, "delivery "+id); err != nil {
		return nil, err
	}
	return d, nil
}

func (t *tx) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	q := `SELECT ` + deliveryCols + ` FROM deliveries WHERE 1 = 1`
	var args []any
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.Rule != "" {
		q += ` AND rule = ?`
		args = append(args, f.Rule)
	}
	if f.Before > 0 {
		q += ` AND seq < ?`
		args = append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := t.tx.QueryContext(ctx, q+` ORDER BY seq DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

func (t *tx) DeadLetters(ctx context.Context, after int64, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?`,
		store.DeliveryDead, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

const replaySet = `UPDATE deliveries SET state = ?, attempts = 0, next_at = ?, lease_owner = '', lease_until = 0, done_at = 0, replays = replays + 1`

func (t *tx) ReplayDeadLetter(ctx context.Context, id string, now time.Time) error {
	return t.execOne(ctx, "dead letter "+id, replaySet+` WHERE id = ? AND state = ?`,
		store.DeliveryPending, nanos(now), id, store.DeliveryDead)
}

func (t *tx) ReplayDeadLetters(ctx context.Context, now time.Time) (int, error) {
	res, err := t.tx.ExecContext(ctx, replaySet+` WHERE state = ?`, store.DeliveryPending, nanos(now), store.DeliveryDead)
	if err != nil {
		return 0, fmt.Errorf("replay dead letters: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("replay dead letters: %w", err)
	}
	return int(n), nil
}

func (t *tx) PurgeDeliveries(ctx context.Context, before time.Time) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM deliveries WHERE state = ? AND done_at < ?`, store.DeliveryDelivered, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purge deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge deliveries: %w", err)
	}
	return int(n), nil
}
