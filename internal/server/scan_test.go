package server_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
)

var scanWords = []string{"the", "quarterly", "report", "shows", "that", "revenue", "grew", "in", "every", "region",
	"and", "costs", "fell", "while", "the", "team", "shipped", "new", "features", "to", "customers", "on", "time"}

// proseFile returns n bytes of deterministic English-like text.
func proseFile(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 7))
	var b bytes.Buffer
	for b.Len() < n {
		for range 8 + r.IntN(8) {
			b.WriteString(scanWords[r.IntN(len(scanWords))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d.\n", r.IntN(10000))
	}
	return b.Bytes()[:n]
}

// documents writes 30 text files in 5 directories and returns the root.
func documents(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	for d := range 5 {
		for f := range 6 {
			p := filepath.Join(src, fmt.Sprintf("dept%d/notes%d.txt", d, f))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, proseFile(uint64(d*10+f), 8<<10+d*1000+f*333), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return src
}

// encryptFiles encrypts n files below src in place with AES-CTR under a
// random key, as ransomware does, and returns their paths.
func encryptFiles(t *testing.T, src string, n int) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && len(files) < n {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		iv := make([]byte, aes.BlockSize)
		rand.Read(iv)
		cipher.NewCTR(blk, iv).XORKeyStream(data, data)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// waitVerdict waits for a point's background scan and returns the point.
func waitVerdict(t *testing.T, c *client.Client, vault, id string) api.Point {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := c.Point(context.Background(), vault, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Verdict != nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("point %s got no verdict", id[:8])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func apiError(err error) *client.Error {
	var e *client.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func TestScanVerdictsEventsAndInfectedRestores(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	ops := s.User(t, "ops", "restore-operator@prod")
	aud := s.User(t, "aud", "auditor")
	if v, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d", Scan: true}); err != nil || !v.Scan {
		t.Fatalf("create a scanning vault: %+v %v", v, err)
	}
	src := documents(t)

	// The first point of the source: every file is new, nothing is wrong.
	p1, _ := backupTo(t, host, "prod", "host1", src)
	v1 := waitVerdict(t, vadmin, "prod", p1.ID.String())
	if v1.Verdict.Level != store.VerdictClean || v1.Verdict.Previous != "" {
		t.Fatalf("first point: %+v", v1.Verdict)
	}

	// Unchanged: clean, and the comparison finds nothing to examine.
	s.Clock.Advance(time.Hour)
	p2, _ := backupTo(t, host, "prod", "host1", src)
	v2 := waitVerdict(t, vadmin, "prod", p2.ID.String())
	if v2.Verdict.Level != store.VerdictClean || v2.Verdict.Previous != p1.ID.String() {
		t.Fatalf("unchanged point: %+v", v2.Verdict)
	}
	began := time.Now()
	rep, err := vadmin.Scan(ctx, "prod", p2.ID.String()[:8], api.ScanRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Level != store.VerdictClean || rep.Stats.Changes != 0 || rep.Stats.Examined != 0 || rep.Previous != p1.ID.String() || time.Since(began) > 5*time.Second {
		t.Fatalf("scan of an unchanged point (%s): %+v", time.Since(began), rep)
	}

	// 25 files encrypted in place: infected, naming them.
	s.Clock.Advance(time.Hour)
	encrypted := encryptFiles(t, src, 25)
	p3, _ := backupTo(t, host, "prod", "host1", src)
	v3 := waitVerdict(t, vadmin, "prod", p3.ID.String())
	if v3.Verdict.Level != store.VerdictInfected || v3.Verdict.Previous != p2.ID.String() || v3.Verdict.EvidenceCount < 25 {
		t.Fatalf("encrypted point: %+v", v3.Verdict)
	}
	named := map[string]bool{}
	for _, e := range v3.Verdict.Evidence {
		named[e.Path] = true
	}
	for _, f := range encrypted {
		if !named[filepath.ToSlash(f)] {
			t.Errorf("the evidence does not name %s: %+v", f, v3.Verdict.Evidence)
		}
	}

	// The list shows the timeline; the last clean point is the one before.
	list, err := ops.PointList(ctx, "prod", client.PointFilter{Host: "host1", Path: src})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Points) != 3 || list.FirstInfected != p3.ID.String() || list.LastClean != p2.ID.String() {
		t.Fatalf("timeline: %d points, first infected %s, last clean %s", len(list.Points), list.FirstInfected, list.LastClean)
	}
	for _, p := range list.Points {
		if p.Verdict == nil || p.Verdict.Evidence != nil {
			t.Errorf("listed point %s: verdict %+v (the list carries no evidence)", p.ID[:8], p.Verdict)
		}
	}

	// Events: a verdict for each scan, and the change to infected.
	page, err := aud.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var changed []store.Event
	verdicts := 0
	for _, e := range page.Events {
		switch e.Kind {
		case "scan.verdict":
			verdicts++
		case "scan.verdict_changed":
			changed = append(changed, e)
		}
	}
	if verdicts != 4 || len(changed) != 1 {
		t.Fatalf("events: %d verdicts, %d changes: %+v", verdicts, len(changed), page.Events)
	}
	if e := changed[0]; e.Point != p3.ID.String() || e.Vault != "prod" || e.Data["from"] != "clean" || e.Data["to"] != "infected" || e.Data["previous"] != p2.ID.String() {
		t.Errorf("verdict change event: %+v", e)
	}
	if next, err := aud.Events(ctx, page.Next, 0); err != nil || len(next.Events) != 0 || next.Next != page.Next {
		t.Errorf("events after the last: %+v %v", next, err)
	}

	// Restoring the infected point needs allow_infected, and is audited.
	_, err = ops.StartRestore(ctx, "prod", p3.ID.String())
	if e := apiError(err); e == nil || e.Status != http.StatusConflict || e.Code != "point_infected" {
		t.Fatalf("restore of an infected point: %v", err)
	}
	r, err := remote.StartRestoreWith(ctx, ops, "prod", p3.ID.String(), api.RestoreRequest{AllowInfected: true})
	if err != nil {
		t.Fatalf("restore with allow_infected: %v", err)
	}
	if r.Verdict() == nil || r.Verdict().Level != store.VerdictInfected {
		t.Errorf("restore session's verdict: %+v", r.Verdict())
	}
	r.Close(ctx)
	restoreFrom(t, ops, "prod", p2.ID.String()[:8]) // the last clean point restores as ever
	audit, err := aud.Audit(ctx, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	var denied, allowed, scans int
	for _, e := range audit.Entries {
		var d map[string]any
		_ = json.Unmarshal(e.Detail, &d)
		switch {
		case e.Action == "point.restore" && e.Target == "point/prod/"+p3.ID.String() && e.Outcome == "denied":
			denied++
		case e.Action == "point.restore" && e.Target == "point/prod/"+p3.ID.String() && e.Outcome == "ok" && d["allow_infected"] == true && d["verdict"] == "infected":
			allowed++
		case e.Action == "point.scan" && e.Outcome == "ok":
			scans++
		}
	}
	if denied != 1 || allowed != 1 || scans != 4 {
		t.Errorf("audit: %d refused and %d allowed restores of the infected point, %d scans", denied, allowed, scans)
	}

	// Jobs of kind scan.
	jobs, err := vadmin.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(slices.DeleteFunc(jobs, func(j store.Job) bool { return j.Kind != "scan" || j.State != store.JobSucceded })); n != 4 {
		t.Errorf("%d succeeded scan jobs, want 4", n)
	}
}

func TestScanPermissions(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	ops := s.User(t, "ops", "restore-operator@prod")
	aud := s.User(t, "aud", "auditor")
	sec := s.User(t, "sec", "security-admin")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod"}); err != nil {
		t.Fatal(err)
	}
	src := documents(t)
	p1, _ := backupTo(t, host, "prod", "host1", src)
	// Scanning is off: no verdict until one is asked for.
	time.Sleep(100 * time.Millisecond)
	if p, err := vadmin.Point(ctx, "prod", p1.ID.String()); err != nil || p.Verdict != nil {
		t.Fatalf("point of a vault that does not scan: %+v %v", p.Verdict, err)
	}
	for name, c := range map[string]*client.Client{"backup-operator": host, "restore-operator": ops, "security-admin": sec} {
		_, err := c.Scan(ctx, "prod", p1.ID.String(), api.ScanRequest{})
		if e := apiError(err); e == nil || e.Status != http.StatusForbidden {
			t.Errorf("%s scans: %v", name, err)
		}
	}
	for name, c := range map[string]*client.Client{"backup-operator": host, "restore-operator": ops, "vault-admin": vadmin} {
		_, err := c.Events(ctx, 0, 0)
		if e := apiError(err); e == nil || e.Status != http.StatusForbidden {
			t.Errorf("%s reads events: %v", name, err)
		}
	}
	if _, err := sec.Events(ctx, 0, 0); err != nil {
		t.Errorf("security-admin reads events: %v", err)
	}
	rep, err := aud.Scan(ctx, "prod", "latest", api.ScanRequest{})
	if err != nil || rep.Level != store.VerdictClean || rep.Point != p1.ID.String() {
		t.Fatalf("auditor scans: %+v %v", rep, err)
	}
	// Turned on, the next point is scanned on its own.
	on := true
	if v, err := vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{Scan: &on}); err != nil || !v.Scan {
		t.Fatalf("turn scanning on: %+v %v", v, err)
	}
	s.Clock.Advance(time.Minute)
	p2, _ := backupTo(t, host, "prod", "host1", src)
	if v := waitVerdict(t, ops, "prod", p2.ID.String()); v.Verdict.Level != store.VerdictClean || v.Verdict.Previous != p1.ID.String() {
		t.Errorf("second point: %+v", v.Verdict)
	}
	// A point is not compared with itself.
	if _, err := vadmin.Scan(ctx, "prod", p2.ID.String(), api.ScanRequest{Previous: p2.ID.String()[:8]}); apiError(err) == nil || apiError(err).Status != http.StatusBadRequest {
		t.Errorf("scan against itself: %v", err)
	}
}

// TestScanningTurnedOnCatchesUp turns scanning on for a vault that holds
// points already: they get their verdicts, oldest first, so the change to
// infected is an event.
func TestScanningTurnedOnCatchesUp(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	aud := s.User(t, "aud", "auditor")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod"}); err != nil {
		t.Fatal(err)
	}
	src := documents(t)
	p1, _ := backupTo(t, host, "prod", "host1", src)
	s.Clock.Advance(time.Minute)
	encryptFiles(t, src, 25)
	p2, _ := backupTo(t, host, "prod", "host1", src)
	on := true
	if _, err := vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{Scan: &on}); err != nil {
		t.Fatal(err)
	}
	if v := waitVerdict(t, vadmin, "prod", p2.ID.String()); v.Verdict.Level != store.VerdictInfected {
		t.Fatalf("second point: %+v", v.Verdict)
	}
	if v := waitVerdict(t, vadmin, "prod", p1.ID.String()); v.Verdict.Level != store.VerdictClean {
		t.Fatalf("first point: %+v", v.Verdict)
	}
	page, err := aud.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Besides the two backups' backup.completed, the scans' events.
	var scans []store.Event
	for _, e := range page.Events {
		if strings.HasPrefix(e.Kind, "scan.") {
			scans = append(scans, e)
		}
	}
	if n := len(scans); n != 3 || len(page.Events) != 5 || scans[2].Kind != "scan.verdict_changed" || scans[2].Point != p2.ID.String() {
		t.Fatalf("events: %+v", page.Events)
	}
}

// A point judged on what changed must not look clean just because the
// attack is over: a point that keeps the encrypted files is as infected as
// the one that brought them, until they are replaced.
func TestScanCarriesInfectionForward(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	ops := s.User(t, "ops", "restore-operator@prod")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d", Scan: true}); err != nil {
		t.Fatal(err)
	}
	src := documents(t)
	originals := map[string][]byte{}
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			originals[p], err = os.ReadFile(p)
		}
		return err
	})
	p1, _ := backupTo(t, host, "prod", "host1", src)
	waitVerdict(t, vadmin, "prod", p1.ID.String())
	s.Clock.Advance(time.Hour)
	encrypted := encryptFiles(t, src, 25)
	p2, _ := backupTo(t, host, "prod", "host1", src)
	if v := waitVerdict(t, vadmin, "prod", p2.ID.String()); v.Verdict.Level != store.VerdictInfected {
		t.Fatalf("attacked point: %+v", v.Verdict)
	}

	// Nothing changes after the attack: still infected, with the files.
	s.Clock.Advance(time.Hour)
	p3, _ := backupTo(t, host, "prod", "host1", src)
	v3 := waitVerdict(t, vadmin, "prod", p3.ID.String())
	if v3.Verdict.Level != store.VerdictInfected || v3.Verdict.EvidenceCount < 25 {
		t.Fatalf("unchanged point after the attack: %+v", v3.Verdict)
	}
	for _, e := range v3.Verdict.Evidence {
		if !strings.HasPrefix(e.Reason, "unchanged since the previous point") {
			t.Errorf("carried finding %+v does not say it was carried", e)
		}
	}
	if _, err := ops.StartRestore(ctx, "prod", p3.ID.String()); apiError(err) == nil || apiError(err).Code != "point_infected" {
		t.Fatalf("restore of the point still holding encrypted files: %v", err)
	}

	// The files are restored from the clean point: clean again.
	s.Clock.Advance(time.Hour)
	for _, f := range encrypted {
		if err := os.WriteFile(f, originals[f], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p4, _ := backupTo(t, host, "prod", "host1", src)
	if v := waitVerdict(t, vadmin, "prod", p4.ID.String()); v.Verdict.Level != store.VerdictClean {
		t.Fatalf("point after recovery: %+v", v.Verdict)
	}
	list, err := ops.PointList(ctx, "prod", client.PointFilter{Host: "host1", Path: src})
	if err != nil {
		t.Fatal(err)
	}
	if list.FirstInfected != p2.ID.String() || list.LastClean != p1.ID.String() {
		t.Errorf("timeline: first infected %s, last clean %s; want %s and %s", list.FirstInfected, list.LastClean, p2.ID, p1.ID)
	}
}
