package server_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
)

// randomTree writes one file of n random bytes into a new directory.
func randomTree(t *testing.T, name string, n int) string {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, n)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// packFiles lists the pack files of a vault's directory.
func packFiles(t *testing.T, s *servertest.Server, location string) map[string]int64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(s.DataDir, location, "packs", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = fi.Size()
	}
	return out
}

// largestNew returns the largest pack file in after that is not in before.
func largestNew(t *testing.T, before, after map[string]int64) string {
	t.Helper()
	best := ""
	for p, n := range after {
		if _, old := before[p]; !old && (best == "" || n > after[best]) {
			best = p
		}
	}
	if best == "" {
		t.Fatal("the backup stored no pack")
	}
	return best
}

func verify(t *testing.T, c *client.Client, req api.VerifyRequest) api.VerifyReport {
	t.Helper()
	rep, err := c.Verify(context.Background(), "prod", req)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func problemOn(rep api.VerifyReport, kind, object string) *api.VerifyProblem {
	for i, p := range rep.Problems {
		if p.Kind == kind && strings.Contains(p.Object, object) {
			return &rep.Problems[i]
		}
	}
	return nil
}

func TestVerifyIncrementalAndDamage(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	ops := s.User(t, "ops", "restore-operator@prod")
	aud := s.User(t, "aud", "auditor")
	v, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	packs0 := packFiles(t, s, v.Location)
	p1, _ := backupTo(t, host, "prod", "host1", randomTree(t, "one.bin", 3<<20))
	packs1 := packFiles(t, s, v.Location)
	p2, _ := backupTo(t, host, "prod", "host1", randomTree(t, "two.bin", 3<<20))
	packs2 := packFiles(t, s, v.Location)
	pack1, pack2 := largestNew(t, packs0, packs1), largestNew(t, packs1, packs2)

	// A clean vault: every point sound, recorded with the time.
	rep := verify(t, vadmin, api.VerifyRequest{})
	if !rep.OK || rep.Points != 2 || len(rep.PointsOK) != 2 || len(rep.PointsDamaged) != 0 || rep.PacksRead != rep.Packs || rep.PacksSkipped != 0 || rep.BytesRead == 0 || rep.MaxAge != "7d" {
		t.Fatalf("clean vault: %+v", rep)
	}
	pt, err := ops.Point(ctx, "prod", p1.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if pt.Verified == nil || !pt.Verified.OK || !pt.Verified.SignatureOK || !pt.Verified.At.Equal(s.Clock.Now()) || pt.Verified.Job != rep.Job {
		t.Fatalf("point's verification: %+v", pt.Verified)
	}

	// Within the default age nothing is read again.
	s.Clock.Advance(24 * time.Hour)
	rep = verify(t, aud, api.VerifyRequest{})
	if !rep.OK || rep.PacksRead != 0 || rep.PacksSkipped != rep.Packs || rep.BytesRead != 0 || len(rep.PointsOK) != 2 {
		t.Fatalf("second verification: %+v", rep)
	}

	// After a backup, only its packs are read.
	p3, _ := backupTo(t, host, "prod", "host1", randomTree(t, "three.bin", 1<<20))
	packs3 := packFiles(t, s, v.Location)
	rep = verify(t, vadmin, api.VerifyRequest{})
	if !rep.OK || rep.PacksRead != len(packs3)-len(packs2) || rep.PacksSkipped != len(packs2)-len(packs0) || rep.Points != 3 {
		t.Fatalf("after a backup (%d new packs): %+v", len(packs3)-len(packs2), rep)
	}

	// Bit rot in a pack of the first point: an incremental run skips the
	// pack (verified a day ago), a full one reads it and names it, the
	// file and the point; the other points stay sound.
	os.Chmod(pack1, 0o600)
	data, err := os.ReadFile(pack1)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(pack1, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep = verify(t, vadmin, api.VerifyRequest{}); !rep.OK {
		t.Fatalf("incremental run read a pack verified within the age: %+v", rep)
	}
	rep = verify(t, vadmin, api.VerifyRequest{Full: true})
	name1 := filepath.Base(pack1)
	pr := problemOn(rep, "pack-damaged", name1)
	if rep.OK || pr == nil || rep.PacksRead != rep.Packs || rep.MaxAge != "0" {
		t.Fatalf("full run after bit rot: %+v", rep)
	}
	if !slices.Equal(pr.Points, []string{p1.ID.String()}) || !slices.Equal(rep.PointsDamaged, []string{p1.ID.String()}) || len(rep.PointsOK) != 2 {
		t.Fatalf("damage attributed to %v, damaged %v, ok %v; want %s alone", pr.Points, rep.PointsDamaged, rep.PointsOK, p1.ID.Short())
	}
	if len(pr.Affected) == 0 || !strings.HasSuffix(pr.Affected[0].Path, "one.bin") {
		t.Fatalf("damage names %+v, want one.bin", pr.Affected)
	}
	if pt, _ := ops.Point(ctx, "prod", p1.ID.String()); pt.Verified == nil || pt.Verified.OK || pt.Verified.Problems != 1 {
		t.Fatalf("damaged point's verification: %+v", pt.Verified)
	}
	if pt, _ := ops.Point(ctx, "prod", p2.ID.String()); pt.Verified == nil || !pt.Verified.OK {
		t.Fatalf("sound point's verification: %+v", pt.Verified)
	}
	// A damaged pack is read again by the next incremental run.
	if rep = verify(t, vadmin, api.VerifyRequest{}); rep.OK || rep.PacksRead != 1 {
		t.Fatalf("incremental run after damage: %+v", rep)
	}

	// A missing pack is found even by an incremental run.
	os.Chmod(filepath.Dir(pack2), 0o700)
	if err := os.Remove(pack2); err != nil {
		t.Fatal(err)
	}
	rep = verify(t, vadmin, api.VerifyRequest{})
	pr = problemOn(rep, "pack-missing", filepath.Base(pack2))
	if pr == nil || !slices.Contains(pr.Points, p2.ID.String()) || !slices.Contains(rep.PointsDamaged, p2.ID.String()) || !slices.Contains(rep.PointsOK, p3.ID.String()) {
		t.Fatalf("missing pack: %+v", rep)
	}

	// A catalog entry whose signature was changed behind the server's back.
	// (The store has no call that changes a signature: straight to SQL.)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "bunker.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE points SET signature = substr(signature, 2) || x'00' WHERE vault = 'prod' AND id = ?`, p3.ID.String())
	if err != nil {
		t.Fatalf("tamper with the signature: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampered with %d points", n)
	}
	db.Close()
	rep = verify(t, vadmin, api.VerifyRequest{})
	if pr := problemOn(rep, "signature-invalid", p3.ID.String()); pr == nil || !slices.Equal(pr.Points, []string{p3.ID.String()}) || !slices.Contains(rep.PointsDamaged, p3.ID.String()) {
		t.Fatalf("tampered signature: %+v", rep)
	}
	pt, _ = ops.Point(ctx, "prod", p3.ID.String())
	if pt.Verified == nil || pt.Verified.OK || pt.Verified.SignatureOK {
		t.Fatalf("tampered point's verification: %+v", pt.Verified)
	}
	// Point lists carry the verification too.
	ps, err := ops.Points(ctx, "prod", client.PointFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Verified == nil || p.Verified.Job != rep.Job {
			t.Errorf("listed point %s: verification %+v", p.ID, p.Verified)
		}
	}

	// Every run is a job.
	jobs, err := vadmin.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs {
		if j.Kind == "verify" && j.Vault == "prod" && j.State == store.JobSucceded {
			n++
		}
	}
	if n != 8 {
		t.Errorf("%d verify jobs, want 8", n)
	}
}

func TestVerifyPermissions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for name, c := range map[string]*client.Client{"backup-operator": w.host, "restore-operator": w.ops, "security-admin": w.s.Admin} {
		if _, err := c.Verify(ctx, "prod", api.VerifyRequest{}); !client.IsStatus(err, 403) {
			t.Errorf("%s runs verify: %v, want 403", name, err)
		}
	}
	for name, c := range map[string]*client.Client{"vault-admin": w.vadmin, "auditor": w.aud} {
		if rep, err := c.Verify(ctx, "prod", api.VerifyRequest{}); err != nil || !rep.OK {
			t.Errorf("%s runs verify: %+v %v", name, rep, err)
		}
	}
	if _, err := w.vadmin.Verify(ctx, "prod", api.VerifyRequest{MaxAge: "soon"}); !client.IsStatus(err, 400) {
		t.Errorf("bad max_age: %v, want 400", err)
	}
	if _, err := w.vadmin.Verify(ctx, "nope", api.VerifyRequest{}); !client.IsStatus(err, 404) {
		t.Errorf("unknown vault: %v, want 404", err)
	}
	denied := 0
	for _, e := range w.entries(t) {
		if e.Action == "vault.verify" && e.Outcome == "denied" {
			denied++
		}
	}
	if denied != 3 {
		t.Errorf("%d denied verify attempts audited, want 3", denied)
	}
}

// TestVerifySchedule checks the server's own verification: each vault once
// every period of the server's clock, incrementally.
func TestVerifySchedule(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{VerifyEvery: 20 * time.Millisecond})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod"}); err != nil {
		t.Fatal(err)
	}
	p, _ := backupTo(t, host, "prod", "host1", randomTree(t, "one.bin", 1<<20))
	runs := func() []store.Job {
		jobs, err := vadmin.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []store.Job
		for _, j := range jobs {
			if j.Kind == "verify" && j.By == "bunker server" && j.State != store.JobRunning {
				out = append(out, j)
			}
		}
		return out
	}
	waitRuns := func(n int) []store.Job {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if js := runs(); len(js) >= n {
				return js
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("fewer than %d scheduled verifications in 20s: %+v", n, runs())
		return nil
	}
	// The first run may come before or after the backup.
	n := len(waitRuns(1))
	// The server's clock stands still: no further run is due.
	time.Sleep(200 * time.Millisecond)
	if js := runs(); len(js) != n {
		t.Fatalf("%d scheduled runs while none was due, had %d", len(js), n)
	}
	s.Clock.Advance(time.Second)
	waitRuns(n + 1)
	if pt, err := vadmin.Point(ctx, "prod", p.ID.String()); err != nil || pt.Verified == nil || !pt.Verified.OK {
		t.Fatalf("point after scheduled runs: %+v %v", pt.Verified, err)
	}
	s.Clock.Advance(time.Second)
	last := waitRuns(n + 2)[0] // newest first
	if last.State != store.JobSucceded || last.Detail["packs_read"] != float64(0) || last.Detail["points"] != float64(1) {
		t.Fatalf("a later scheduled run is not incremental: %+v", last)
	}
}

// TestVerifyAlongsideBackupsAndMaintenance runs verifications while hosts
// back up and maintenance runs: every one succeeds, and each point found
// is sound.
func TestVerifyAlongsideBackupsAndMaintenance(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod"}); err != nil {
		t.Fatal(err)
	}
	backupTo(t, host, "prod", "host1", randomTree(t, "first.bin", 1<<20))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3 {
			backupTo(t, host, "prod", "host1", randomTree(t, "more.bin", (i+1)<<19))
		}
	}()
	for range 3 {
		rep, err := vadmin.Verify(ctx, "prod", api.VerifyRequest{Full: true})
		if err != nil || !rep.OK || len(rep.PointsDamaged) != 0 {
			t.Fatalf("verify during backups: %+v %v", rep, err)
		}
		if _, err := vadmin.Maintain(ctx, "prod"); err != nil {
			t.Fatalf("maintenance during verification: %v", err)
		}
	}
	<-done
	if rep := verify(t, vadmin, api.VerifyRequest{Full: true}); !rep.OK || rep.Points != 4 {
		t.Fatalf("after the backups: %+v", rep)
	}
}
