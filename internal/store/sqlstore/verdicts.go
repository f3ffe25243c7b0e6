package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bunkerhq/bunker/internal/store"
)

func (t *tx) RecordPointVerdict(ctx context.Context, v *store.PointVerdict) error {
	ev := v.Evidence
	if len(ev) > store.MaxStoredEvidence {
		ev = ev[:store.MaxStoredEvidence]
	}
	if ev == nil {
		ev = []store.ScanEvidence{}
	}
	evidence, err := jsonText(ev)
	if err != nil {
		return err
	}
	stats, err := jsonText(v.Stats)
	if err != nil {
		return err
	}
	total := max(v.EvidenceTotal, len(v.Evidence))
	_, err = t.tx.ExecContext(ctx, `INSERT INTO point_verdicts (vault, point, job, scanned_at, level, score, previous, evidence, evidence_total, stats)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Vault, v.Point, v.Job, nanos(v.ScannedAt), v.Level, v.Score, v.Previous, evidence, total, stats)
	if err != nil {
		return fmt.Errorf("record verdict on point %s: %w", v.Point, err)
	}
	return nil
}

const pointVerdictCols = `vault, point, job, scanned_at, level, score, previous, evidence, evidence_total, stats`

func scanPointVerdict(row scanner, withEvidence bool) (*store.PointVerdict, error) {
	var v store.PointVerdict
	var at int64
	var evidence, stats string
	if err := row.Scan(&v.Vault, &v.Point, &v.Job, &at, &v.Level, &v.Score, &v.Previous, &evidence, &v.EvidenceTotal, &stats); err != nil {
		return nil, err
	}
	v.ScannedAt = fromNanos(at)
	if withEvidence {
		if err := json.Unmarshal([]byte(evidence), &v.Evidence); err != nil {
			return nil, fmt.Errorf("verdict on point %s: evidence: %w", v.Point, err)
		}
		if len(v.Evidence) == 0 {
			v.Evidence = nil
		}
	}
	if err := json.Unmarshal([]byte(stats), &v.Stats); err != nil {
		return nil, fmt.Errorf("verdict on point %s: stats: %w", v.Point, err)
	}
	return &v, nil
}

func (t *tx) PointVerdict(ctx context.Context, vault, point string) (*store.PointVerdict, error) {
	row := t.tx.QueryRowContext(ctx, `SELECT `+pointVerdictCols+` FROM point_verdicts
		WHERE vault = ? AND point = ? ORDER BY id DESC LIMIT 1`, vault, point)
	v, err := scanPointVerdict(row, true)
	if err := notFound(err, "verdict on point "+point); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *tx) PointVerdicts(ctx context.Context, vault string) (map[string]store.PointVerdict, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+pointVerdictCols+` FROM point_verdicts
		WHERE id IN (SELECT MAX(id) FROM point_verdicts WHERE vault = ? GROUP BY point)`, vault)
	if err != nil {
		return nil, fmt.Errorf("read point verdicts: %w", err)
	}
	defer rows.Close()
	out := map[string]store.PointVerdict{}
	for rows.Next() {
		v, err := scanPointVerdict(rows, false)
		if err != nil {
			return nil, fmt.Errorf("read point verdicts: %w", err)
		}
		out[v.Point] = *v
	}
	return out, rows.Err()
}

func (t *tx) AppendEvent(ctx context.Context, e *store.Event) error {
	d := e.Data
	if d == nil {
		d = map[string]any{}
	}
	data, err := jsonText(d)
	if err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO events (time, kind, vault, point, data, uid, source, subject, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nanos(e.Time), e.Kind, e.Vault, e.Point, data, e.UID, e.Source, e.Subject, e.Actor)
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, err)
	}
	return nil
}

func (t *tx) Events(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, time, kind, vault, point, data, uid, source, subject, actor FROM events WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var at int64
		var data string
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Vault, &e.Point, &data, &e.UID, &e.Source, &e.Subject, &e.Actor); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.Time = fromNanos(at)
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return nil, fmt.Errorf("event %d: data: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
