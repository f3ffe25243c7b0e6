package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/store"
)

const auditCols = `seq, time, actor, action, target, outcome, remote, detail, prev, hash`

func scanEntry(row scanner) (*audit.Entry, error) {
	var e audit.Entry
	var tm int64
	var detail string
	if err := row.Scan(&e.Seq, &tm, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.Remote, &detail, &e.Prev, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = fromNanos(tm)
	if detail != "" {
		e.Detail = json.RawMessage(detail)
	}
	return &e, nil
}

func (t *tx) LastAudit(ctx context.Context) (*audit.Entry, error) {
	e, err := scanEntry(t.tx.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audit ORDER BY seq DESC LIMIT 1`))
	if err := notFound(err, "audit entry"); err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return e, nil
}

func (t *tx) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	last, err := t.LastAudit(ctx)
	if err != nil {
		return e, err
	}
	e, err = audit.Next(last, e)
	if err != nil {
		return e, fmt.Errorf("audit entry: %w", err)
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, nanos(e.Time), e.Actor, e.Action, e.Target, e.Outcome, e.Remote, string(e.Detail), e.Prev, e.Hash)
	if err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

func (t *tx) AuditEntries(ctx context.Context, afterSeq uint64, limit int) ([]audit.Entry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT `+auditCols+` FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

func (t *tx) AddCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (?, ?, ?, ?, ?)`,
		c.Seq, c.Hash, nanos(c.Time), c.KeyID, c.Signature)
	if isUnique(err) {
		return fmt.Errorf("audit checkpoint %d: %w", c.Seq, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add audit checkpoint: %w", err)
	}
	return nil
}

func scanCheckpoint(row scanner) (*audit.Checkpoint, error) {
	var c audit.Checkpoint
	var tm int64
	if err := row.Scan(&c.Seq, &c.Hash, &tm, &c.KeyID, &c.Signature); err != nil {
		return nil, err
	}
	c.Time = fromNanos(tm)
	return &c, nil
}

func (t *tx) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT seq, hash, time, key_id, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("read audit checkpoints: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

func (t *tx) LastCheckpoint(ctx context.Context) (*audit.Checkpoint, error) {
	c, err := scanCheckpoint(t.tx.QueryRowContext(ctx, `SELECT seq, hash, time, key_id, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`))
	if err := notFound(err, "audit checkpoint"); err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return c, nil
}
