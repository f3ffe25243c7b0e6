package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/server"
	"github.com/bunkerhq/bunker/internal/server/servertest"
)

// receiver is a webhook endpoint that keeps the payloads whose signature
// verifies, and refuses the others.
type receiver struct {
	mu     sync.Mutex
	got    []notify.Payload
	forged int
}

func (rc *receiver) serve(secret []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := notify.VerifyWebhook(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			rc.forged++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p notify.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.got = append(rc.got, p)
	}
}

// kinds waits until the receiver holds events of every kind in want, and
// returns what it holds.
func (rc *receiver) kinds(t *testing.T, want ...string) []notify.Payload {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		have := map[string]bool{}
		for _, p := range rc.got {
			have[p.Bunker.Kind] = true
		}
		got := append([]notify.Payload(nil), rc.got...)
		rc.mu.Unlock()
		missing := ""
		for _, k := range want {
			if !have[k] {
				missing = k
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s notification in 10 s; received %+v", missing, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// webhookNotifier returns a notifier that delivers to a real HTTP
// receiver with a signed webhook, and the receiver.
func webhookNotifier(t *testing.T) (server.Notifier, *receiver) {
	t.Helper()
	secret := []byte("a webhook secret of 32 bytes....")
	rc := &receiver{}
	hs := httptest.NewServer(rc.serve(secret))
	t.Cleanup(hs.Close)
	wh, err := notify.NewWebhook(notify.WebhookConfig{URL: hs.URL + "/hooks/bunker", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	d, err := notify.New(notify.Options{Targets: []notify.Target{wh}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Close(ctx)
	})
	return server.DispatchNotifier{D: d}, rc
}

// TestApprovalNotificationsReachAWebhook: the workflow of a guarded
// deletion is delivered to a webhook as signed JSON that Slack and Teams
// accept (a text field) with the structured event beside it.
func TestApprovalNotificationsReachAWebhook(t *testing.T) {
	ctx := context.Background()
	n, rc := webhookNotifier(t)
	g := newGuardedTelling(t, n)
	g.lockProd(t, "governance")
	_, err := g.boss.DeletePoint(ctx, "prod", g.point[:8])
	r := pending(t, err)
	if _, err := g.boss.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	for _, a := range g.approvers[:2] {
		if _, err := a.Vote(ctx, r.Request.ID, approval.Approve, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.boss.ConfirmApproval(ctx, r.Request.ID, r.Hash); err != nil {
		t.Fatal(err)
	}
	got := rc.kinds(t, "approval.requested", "approval.pending", "approval.approved", "approval.executed")
	for _, p := range got {
		if !strings.HasPrefix(p.Bunker.Kind, "approval.") {
			continue // the team's invitations and activation
		}
		if p.Bunker.RequestID != r.Request.ID || p.Bunker.Vault != "prod" || !strings.Contains(p.Text, p.Bunker.Kind) {
			t.Errorf("payload %+v", p)
		}
		if p.Bunker.Kind == "approval.pending" && !strings.Contains(p.Text, string(approval.DeleteEarly)) {
			t.Errorf("the team's notice does not say what is asked: %q", p.Text)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.forged != 0 {
		t.Fatalf("%d deliveries failed their signature check", rc.forged)
	}
}

// TestGrantExpiryClosesAndNotifies: a restore-access grant past its
// expiry is closed (revoked by "expiry"), audited and notified, once.
func TestGrantExpiryClosesAndNotifies(t *testing.T) {
	ctx := context.Background()
	n := &notes{}
	v := newVaultedWith(t, servertest.Options{Notifier: n})
	g := v.grant(t, "1h")
	if len(n.of("grant.issued")) != 1 {
		t.Fatalf("grant opened without a notice: %+v", n.seen)
	}
	v.s.Clock.Advance(2 * time.Hour)
	for range 2 {
		gs, err := v.rescue.Grants(ctx, "")
		if err != nil || len(gs) != 1 || gs[0].ID != g.ID || gs[0].RevokedBy != "expiry" || gs[0].RevokedAt.IsZero() {
			t.Fatalf("grants after expiry: %+v %v", gs, err)
		}
	}
	if ns := n.of("grant.expired"); len(ns) != 1 || ns[0].fields["grant"] != g.ID {
		t.Fatalf("grant.expired notices: %+v", ns)
	}
	expired := 0
	for _, e := range auditEntries(t, v.aud) {
		if e.Action == "grant.expire" && e.Target == "grant/"+g.ID && e.Outcome == audit.OutcomeOK {
			expired++
		}
	}
	if expired != 1 {
		t.Fatalf("%d grant.expire audit entries, want 1", expired)
	}
}
