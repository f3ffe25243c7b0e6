// Package sqlstore implements store.Store on SQL databases: SQLite through a
// pure-Go driver, so the bunker binary stays static, and (later) PostgreSQL.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/bunkerhq/bunker/internal/store"
)

// DB is a store.Store on a SQL database.
type DB struct {
	db *sql.DB
}

// OpenSQLite opens (creating if needed) the SQLite database at path. It runs
// in WAL mode with full fsync on commit, so a committed transaction survives
// a crash or power loss.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &DB{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

// Close releases the database.
func (s *DB) Close() error { return s.db.Close() }

func (s *DB) migrate(ctx context.Context) error {
	return s.Update(ctx, func(t store.Tx) error {
		tx := t.(*tx)
		if _, err := tx.tx.ExecContext(ctx, sqliteSchema[0]); err != nil {
			return fmt.Errorf("create meta table: %w", err)
		}
		var v string
		err := tx.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v)
		applied := 1 // the meta table
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read schema version: %w", err)
		default:
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("schema version %q is not a number", v)
			}
			if n > schemaVersion {
				return fmt.Errorf("the database has schema version %d, newer than this bunker (%d): upgrade bunker", n, schemaVersion)
			}
			// Within a version, statements are only ever added at the end
			// of sqliteSchema: a database runs the ones it has not.
			applied = v1Statements
			err = tx.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_statements'`).Scan(&v)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("read schema statements: %w", err)
			default:
				if applied, err = strconv.Atoi(v); err != nil {
					return fmt.Errorf("schema statements %q is not a number", v)
				}
			}
			if applied > len(sqliteSchema) {
				return fmt.Errorf("the database has %d schema statements, more than this bunker knows (%d): upgrade bunker", applied, len(sqliteSchema))
			}
		}
		for _, stmt := range sqliteSchema[applied:] {
			if _, err := tx.tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		for _, kv := range [][2]string{{"schema_version", strconv.Itoa(schemaVersion)}, {"schema_statements", strconv.Itoa(len(sqliteSchema))}} {
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Update runs fn in a read-write transaction.
func (s *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, false, fn)
}

// View runs fn in a read-only transaction.
func (s *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, true, fn)
}

func (s *DB) run(ctx context.Context, readOnly bool, fn func(store.Tx) error) error {
	t, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(&tx{tx: t}); err != nil {
		_ = t.Rollback()
		return err
	}
	if readOnly {
		_ = t.Rollback()
		return nil
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// tx implements store.Tx.
type tx struct {
	tx *sql.Tx
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// notFound maps sql.ErrNoRows to store.ErrNotFound naming what is missing.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// isUnique reports whether err is a uniqueness violation.
func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || strings.Contains(err.Error(), "duplicate key"))
}

// exec runs a statement that must change exactly one row.
func (t *tx) execOne(ctx context.Context, what, query string, args ...any) error {
	res, err := t.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}
