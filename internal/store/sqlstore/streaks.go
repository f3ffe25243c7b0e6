package sqlstore

import (
	"context"
	"fmt"

	"github.com/bunkerhq/bunker/internal/store"
)

func (t *tx) AddFailure(ctx context.Context, s store.FailureStreak) (int, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `INSERT INTO failure_streaks (kind, peer, vault, point, failures) VALUES (?, ?, ?, ?, 1)
		ON CONFLICT (kind, peer, vault, point) DO UPDATE SET failures = failure_streaks.failures + 1
		RETURNING failures`, s.Kind, s.Peer, s.Vault, s.Point).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count a failed %s of %s: %w", s.Kind, streakName(s), err)
	}
	return n, nil
}

func (t *tx) ClearFailures(ctx context.Context, s store.FailureStreak) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM failure_streaks WHERE kind = ? AND peer = ? AND vault = ? AND point = ?`,
		s.Kind, s.Peer, s.Vault, s.Point)
	if err != nil {
		return fmt.Errorf("forget the failed %ss of %s: %w", s.Kind, streakName(s), err)
	}
	return nil
}

func (t *tx) FailureStreaks(ctx context.Context) ([]store.FailureStreak, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT kind, peer, vault, point, failures FROM failure_streaks`)
	if err != nil {
		return nil, fmt.Errorf("read failure streaks: %w", err)
	}
	defer rows.Close()
	var out []store.FailureStreak
	for rows.Next() {
		var s store.FailureStreak
		if err := rows.Scan(&s.Kind, &s.Peer, &s.Vault, &s.Point, &s.Failures); err != nil {
			return nil, fmt.Errorf("read failure streaks: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// clearPeerFailures forgets the failures of every copy to or from a peer.
func (t *tx) clearPeerFailures(ctx context.Context, kind, peer string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM failure_streaks WHERE kind = ? AND peer = ?`, kind, peer); err != nil {
		return fmt.Errorf("forget the failed %ss of %s: %w", kind, peer, err)
	}
	return nil
}

// streakName names a streak's copy in errors.
func streakName(s store.FailureStreak) string {
	what := s.Peer + " vault " + s.Vault
	if s.Point != "" {
		what += " point " + s.Point
	}
	return what
}
