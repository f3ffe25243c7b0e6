package synth

import (
	"database/sql"
	"fmt"
	"os"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

const sqliteSchema = `
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, city TEXT, created TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), amount REAL, status TEXT, note TEXT);
CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, updated TEXT);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX customers_email ON customers(email);
`

// SQLite creates a real SQLite database at path with realistic tables,
// indexes and rows, growing it until the file is at least target bytes.
func SQLite(path string, p *Prose, target int64) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("sqlite open %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.Exec(sqliteSchema); err != nil {
		return fmt.Errorf("sqlite schema %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("sqlite close %s: %w", path, err)
	}
	return GrowSQLite(path, p, target)
}

// GrowSQLite inserts rows into a database created by SQLite until the file
// is at least target bytes (at least one batch is always inserted).
func GrowSQLite(path string, p *Prose, target int64) error {
	db, err := sql.Open("sqlite", path+"?_pragma=synchronous(OFF)&_pragma=journal_mode(MEMORY)")
	if err != nil {
		return fmt.Errorf("sqlite open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for first := true; ; first = false {
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("sqlite stat %s: %w", path, err)
		}
		if !first && st.Size() >= target {
			break
		}
		if err := insertBatch(db, p, 250); err != nil {
			return fmt.Errorf("sqlite insert %s: %w", path, err)
		}
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("sqlite close %s: %w", path, err)
	}
	return nil
}

func insertBatch(db *sql.DB, p *Prose, n int) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var base int64
	if err := tx.QueryRow(`SELECT coalesce(max(id),0) FROM customers`).Scan(&base); err != nil {
		return err
	}
	c, err := tx.Prepare(`INSERT INTO customers(name,email,city,created) VALUES(?,?,?,?)`)
	if err != nil {
		return err
	}
	o, err := tx.Prepare(`INSERT INTO orders(customer_id,amount,status,note) VALUES(?,?,?,?)`)
	if err != nil {
		return err
	}
	nt, err := tx.Prepare(`INSERT INTO notes(title,body,updated) VALUES(?,?,?)`)
	if err != nil {
		return err
	}
	r := p.Rng()
	statuses := []string{"new", "paid", "shipped", "cancelled", "refunded"}
	for i := 0; i < n; i++ {
		name := p.Word() + " " + p.Word()
		date := fmt.Sprintf("20%02d-%02d-%02d", 15+r.IntN(11), 1+r.IntN(12), 1+r.IntN(28))
		if _, err := c.Exec(name, fmt.Sprintf("%s%d@example.org", p.Word(), r.IntN(10000)), p.Word(), date); err != nil {
			return err
		}
		if _, err := o.Exec(base+int64(i)+1, float64(r.IntN(100000))/100, statuses[r.IntN(len(statuses))], p.Sentence(4)); err != nil {
			return err
		}
		if i%4 == 0 {
			if _, err := nt.Exec(p.Sentence(3), p.Paragraph(), date); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// SQLiteRows counts the customers in a database created by SQLite; it
// proves the file opens and the schema is intact.
func SQLiteRows(path string) (int64, error) {
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM customers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite count %s: %w", path, err)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA quick_check`).Scan(&ok); err != nil || ok != "ok" {
		return 0, fmt.Errorf("sqlite check %s: %q %v", path, ok, err)
	}
	return n, nil
}
