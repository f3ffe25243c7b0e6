package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/keys"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/store/sqlstore"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// reconnect points an old client's token at a restarted server.
func reconnect(t *testing.T, s *servertest.Server, old *client.Client) *client.Client {
	t.Helper()
	return s.Anonymous(t).WithToken(old.Token())
}

// A restart loses nothing: principals, tokens, roles, vaults and their
// locks, points, holds, the audit chain; the certificate stays the same.
func TestRestartLosesNothing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.lockProd(t, "compliance")
	if _, err := w.vadmin.Hold(ctx, "prod", api.HoldRequest{Tag: "x", Reason: "audit 2027"}); err != nil {
		t.Fatal(err)
	}
	before := w.state(t)
	entries := len(w.entries(t))
	fp := w.s.Fingerprint
	admin := w.s.Admin
	w.s.Stop()

	s2 := servertest.Start(t, servertest.Options{DataDir: w.s.DataDir, KeyFile: w.s.KeyFile, Clock: w.s.Clock})
	if s2.Fingerprint != fp {
		t.Fatalf("certificate changed across a restart: %s, then %s", fp, s2.Fingerprint)
	}
	if s2.Admin != nil {
		t.Fatal("a restart bootstrapped a second admin")
	}
	w.s, w.vadmin, w.host, w.ops, w.aud = s2, reconnect(t, s2, w.vadmin), reconnect(t, s2, w.host), reconnect(t, s2, w.ops), reconnect(t, s2, w.aud)
	s2.Admin = reconnect(t, s2, admin)
	if after := w.state(t); after != before {
		t.Fatalf("state changed across a restart:\nbefore %s\nafter  %s", before, after)
	}
	if got := len(w.entries(t)); got != entries {
		t.Fatalf("%d audit entries after the restart, %d before", got, entries)
	}
	target := restoreFrom(t, w.ops, "prod", w.point[:8])
	testfs.Compare(t, w.src, filepath.Join(target, w.src))
	backupTo(t, w.host, "prod", "host1", w.src)
	w.verifyAudit(t)
}

// A point stored in the vault but missing from the catalog, as a crash
// between the two writes leaves it, is catalogued again when the vault
// opens; a record the server did not sign is not.
func TestUncataloguedPointRecovered(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	v, err := w.vadmin.Vault(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	w.s.Stop()
	// Forget the point in the catalog.
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(w.s.DataDir, "bunker.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.DeletePoint(ctx, "prod", w.point) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// And plant an unsigned record, sealed with the vault's own key.
	r := openServerVault(t, w.s, v.Location)
	tree, err := blob.ParseID(w.point) // any id will do: the record is refused before its tree is read
	if err != nil {
		t.Fatal(err)
	}
	forged := &repo.Point{Time: time.Now(), Hostname: "mallory", Paths: []string{"/"}, Tree: tree}
	if _, err := r.SavePoint(ctx, forged); err != nil {
		t.Fatal(err)
	}
	r.Close()

	s2 := servertest.Start(t, servertest.Options{DataDir: w.s.DataDir, KeyFile: w.s.KeyFile, Clock: w.s.Clock})
	ops := reconnect(t, s2, w.ops)
	ps, err := ops.Points(ctx, "prod", client.PointFilter{State: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].ID != w.point || ps[0].Hostname != "host1" {
		t.Fatalf("points after recovery: %+v", ps)
	}
	aud := reconnect(t, s2, w.aud)
	page, err := aud.Audit(ctx, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range page.Entries {
		found = found || (e.Action == "point.recover" && e.Target == "point/prod/"+w.point)
	}
	if !found {
		t.Fatal("the recovery is not in the audit log")
	}
	restoreFrom(t, ops, "prod", w.point[:8])
}

// openServerVault opens one of a stopped server's vaults the way an
// operator with the server's key file can.
func openServerVault(t *testing.T, s *servertest.Server, location string) *repo.Repository {
	t.Helper()
	ctx := context.Background()
	secret, err := keys.ReadKeyFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	be, err := local.Open(filepath.Join(s.DataDir, location))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	cfg, err := repo.ReadConfig(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.Unlock(ctx, be, cfg.ID, keys.Secret{KeyFile: secret})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, be, m, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
