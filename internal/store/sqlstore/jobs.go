package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bunkerhq/bunker/internal/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func (t *tx) CreateJob(ctx context.Context, j *store.Job) error {
	detail, err := jsonText(j.Detail)
	if err != nil {
		return err
	}
	progress, err := jsonText(j.Progress)
	if err != nil {
		return err
	}
	err = t.tx.QueryRowContext(ctx, `INSERT INTO jobs (kind, vault, state, started, finished, by, detail, error, progress, bytes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		j.Kind, j.Vault, j.State, nanos(j.Started), nanos(j.Finished), j.By, detail, j.Error, progress, j.Bytes).Scan(&j.ID)
	if err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	return nil
}

func (t *tx) UpdateJob(ctx context.Context, j *store.Job) error {
	detail, err := jsonText(j.Detail)
	if err != nil {
		return err
	}
	progress, err := jsonText(j.Progress)
	if err != nil {
		return err
	}
	return t.execOne(ctx, fmt.Sprintf("job %d", j.ID), `UPDATE jobs SET state = ?, finished = ?, detail = ?, error = ?, progress = ?, bytes = ? WHERE id = ?`,
		j.State, nanos(j.Finished), detail, j.Error, progress, j.Bytes, j.ID)
}

func (t *tx) Jobs(ctx context.Context, limit int) ([]store.Job, error) {
	return t.QueryJobs(ctx, store.JobFilter{Limit: limit})
}

const jobColumns = `id, kind, vault, state, started, finished, by, detail, error, progress, bytes`

func (t *tx) QueryJobs(ctx context.Context, f store.JobFilter) ([]store.Job, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE 1 = 1`
	var args []any
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, string(f.State))
	}
	if f.Vault != "" {
		q += ` AND vault = ?`
		args = append(args, f.Vault)
	}
	if !f.Since.IsZero() {
		q += ` AND started >= ?`
		args = append(args, nanos(f.Since))
	}
	if !f.Before.IsZero() {
		q += ` AND started < ?`
		args = append(args, nanos(f.Before))
	}
	if f.After > 0 {
		q += ` AND id < ?`
		args = append(args, f.After)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []store.Job
	for rows.Next() {
		j, err := scanJob(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

func (t *tx) Job(ctx context.Context, id int64) (*store.Job, error) {
	j, err := scanJob(t.tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id).Scan)
	if err := notFound(err, fmt.Sprintf("job %d", id)); err != nil {
		return nil, err
	}
	return j, nil
}

// scanJob reads one row of jobColumns. A missing row's sql.ErrNoRows is
// returned unwrapped, for notFound.
func scanJob(scan func(...any) error) (*store.Job, error) {
	var j store.Job
	var started, finished int64
	var detail, progress string
	if err := scan(&j.ID, &j.Kind, &j.Vault, &j.State, &started, &finished, &j.By, &detail, &j.Error, &progress, &j.Bytes); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("read job: %w", err)
	}
	j.Started, j.Finished = fromNanos(started), fromNanos(finished)
	if err := json.Unmarshal([]byte(detail), &j.Detail); err != nil {
		return nil, fmt.Errorf("job %d: detail: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(progress), &j.Progress); err != nil {
		return nil, fmt.Errorf("job %d: progress: %w", j.ID, err)
	}
	return &j, nil
}

func (t *tx) ObjectRetentions(ctx context.Context, vault string) (map[string]store.ObjectRetention, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT object, until, mode, held FROM object_retention WHERE vault = ?`, vault)
	if err != nil {
		return nil, fmt.Errorf("read object retention: %w", err)
	}
	defer rows.Close()
	out := map[string]store.ObjectRetention{}
	for rows.Next() {
		var r store.ObjectRetention
		var until int64
		var held int
		if err := rows.Scan(&r.Object, &until, &r.Mode, &held); err != nil {
			return nil, fmt.Errorf("read object retention: %w", err)
		}
		r.Until, r.Held = fromNanos(until), held != 0
		out[r.Object] = r
	}
	return out, rows.Err()
}

func (t *tx) SetObjectRetention(ctx context.Context, vault string, r store.ObjectRetention) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO object_retention (vault, object, until, mode, held) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (vault, object) DO UPDATE SET until = excluded.until, mode = excluded.mode, held = excluded.held`,
		vault, r.Object, nanos(r.Until), r.Mode, boolInt(r.Held))
	if err != nil {
		return fmt.Errorf("write object retention of %s: %w", r.Object, err)
	}
	return nil
}

func (t *tx) DeleteObjectRetention(ctx context.Context, vault, object string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM object_retention WHERE vault = ? AND object = ?`, vault, object); err != nil {
		return fmt.Errorf("forget object retention of %s: %w", object, err)
	}
	return nil
}

func (t *tx) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := t.tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if err := notFound(err, "setting "+key); err != nil {
		return "", err
	}
	return v, nil
}

func (t *tx) SetSetting(ctx context.Context, key, value string) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}
