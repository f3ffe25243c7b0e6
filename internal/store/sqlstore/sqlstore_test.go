package sqlstore

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)

func open(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bunker.db")
	db, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func update(t *testing.T, db *DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestPrincipalsTokensBindings(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	p := &store.Principal{Name: "ann", Kind: store.User, PasswordHash: "$argon2id$x", CreatedAt: t0, CreatedBy: "admin"}
	update(t, db, func(tx store.Tx) error { return tx.CreatePrincipal(ctx, p) })
	if p.ID == 0 {
		t.Fatal("no id assigned")
	}
	err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreatePrincipal(ctx, &store.Principal{Name: "ann", Kind: store.Service, CreatedAt: t0})
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate principal: %v", err)
	}
	tok := &store.Token{ID: "tok1", PrincipalID: p.ID, Hash: []byte{1, 2, 3}, Kind: store.APIToken, Vaults: []string{"prod"}, Hosts: []string{"db1", "db2"}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	b := &store.Binding{Binding: rbac.Binding{Principal: "ann", Role: rbac.RestoreOperator, Vault: "prod"}, PrincipalID: p.ID, CreatedAt: t0, CreatedBy: "admin"}
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateToken(ctx, tok); err != nil {
			return err
		}
		return tx.CreateBinding(ctx, b)
	})
	err = db.Update(ctx, func(tx store.Tx) error {
		dup := *b
		return tx.CreateBinding(ctx, &dup)
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate binding: %v", err)
	}
	err = db.View(ctx, func(tx store.Tx) error {
		got, err := tx.Principal(ctx, "ann")
		if err != nil {
			return err
		}
		if got.PasswordHash != p.PasswordHash || !got.CreatedAt.Equal(t0) || got.Kind != store.User {
			return fmt.Errorf("principal %+v", got)
		}
		tk, err := tx.Token(ctx, "tok1")
		if err != nil {
			return err
		}
		if tk.Principal != "ann" || len(tk.Vaults) != 1 || tk.Vaults[0] != "prod" || !slices.Equal(tk.Hosts, []string{"db1", "db2"}) || !tk.ExpiresAt.Equal(t0.Add(time.Hour)) || !tk.RevokedAt.IsZero() {
			return fmt.Errorf("token %+v", tk)
		}
		bs, err := tx.Bindings(ctx, "ann")
		if err != nil || len(bs) != 1 || bs[0].Role != rbac.RestoreOperator || bs[0].Vault != "prod" {
			return fmt.Errorf("bindings %+v %v", bs, err)
		}
		if _, err := tx.Principal(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing principal: %v", err)
		}
		if _, err := tx.Token(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing token: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx store.Tx) error {
		tok.RevokedAt = t0.Add(time.Minute)
		if err := tx.UpdateToken(ctx, tok); err != nil {
			return err
		}
		return tx.DeleteBinding(ctx, b.ID)
	})
	err = db.View(ctx, func(tx store.Tx) error {
		tk, _ := tx.Token(ctx, "tok1")
		if tk.Valid(t0) {
			return errors.New("revoked token still valid")
		}
		bs, _ := tx.Bindings(ctx, "")
		if len(bs) != 0 {
			return fmt.Errorf("binding not deleted: %+v", bs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.DeleteBinding(ctx, 999) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a missing binding: %v", err)
	}
}

func TestVaultsPointsHolds(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	lock, _ := retention.NewLock(retention.Compliance, 7*24*time.Hour, 0, 72*time.Hour, t0)
	v := &store.Vault{Name: "prod", StorageID: "ab", Backend: "local", Location: "vaults/ab", CreatedAt: t0, CreatedBy: "va",
		Policy: retention.Policy{Lock: lock, Retention: 30 * 24 * time.Hour, BinRetention: retention.DefaultBinRetention}}
	update(t, db, func(tx store.Tx) error { return tx.CreateVault(ctx, v) })
	mk := func(id, host string, at time.Duration, tags ...string) *store.Point {
		return &store.Point{Vault: "prod", ID: id, Time: t0.Add(at), Hostname: host, Paths: []string{"/srv"}, Tags: tags,
			Tree: "tt", CreatedBy: "h", Expires: t0.Add(at + time.Hour), State: store.Active, KeyID: "k", Signature: []byte("sig")}
	}
	update(t, db, func(tx store.Tx) error {
		for _, p := range []*store.Point{mk("bbbb01", "h1", 2*time.Hour, "db"), mk("aaaa01", "h2", time.Hour), mk("aaaa02", "h1", 3*time.Hour, "db", "x")} {
			if err := tx.CreatePoint(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	err := db.View(ctx, func(tx store.Tx) error {
		got, err := tx.Vault(ctx, "prod")
		if err != nil {
			return err
		}
		if got.Policy.Lock.Mode != retention.Compliance || !got.Policy.Lock.LockDate().Equal(t0.Add(72*time.Hour)) || got.Policy.Retention != 30*24*time.Hour {
			return fmt.Errorf("policy %+v", got.Policy)
		}
		for _, c := range []struct {
			f    store.PointFilter
			want string
		}{
			{store.PointFilter{Vault: "prod"}, "aaaa01 bbbb01 aaaa02"},
			{store.PointFilter{Vault: "prod", Hostname: "h1"}, "bbbb01 aaaa02"},
			{store.PointFilter{Vault: "prod", Tag: "db"}, "bbbb01 aaaa02"},
			{store.PointFilter{Vault: "prod", Prefix: "AAAA"}, "aaaa01 aaaa02"},
			{store.PointFilter{Vault: "prod", Prefix: "aaaa02"}, "aaaa02"},
			{store.PointFilter{Since: t0.Add(2 * time.Hour)}, "bbbb01 aaaa02"},
			{store.PointFilter{Vault: "prod", Since: t0.Add(3*time.Hour + 1)}, ""},
			{store.PointFilter{Vault: "prod", State: store.Binned}, ""},
			{store.PointFilter{Vault: "other"}, ""},
		} {
			ps, err := tx.Points(ctx, c.f)
			if err != nil {
				return err
			}
			got := ""
			for i, p := range ps {
				if i > 0 {
					got += " "
				}
				got += p.ID
			}
			if got != c.want {
				return fmt.Errorf("filter %+v: %q, want %q", c.f, got, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx store.Tx) error {
		p, err := tx.Point(ctx, "prod", "aaaa01")
		if err != nil {
			return err
		}
		p.State, p.BinnedAt, p.PurgeAfter, p.BinReason = store.Binned, t0, t0.Add(time.Hour), "expired"
		if err := tx.UpdatePoint(ctx, p); err != nil {
			return err
		}
		return tx.CreateHold(ctx, &store.Hold{Hold: retention.Hold{Tag: "db", Reason: "case"}, Vault: "prod", CreatedAt: t0, CreatedBy: "va"})
	})
	err = db.View(ctx, func(tx store.Tx) error {
		ps, _ := tx.Points(ctx, store.PointFilter{Vault: "prod", State: store.Binned})
		if len(ps) != 1 || ps[0].ID != "aaaa01" || ps[0].BinReason != "expired" || !ps[0].PurgeAfter.Equal(t0.Add(time.Hour)) {
			return fmt.Errorf("binned %+v", ps)
		}
		hs, _ := tx.Holds(ctx, "prod", false)
		if len(hs) != 1 || hs[0].Tag != "db" || !hs[0].Active() {
			return fmt.Errorf("holds %+v", hs)
		}
		n, err := tx.CountPoints(ctx, "prod")
		if err != nil || n[store.Active] != 2 || n[store.Binned] != 1 {
			return fmt.Errorf("counts %v %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A point's vault must exist.
	if err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreatePoint(ctx, &store.Point{Vault: "ghost", ID: "x", State: store.Active})
	}); err == nil {
		t.Fatal("a point in a vault that does not exist")
	}
}

// The audit log chains, survives reopening, and refuses changes even from
// code that reaches the database directly.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	db, path := open(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	for i := range 20 {
		update(t, db, func(tx store.Tx) error {
			_, err := tx.AppendAudit(ctx, audit.Entry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "a", Action: "vault.create", Target: "vault/x", Outcome: audit.OutcomeOK, Detail: []byte(`{"n":1}`)})
			return err
		})
	}
	update(t, db, func(tx store.Tx) error {
		last, err := tx.LastAudit(ctx)
		if err != nil {
			return err
		}
		cp, err := audit.Sign(priv, *last, t0)
		if err != nil {
			return err
		}
		return tx.AddCheckpoint(ctx, cp)
	})
	for _, q := range []string{`UPDATE audit SET actor = 'mallory' WHERE seq = 3`, `DELETE FROM audit WHERE seq = 3`, `DELETE FROM audit_checkpoints`} {
		if _, err := db.db.Exec(q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
	db.Close()
	db2, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var entries []audit.Entry
	var cps []audit.Checkpoint
	err = db2.View(ctx, func(tx store.Tx) error {
		var err error
		if entries, err = tx.AuditEntries(ctx, 0, 0); err != nil {
			return err
		}
		cps, err = tx.Checkpoints(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 20 || entries[19].Seq != 20 {
		t.Fatalf("%d entries after reopening", len(entries))
	}
	if rep := audit.Verify(entries, cps, pub); !rep.OK() || rep.Checkpoints != 1 {
		t.Fatalf("verify: %+v", rep)
	}
}

// Concurrent writers each append in their own transaction; the chain has no
// gaps and no forks.
func TestAuditConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				err := db.Update(ctx, func(tx store.Tx) error {
					_, err := tx.AppendAudit(ctx, audit.Entry{Time: t0, Actor: fmt.Sprint(w), Action: "x.y", Target: fmt.Sprint(i), Outcome: audit.OutcomeOK})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var entries []audit.Entry
	db.View(ctx, func(tx store.Tx) error {
		var err error
		entries, err = tx.AuditEntries(ctx, 0, 1000)
		return err
	})
	pub, _, _ := ed25519.GenerateKey(nil)
	rep := audit.Verify(entries, nil, pub)
	if len(entries) != 100 || !rep.OK() {
		t.Fatalf("%d entries, report %+v", len(entries), rep)
	}
}

// A transaction whose function fails leaves nothing behind.
func TestRollback(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreatePrincipal(ctx, &store.Principal{Name: "ghost", Kind: store.User, CreatedAt: t0}); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, audit.Entry{Time: t0, Action: "principal.create", Outcome: audit.OutcomeOK}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v", err)
	}
	db.View(ctx, func(tx store.Tx) error {
		if _, err := tx.Principal(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rolled-back principal exists: %v", err)
		}
		if last, _ := tx.LastAudit(ctx); last != nil {
			t.Errorf("rolled-back audit entry exists: %+v", last)
		}
		return nil
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	db, path := open(t)
	if _, err := db.db.Exec(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenSQLite(ctx, path); err == nil {
		t.Fatal("opened a database with a newer schema")
	}
}

func TestObjectRetention(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	update(t, db, func(tx store.Tx) error {
		for _, r := range []store.ObjectRetention{
			{Object: "packs/aa", Until: t0, Mode: "COMPLIANCE"},
			{Object: "points/bb", Until: t0.Add(time.Hour), Mode: "GOVERNANCE", Held: true},
			{Object: "packs/aa", Until: t0.Add(2 * time.Hour), Mode: "COMPLIANCE"}, // replaces the first
		} {
			if err := tx.SetObjectRetention(ctx, "prod", r); err != nil {
				return err
			}
		}
		return tx.SetObjectRetention(ctx, "dev", store.ObjectRetention{Object: "packs/cc", Until: t0, Mode: "COMPLIANCE"})
	})
	db.View(ctx, func(tx store.Tx) error {
		m, err := tx.ObjectRetentions(ctx, "prod")
		if err != nil || len(m) != 2 || !m["packs/aa"].Until.Equal(t0.Add(2*time.Hour)) || !m["points/bb"].Held {
			t.Errorf("prod: %+v %v", m, err)
		}
		return nil
	})
	update(t, db, func(tx store.Tx) error { return tx.DeleteObjectRetention(ctx, "prod", "packs/aa") })
	db.View(ctx, func(tx store.Tx) error {
		m, _ := tx.ObjectRetentions(ctx, "prod")
		d, _ := tx.ObjectRetentions(ctx, "dev")
		if len(m) != 1 || len(d) != 1 {
			t.Errorf("after delete: prod %+v dev %+v", m, d)
		}
		return nil
	})
}
