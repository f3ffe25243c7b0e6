package sqlstore

import (
	"context"
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
