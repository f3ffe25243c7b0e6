package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bunkerhq/bunker/internal/store"
)

func (t *tx) PackVerifications(ctx context.Context, vault string) (map[string]store.PackVerification, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT pack, verified_at, ok FROM pack_verifications WHERE vault = ?`, vault)
	if err != nil {
		return nil, fmt.Errorf("read pack verifications: %w", err)
	}
	defer rows.Close()
	out := map[string]store.PackVerification{}
	for rows.Next() {
		var v store.PackVerification
		var at int64
		var ok int
		if err := rows.Scan(&v.Pack, &at, &ok); err != nil {
			return nil, fmt.Errorf("read pack verifications: %w", err)
		}
		v.VerifiedAt, v.OK = fromNanos(at), ok != 0
		out[v.Pack] = v
	}
	return out, rows.Err()
}

func (t *tx) RecordPackVerifications(ctx context.Context, vault string, vs []store.PackVerification) error {
	for _, v := range vs {
		_, err := t.tx.ExecContext(ctx, `INSERT INTO pack_verifications (vault, pack, verified_at, ok) VALUES (?, ?, ?, ?)
			ON CONFLICT (vault, pack) DO UPDATE SET verified_at = excluded.verified_at, ok = excluded.ok`,
			vault, v.Pack, nanos(v.VerifiedAt), boolInt(v.OK))
		if err != nil {
			return fmt.Errorf("record verification of pack %s: %w", v.Pack, err)
		}
	}
	return nil
}

func (t *tx) ForgetPackVerifications(ctx context.Context, vault string, packs []string) error {
	for _, p := range packs {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM pack_verifications WHERE vault = ? AND pack = ?`, vault, p); err != nil {
			return fmt.Errorf("forget verification of pack %s: %w", p, err)
		}
	}
	return nil
}

func (t *tx) RecordPointVerification(ctx context.Context, v *store.PointVerification) error {
	ps := v.Problems
	if ps == nil {
		ps = []store.VerifyProblem{}
	}
	problems, err := jsonText(ps)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO point_verifications (vault, point, job, verified_at, ok, signature_ok, problems, packs_read, bytes_read)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Vault, v.Point, v.Job, nanos(v.VerifiedAt), boolInt(v.OK), boolInt(v.SignatureOK), problems, v.PacksRead, v.BytesRead)
	if err != nil {
		return fmt.Errorf("record verification of point %s: %w", v.Point, err)
	}
	return nil
}

const pointVerificationCols = `vault, point, job, verified_at, ok, signature_ok, problems, packs_read, bytes_read`

func scanPointVerification(row scanner) (*store.PointVerification, error) {
	var v store.PointVerification
	var at int64
	var ok, sigOK int
	var problems string
	if err := row.Scan(&v.Vault, &v.Point, &v.Job, &at, &ok, &sigOK, &problems, &v.PacksRead, &v.BytesRead); err != nil {
		return nil, err
	}
	v.VerifiedAt, v.OK, v.SignatureOK = fromNanos(at), ok != 0, sigOK != 0
	if err := json.Unmarshal([]byte(problems), &v.Problems); err != nil {
		return nil, fmt.Errorf("verification of point %s: problems: %w", v.Point, err)
	}
	if len(v.Problems) == 0 {
		v.Problems = nil
	}
	return &v, nil
}

func (t *tx) PointVerification(ctx context.Context, vault, point string) (*store.PointVerification, error) {
	row := t.tx.QueryRowContext(ctx, `SELECT `+pointVerificationCols+` FROM point_verifications
		WHERE vault = ? AND point = ? ORDER BY id DESC LIMIT 1`, vault, point)
	v, err := scanPointVerification(row)
	if err := notFound(err, "verification of point "+point); err != nil {
		return nil, err
	}
	return v, nil
}

func (t *tx) PointVerifications(ctx context.Context, vault string) (map[string]store.PointVerification, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+pointVerificationCols+` FROM point_verifications
		WHERE id IN (SELECT MAX(id) FROM point_verifications WHERE vault = ? GROUP BY point)`, vault)
	if err != nil {
		return nil, fmt.Errorf("read point verifications: %w", err)
	}
	defer rows.Close()
	out := map[string]store.PointVerification{}
	for rows.Next() {
		v, err := scanPointVerification(rows)
		if err != nil {
			return nil, fmt.Errorf("read point verifications: %w", err)
		}
		out[v.Point] = *v
	}
	return out, rows.Err()
}
