package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

func TestVerifications(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateVault(ctx, &store.Vault{Name: "prod", StorageID: "s", Backend: "local", Location: "/x", Policy: retention.Policy{}, CreatedAt: t0, CreatedBy: "ann"}); err != nil {
			return err
		}
		if err := tx.CreatePoint(ctx, &store.Point{Vault: "prod", ID: "p1", Time: t0, Hostname: "h", Paths: []string{"/"}, Tree: "t", CreatedBy: "web1", State: store.Active, KeyID: "k", Signature: []byte{1}}); err != nil {
			return err
		}
		if err := tx.RecordPackVerifications(ctx, "prod", []store.PackVerification{
			{Pack: "aa", VerifiedAt: t0, OK: true}, {Pack: "bb", VerifiedAt: t0, OK: false},
			{Pack: "aa", VerifiedAt: t0.Add(time.Hour), OK: true}, // replaces the first
		}); err != nil {
			return err
		}
		for i, ok := range []bool{true, false} {
			v := &store.PointVerification{Vault: "prod", Point: "p1", Job: int64(i + 1), VerifiedAt: t0.Add(time.Duration(i) * time.Hour), OK: ok, SignatureOK: true, PacksRead: 3, BytesRead: 99}
			if !ok {
				v.Problems = []store.VerifyProblem{{Kind: "pack-damaged", Object: "packs/bb", Detail: "1 of 2 blobs damaged", Paths: []string{"/etc/passwd"}}}
			}
			if err := tx.RecordPointVerification(ctx, v); err != nil {
				return err
			}
		}
		return tx.RecordPointVerification(ctx, &store.PointVerification{Vault: "other", Point: "p1", VerifiedAt: t0, OK: true})
	})
	err := db.View(ctx, func(tx store.Tx) error {
		pv, err := tx.PackVerifications(ctx, "prod")
		if err != nil {
			return err
		}
		if len(pv) != 2 || !pv["aa"].OK || !pv["aa"].VerifiedAt.Equal(t0.Add(time.Hour)) || pv["bb"].OK {
			t.Errorf("pack verifications %+v", pv)
		}
		v, err := tx.PointVerification(ctx, "prod", "p1")
		if err != nil {
			return err
		}
		if v.OK || v.Job != 2 || !v.SignatureOK || len(v.Problems) != 1 || v.Problems[0].Paths[0] != "/etc/passwd" || v.BytesRead != 99 || !v.VerifiedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("latest verification %+v", v)
		}
		all, err := tx.PointVerifications(ctx, "prod")
		if err != nil {
			return err
		}
		if len(all) != 1 || all["p1"].Job != 2 {
			t.Errorf("latest verifications %+v", all)
		}
		if _, err := tx.PointVerification(ctx, "prod", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("verification of an unknown point: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx store.Tx) error {
		if err := tx.ForgetPackVerifications(ctx, "prod", []string{"bb"}); err != nil {
			return err
		}
		return tx.DeletePoint(ctx, "prod", "p1")
	})
	_ = db.View(ctx, func(tx store.Tx) error {
		if pv, _ := tx.PackVerifications(ctx, "prod"); len(pv) != 1 {
			t.Errorf("forgotten pack verification remains: %+v", pv)
		}
		if _, err := tx.PointVerification(ctx, "prod", "p1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("verification of a purged point remains: %v", err)
		}
		return nil
	})
}

// TestSchemaStatementsAddedToOldDatabase opens a database made by a bunker
// that knew only the first version's statements: the tables added since are
// created, and what it held stays.
func TestSchemaStatementsAddedToOldDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bunker.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range sqliteSchema[:v1Statements] {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO meta (key, value) VALUES ('schema_version', '1'); INSERT INTO settings (key, value) VALUES ('k', 'v')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	for range 2 { // and a second open changes nothing
		db, err := OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		update(t, db, func(tx store.Tx) error {
			if v, err := tx.Setting(ctx, "k"); err != nil || v != "v" {
				t.Errorf("setting after migration: %q %v", v, err)
			}
			return tx.RecordPackVerifications(ctx, "prod", []store.PackVerification{{Pack: "aa", VerifiedAt: t0, OK: true}})
		})
		db.Close()
	}
}
