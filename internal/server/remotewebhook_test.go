package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
	"github.com/bunkerhq/bunker/internal/tlsutil"
)

// TestRemoteWebhookPullsAtOnce: the workload site's event rule tells the
// central site of each new point by a signed webhook, and the central
// site, which does not poll here, pulls it at once. Forged, unsigned,
// stale and misdirected events are refused and pull nothing.
func TestRemoteWebhookPullsAtOnce(t *testing.T) {
	ctx := context.Background()
	secrets := t.TempDir()
	st := newSitesWith(t, servertest.Options{EventSecrets: secrets}, servertest.Options{})
	r, err := st.centralAdmin.PutRemote(ctx, "workload", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint,
		Token: st.replToken, Follow: []store.Follow{{Vault: "prod", ToVault: "central"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.WebhookPath != "/v1/remotes/workload/events" || len(r.WebhookSecret) < 16 {
		t.Fatalf("registration answer: path %q, secret of %d bytes", r.WebhookPath, len(r.WebhookSecret))
	}
	listed, err := st.centralAdmin.Remotes(ctx)
	if err != nil || len(listed) != 1 || listed[0].WebhookSecret != "" {
		t.Fatalf("the listing shows the webhook secret, or fails: %+v %v", listed, err)
	}

	// The attacker, who knows the URL but not the secret.
	tcfg, err := tlsutil.ClientConfig(st.central.Fingerprint, "")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	body, _ := json.Marshal(notify.NewPayload(notify.Event{ID: "ev1", Kind: "backup.completed", Time: time.Now(), Vault: "prod"}))
	post := func(path string, secret []byte, ts time.Time) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.central.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if secret != nil {
			req.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
			req.Header.Set(notify.HeaderSignature, notify.Sign(secret, ts.Unix(), body))
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := st.central.Clock.Now()
	for name, c := range map[string]struct {
		path   string
		secret []byte
		ts     time.Time
	}{
		"unsigned":       {r.WebhookPath, nil, now},
		"wrong secret":   {r.WebhookPath, []byte("not-the-webhook-secret"), now},
		"stale":          {r.WebhookPath, []byte(r.WebhookSecret), now.Add(-time.Hour)},
		"unknown remote": {"/v1/remotes/nobody/events", []byte(r.WebhookSecret), now},
	} {
		if code := post(c.path, c.secret, c.ts); code != http.StatusUnauthorized {
			t.Errorf("%s event: HTTP %d, want 401", name, code)
		}
	}
	if code := post(r.WebhookPath, []byte(r.WebhookSecret), now); code != http.StatusAccepted {
		t.Fatalf("a signed event: HTTP %d, want 202", code)
	}
	outcomes := map[string]int{}
	for _, e := range auditEntries(t, st.central.User(t, "caud", "auditor")) {
		if e.Action == "remote.event" {
			outcomes[e.Outcome]++
		}
	}
	if outcomes["denied"] != 4 || outcomes["ok"] != 1 {
		t.Errorf("remote.event audit outcomes %v, want 4 denied and 1 ok", outcomes)
	}

	// The workload site's rule, with the secret as the central site gave it.
	if err := os.WriteFile(filepath.Join(secrets, "central"), []byte(r.WebhookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rule, _ := json.Marshal(map[string]any{"name": "to-central",
		"pattern": map[string]any{"kind": []string{"backup.completed"}, "vault": []string{"prod"}},
		"targets": []any{map[string]any{"webhook": map[string]any{"url": st.central.URL + r.WebhookPath, "secret": "central",
			"fingerprint": st.central.Fingerprint}}}})
	if _, err := st.work.User(t, "wrules", "vault-admin").PutEventRule(ctx, "to-central", rule); err != nil {
		t.Fatal(err)
	}
	p1, _ := backupTo(t, st.host, "prod", "host1", st.src)
	cp := waitForCopy(t, st.centralAdmin, "central", p1.ID.String())
	if cp.Origin.Site != "workload" || cp.Lock != "compliance" {
		t.Fatalf("the copy: %+v", cp)
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	target := restoreFrom(t, ops, "central", cp.ID[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))
}

// waitForCopy waits until vault holds a copy of the point origin.
func waitForCopy(t *testing.T, c *client.Client, vault, origin string) api.Point {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ps, err := c.Points(context.Background(), vault, client.PointFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Origin != nil && p.Origin.Point == origin {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no copy of point %s in vault %s", origin, vault)
	return api.Point{}
}
