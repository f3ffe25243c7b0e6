package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// TestWorkloadAndCentralSites is the reference architecture end to end: a
// plan on the workload server runs on its schedule through the agent on
// the protected host; the backup's event, sent by the workload site's
// event rule, makes the central server pull the point into its
// compliance-locked vault, where it restores byte for byte; and nothing
// the workload site holds, its admin's token included, reaches or damages
// the central copy.
func TestWorkloadAndCentralSites(t *testing.T) {
	ctx := context.Background()
	secrets := t.TempDir()
	st := newSitesWith(t, servertest.Options{EventSecrets: secrets}, servertest.Options{})
	wadmin := st.work.User(t, "wplans", "vault-admin")

	// The central site registers the workload site; the workload site
	// sends its backups' events to the central site's webhook.
	r, err := st.centralAdmin.PutRemote(ctx, "workload", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint,
		Token: st.replToken, Follow: []store.Follow{{Vault: "prod", ToVault: "central"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "central"), []byte(r.WebhookSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	rule, _ := json.Marshal(map[string]any{"name": "to-central",
		"pattern": map[string]any{"kind": []string{"backup.completed"}, "vault": []string{"prod"}},
		"targets": []any{map[string]any{"webhook": map[string]any{"url": st.central.URL + r.WebhookPath, "secret": "central",
			"fingerprint": st.central.Fingerprint}}}})
	if _, err := wadmin.PutEventRule(ctx, "to-central", rule); err != nil {
		t.Fatal(err)
	}

	// The plan, on a fast schedule, for the agent on host1.
	apply(t, wadmin, `name: files
schedule:
  rate: every 1h
start_window: 10m
vault: prod
sources:
  - host: host1
    paths: [`+st.src+`]
`, client.ApplyOptions{})
	run := func() api.Point {
		t.Helper()
		before := len(jobsOf(t, wadmin, "plan"))
		st.work.Clock.Advance(time.Hour)
		st.central.Clock.Advance(time.Hour) // one wall clock for both sites
		waitFor(t, "the plan's run to come due", func() bool { return len(jobsOf(t, wadmin, "plan")) > before })
		out := runAgent(t, st.host, "host1")
		if len(out) != 1 || out[0].Report.State != api.RunSucceeded || len(out[0].Report.Points) != 1 {
			t.Fatalf("the agent's run: %+v", out)
		}
		return waitForCopy(t, st.centralAdmin, "central", out[0].Report.Points[0])
	}
	cp := run()
	if cp.Lock != "compliance" || cp.Origin.Site != "workload" || !cp.Expires.Equal(cp.Time.Add(90*24*time.Hour)) {
		t.Fatalf("the central copy: lock %q, origin %+v, expires %v", cp.Lock, cp.Origin, cp.Expires)
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	testfs.Compare(t, st.src, filepath.Join(restoreFrom(t, ops, "central", cp.ID[:8]), st.src))

	// The next run's point follows the same way, reading only what changed.
	if err := os.WriteFile(filepath.Join(st.src, "second.txt"), []byte("made between the runs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cp2 := run()
	if cp2.ID == cp.ID {
		t.Fatal("the second run's point was not copied")
	}
	testfs.Compare(t, st.src, filepath.Join(restoreFrom(t, ops, "central", cp2.ID[:8]), st.src))

	// The workload site's admin, and every credential the workload site
	// holds, try to reach or damage the central copies.
	for name, tok := range map[string]string{"workload admin": st.work.Admin.Token(), "workload vault-admin": wadmin.Token(),
		"replication token": st.replToken, "agent": st.host.Token()} {
		c, err := client.New(client.Options{URL: st.central.URL, Fingerprint: st.central.Fingerprint, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Points(ctx, "central", client.PointFilter{}); !client.IsStatus(err, 401) {
			t.Errorf("%s listing the central vault: %v, want 401", name, err)
		}
		if _, err := c.DeletePoint(ctx, "central", cp.ID[:8]); !client.IsStatus(err, 401) {
			t.Errorf("%s deleting the central copy: %v, want 401", name, err)
		}
		if _, err := c.Unlock(ctx, "central"); !client.IsStatus(err, 401) {
			t.Errorf("%s removing the central vault's lock: %v, want 401", name, err)
		}
	}
	// Once the lock's 72 hours to change it have passed, even the central
	// vault's own admin can neither remove the lock nor delete the copy
	// before it expires.
	st.central.Clock.Advance(73 * time.Hour)
	if _, err := st.centralAdmin.DeletePoint(ctx, "central", cp.ID[:8]); !client.IsStatus(err, 403) && !client.IsStatus(err, 409) {
		t.Errorf("deleting the compliance-locked copy: %v", err)
	}
	if _, err := st.centralAdmin.Unlock(ctx, "central"); err == nil {
		t.Error("the compliance lock was removed")
	}
	ps, err := st.centralAdmin.Points(ctx, "central", client.PointFilter{})
	if err != nil || len(ps) != 2 {
		t.Fatalf("the central vault after the attacks: %d points, %v", len(ps), err)
	}
}
