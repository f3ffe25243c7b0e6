package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	post := eventPoster(t, st.central)
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

// A workload site taken over signs events as fast as it can: the central
// server looks at it once at once and once more after the nudge gap, not
// once per event.
func TestRemoteWebhookNudgesArePaced(t *testing.T) {
	ctx := context.Background()
	st := newSitesWith(t, servertest.Options{}, servertest.Options{NudgeGap: time.Second})
	r, err := st.centralAdmin.PutRemote(ctx, "workload", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint,
		Token: st.replToken, Follow: []store.Follow{{Vault: "prod", ToVault: "central"}}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	post := eventPoster(t, st.central)
	looks := func() int {
		return metric(t, st.work, `bunker_http_requests_total{code="200",route="GET /v1/vaults/{vault}/points"}`)
	}
	before := looks()
	for range 30 {
		if code := post(r.WebhookPath, []byte(r.WebhookSecret), st.central.Clock.Now()); code != http.StatusAccepted {
			t.Fatalf("a signed event: HTTP %d", code)
		}
	}
	// The owed look comes once the gap has passed; nothing after it.
	deadline := time.Now().Add(30 * time.Second)
	for looks()-before < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := looks() - before; n != 2 {
		t.Fatalf("%d looks at the remote after 30 events, want 2", n)
	}
	waitForCopy(t, st.centralAdmin, "central", p.ID.String())
}

// eventPoster returns a function that posts a backup.completed event of
// vault prod to path on server s, signed with secret at ts unless secret
// is nil, and returns the HTTP status.
func eventPoster(t *testing.T, s *servertest.Server) func(path string, secret []byte, ts time.Time) int {
	t.Helper()
	tcfg, err := tlsutil.ClientConfig(s.Fingerprint, "")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	body, _ := json.Marshal(notify.NewPayload(notify.Event{ID: "ev1", Kind: "backup.completed", Time: time.Now(), Vault: "prod"}))
	return func(path string, secret []byte, ts time.Time) int {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+path, bytes.NewReader(body))
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
}

// metric returns the value of one counter series of server s (0 if it
// has none yet).
func metric(t *testing.T, s *servertest.Server, series string) int {
	t.Helper()
	tcfg, err := tlsutil.ClientConfig(s.Fingerprint, "")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	resp, err := hc.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, v)
			}
			return int(n)
		}
	}
	return 0
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
