package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// hookSecret signs the test webhooks.
const hookSecret = "0123456789abcdef0123456789abcdef"

// eventSecrets returns a directory holding the secret "hook".
func eventSecrets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook"), []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// received is one request a receiver got.
type received struct {
	eventID    string
	deliveryID string
	kind       string
	body       []byte
}

// hookReceiver is a webhook endpoint that answers 503 while failing is set
// and checks every request's signature by the server's clock.
type hookReceiver struct {
	*httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	got     []received
	bad     []string
}

func newHookReceiver(t *testing.T, clock *servertest.Clock) *hookReceiver {
	rc := &hookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		if err := notify.VerifyWebhook([]byte(hookSecret), r.Header, body, clock.Now(), 0); err != nil {
			rc.bad = append(rc.bad, err.Error())
		}
		rc.got = append(rc.got, received{eventID: r.Header.Get(notify.HeaderEventID), deliveryID: r.Header.Get(notify.HeaderDeliveryID), kind: r.Header.Get(notify.HeaderEvent), body: body})
		rc.mu.Unlock()
		if rc.failing.Load() {
			http.Error(w, "receiver down for maintenance", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// requests returns the requests so far, failing the test if one was not
// signed with the secret.
func (rc *hookReceiver) requests(t *testing.T) []received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Fatalf("badly signed webhook requests: %v", rc.bad)
	}
	return append([]received(nil), rc.got...)
}

// onlyDelivery returns the one delivery the server lists.
func onlyDelivery(t *testing.T, c *client.Client) store.Delivery {
	t.Helper()
	ds, err := c.Deliveries(context.Background(), client.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

// apiStatus returns the HTTP status and message of a client error.
func apiStatus(t *testing.T, err error) (int, string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ce.Status, ce.Message
}

func webhookRule(name, u string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"name": %q, "pattern": {"kind": ["backup.completed"], "vault": ["prod"]},
		"targets": [{"webhook": {"url": %q, "secret": "hook"}}]}`, name, u))
}

// A rule routes backup.completed to a webhook that fails: the delivery is
// retried with a growing backoff, becomes a dead letter after its
// attempts, and once the receiver is fixed a replay delivers it exactly
// once more, as the same delivery of the same event.
func TestRuleDeliveryRetriesDeadLetterReplay(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{EventSecrets: eventSecrets(t), DeliveryAttempts: 3, DeliveryPoll: 10 * time.Millisecond})
	rc := newHookReceiver(t, s.Clock)
	rc.failing.Store(true)
	vadmin := s.User(t, "vadmin", "vault-admin")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "7d"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vadmin.PutEventRule(ctx, "ops", webhookRule("ops", rc.URL+"/hooks/s3cr3t-path")); err != nil {
		t.Fatal(err)
	}
	host := s.Service(t, "host1", "backup-operator@prod")
	src := t.TempDir()
	testfs.Build(t, src)
	p, _ := backupTo(t, host, "prod", "host1", src)

	// Each failed attempt waits longer: 5s, then 10s, less up to half.
	for attempt, base := range []time.Duration{5 * time.Second, 10 * time.Second} {
		var d store.Delivery
		waitFor(t, fmt.Sprintf("attempt %d to fail", attempt+1), func() bool {
			d = onlyDelivery(t, vadmin)
			return d.Attempts == attempt+1 && d.LastError != "" && d.LeaseUntil.IsZero()
		})
		if got := len(rc.requests(t)); got != attempt+1 {
			t.Fatalf("after attempt %d the receiver got %d requests", attempt+1, got)
		}
		wait := d.NextAt.Sub(s.Clock.Now())
		if d.State != store.DeliveryPending || wait < base/2 || wait > base {
			t.Fatalf("after attempt %d: state %s, due in %v; want pending, due in %v to %v", attempt+1, d.State, wait, base/2, base)
		}
		if !strings.Contains(d.LastError, "503") {
			t.Errorf("last error %q does not give the receiver's answer", d.LastError)
		}
		s.Clock.Advance(base)
	}
	var dead []store.Delivery
	waitFor(t, "the dead letter", func() bool {
		var err error
		dead, err = vadmin.Deliveries(ctx, client.DeliveryFilter{State: store.DeliveryDead})
		return err == nil && len(dead) == 1
	})
	d := dead[0]
	if d.Attempts != 3 || d.Rule != "ops" || d.Kind != "backup.completed" || !strings.Contains(d.LastError, "gave up after 3 attempts") {
		t.Fatalf("dead letter %+v", d)
	}
	if !strings.HasPrefix(d.TargetName, "webhook http://127.0.0.1:") || strings.Contains(d.TargetName, "s3cr3t") {
		t.Fatalf("the dead letter's target is named %q", d.TargetName)
	}
	var env struct{ ID, Subject string }
	if err := json.Unmarshal(d.Envelope, &env); err != nil || env.ID != d.EventID || env.Subject != p.ID.String() {
		t.Fatalf("the dead letter's envelope %s (%v): want event %s about point %s", d.Envelope, err, d.EventID, p.ID)
	}
	// The listing, as sent, holds neither the webhook's path nor its secret.
	body, err := vadmin.Stream(ctx, "/v1/deliveries", url.Values{"state": {"dead"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(body)
	body.Close()
	if strings.Contains(string(raw), "s3cr3t") || strings.Contains(string(raw), hookSecret) || !strings.Contains(string(raw), d.ID) {
		t.Fatalf("GET /v1/deliveries shows the webhook's URL or secret, or not the delivery: %s", raw)
	}
	if ds, err := vadmin.Deliveries(ctx, client.DeliveryFilter{State: store.DeliveryPending}); err != nil || len(ds) != 0 {
		t.Fatalf("pending deliveries %+v %v", ds, err)
	}
	if ds, err := vadmin.Deliveries(ctx, client.DeliveryFilter{Rule: "other"}); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries of another rule %+v %v", ds, err)
	}

	// A security-admin may read the dead letters, not replay them.
	if ds, err := s.Admin.Deliveries(ctx, client.DeliveryFilter{State: store.DeliveryDead}); err != nil || len(ds) != 1 {
		t.Fatalf("security-admin's listing %+v %v", ds, err)
	}
	if _, err := s.Admin.ReplayDelivery(ctx, d.ID); err == nil {
		t.Fatal("a security-admin replayed a dead letter")
	} else if st, _ := apiStatus(t, err); st != http.StatusForbidden {
		t.Fatalf("security-admin's replay: %v", err)
	}
	if got := len(rc.requests(t)); got != 3 {
		t.Fatalf("the receiver got %d requests before the replay, want 3", got)
	}

	rc.failing.Store(false)
	r, err := vadmin.ReplayDelivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != d.ID || r.Replays != 1 || r.State == store.DeliveryDead {
		t.Fatalf("replayed: %+v", r)
	}
	waitFor(t, "the replayed delivery", func() bool { return onlyDelivery(t, vadmin).State == store.DeliveryDelivered })
	final := onlyDelivery(t, vadmin)
	if final.ID != d.ID || final.Attempts != 1 || final.Replays != 1 || final.LastError != "" {
		t.Fatalf("delivered: %+v", final)
	}
	reqs := rc.requests(t)
	if len(reqs) != 4 {
		t.Fatalf("the receiver got %d requests, want 3 failed and 1 replayed", len(reqs))
	}
	for i, q := range reqs {
		if q.deliveryID != d.ID || q.eventID != d.EventID || q.kind != "backup.completed" {
			t.Errorf("request %d: delivery %s of event %s %s, want delivery %s of %s backup.completed", i, q.deliveryID, q.eventID, q.kind, d.ID, d.EventID)
		}
	}

	// Only dead letters are replayed.
	_, err = vadmin.ReplayDelivery(ctx, d.ID)
	if st, msg := apiStatus(t, err); st != http.StatusConflict || !strings.Contains(msg, "delivered, not a dead letter") {
		t.Fatalf("replaying a delivered delivery: %d %s", st, msg)
	}
	_, err = vadmin.ReplayDelivery(ctx, strings.Repeat("0", 32))
	if st, _ := apiStatus(t, err); st != http.StatusNotFound {
		t.Fatalf("replaying an unknown delivery: %v", err)
	}

	var replayed, denied bool
	for _, e := range auditEntries(t, s.User(t, "auditor1", "auditor")) {
		replayed = replayed || e.Action == "delivery.replay" && e.Outcome == audit.OutcomeOK && e.Actor == "vadmin" && e.Target == "delivery/"+d.ID
		denied = denied || e.Action == "delivery.replay" && e.Outcome == audit.OutcomeDenied && e.Actor == "admin"
	}
	if !replayed || !denied {
		t.Fatalf("audit: replay recorded %v, refusal recorded %v", replayed, denied)
	}
}

// Rules are created, replaced, listed, shown and removed; only a
// vault-admin of every vault manages them, and every call that changes
// one, or is refused, is audited.
func TestRuleLifecycleAndPermissions(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "7d"}); err != nil {
		t.Fatal(err)
	}
	r, err := vadmin.PutEventRule(ctx, "ops", webhookRule("ops", "https://alerts.example/bunker/token123"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "ops" || r.CreatedBy != "vadmin" || len(r.Targets) != 1 || !strings.HasPrefix(r.Targets[0], "webhook https://alerts.example/…#") {
		t.Fatalf("created %+v", r)
	}
	s.Clock.Advance(time.Hour)
	other := s.User(t, "vadmin2", "vault-admin")
	again := json.RawMessage(`{"name": "ops", "enabled": false, "description": "paused",
		"pattern": {"kind": [{"suffix": ".failed"}]}, "targets": [{"copy": {"action": "prod"}}]}`)
	r2, err := other.PutEventRule(ctx, "ops", again)
	if err != nil {
		t.Fatal(err)
	}
	if r2.CreatedBy != "vadmin" || !r2.CreatedAt.Equal(r.CreatedAt) || r2.UpdatedBy != "vadmin2" || !r2.UpdatedAt.After(r.UpdatedAt) ||
		len(r2.Targets) != 1 || r2.Targets[0] != "copy prod" {
		t.Fatalf("replaced %+v", r2)
	}
	var spec struct {
		Enabled     bool
		Description string
	}
	if err := json.Unmarshal(r2.Rule, &spec); err != nil || spec.Enabled || spec.Description != "paused" {
		t.Fatalf("the stored rule %s: %v", r2.Rule, err)
	}
	if _, err := vadmin.PutEventRule(ctx, "b-rule", webhookRule("b-rule", "https://b.example/")); err != nil {
		t.Fatal(err)
	}
	rs, err := vadmin.EventRules(ctx)
	if err != nil || len(rs) != 2 || rs[0].Name != "b-rule" || rs[1].Name != "ops" {
		t.Fatalf("list %+v %v", rs, err)
	}
	if got, err := vadmin.EventRule(ctx, "ops"); err != nil || string(got.Rule) != string(r2.Rule) {
		t.Fatalf("show %+v %v", got, err)
	}
	if err := vadmin.DeleteEventRule(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := vadmin.EventRule(ctx, "ops"); err == nil {
		t.Fatal("a removed rule is still shown")
	} else if st, _ := apiStatus(t, err); st != http.StatusNotFound {
		t.Fatal(err)
	}
	if err := vadmin.DeleteEventRule(ctx, "ops"); err == nil {
		t.Fatal("a removed rule was removed again")
	} else if st, _ := apiStatus(t, err); st != http.StatusNotFound {
		t.Fatal(err)
	}

	// Nobody but a vault-admin of every vault manages rules.
	prodAdmin := s.User(t, "prodadmin", "vault-admin@prod")
	host := s.Service(t, "host1", "backup-operator@prod")
	aud := s.User(t, "aud", "auditor")
	for name, c := range map[string]*client.Client{"vault-admin@prod": prodAdmin, "backup-operator": host, "security-admin": s.Admin, "auditor": aud} {
		_, err := c.PutEventRule(ctx, "evil", webhookRule("evil", "https://evil.example/"))
		if st, msg := apiStatus(t, err); st != http.StatusForbidden || !strings.Contains(msg, "rule.admin") {
			t.Errorf("%s put a rule: %d %s", name, st, msg)
		}
		if _, err := c.EventRules(ctx); err == nil {
			t.Errorf("%s listed the rules", name)
		}
		if err := c.DeleteEventRule(ctx, "b-rule"); err == nil {
			t.Errorf("%s removed a rule", name)
		}
	}
	if _, err := aud.Deliveries(ctx, client.DeliveryFilter{}); err == nil {
		t.Error("an auditor listed the deliveries")
	}
	if rs, err := vadmin.EventRules(ctx); err != nil || len(rs) != 1 {
		t.Fatalf("the refused calls changed the rules: %+v %v", rs, err)
	}
	actions := map[string]int{}
	for _, e := range auditEntries(t, s.User(t, "auditor1", "auditor")) {
		if strings.HasPrefix(e.Action, "rule.") {
			actions[e.Action+" "+e.Outcome+" "+e.Actor]++
		}
	}
	for _, want := range []string{"rule.put ok vadmin", "rule.put ok vadmin2", "rule.delete ok vadmin",
		"rule.put denied prodadmin", "rule.put denied host1", "rule.put denied admin", "rule.list denied aud", "rule.delete denied host1"} {
		if actions[want] == 0 {
			t.Errorf("no audit entry %q in %v", want, actions)
		}
	}
}

// Bad rules and bad queries are refused with the field at fault, and
// change nothing.
func TestRuleBadInputRefused(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	hook := `{"webhook": {"url": "https://h.example/", "secret": "hook"}}`
	for _, c := range []struct {
		name, body, want string
	}{
		{"r", `{"name": "r", "pattern": {"kinds": ["backup.failed"]}, "targets": [` + hook + `]}`, "pattern.kinds: not a field of the event"},
		{"r", `{"name": "r", "pattern": {"detail": {"level": ["a", {"prefixx": "b"}]}}, "targets": [` + hook + `]}`, `pattern.detail.level[1]: unknown matcher "prefixx"`},
		{"r", `{"name": "r", "pattern": {}, "targets": [` + hook + `]}`, "pattern"},
		{"r", `{"name": "r", "pattern": {"kind": ["a"]}, "targets": []}`, "targets: give at least one"},
		{"r", `{"name": "r", "pattern": {"kind": ["a"]}, "targets": [{"webhook": {"url": "ftp://h/", "secret": "hook"}}]}`, "targets[0].webhook.url"},
		{"r", `{"name": "r", "pattern": {"kind": ["a"]}, "targets": [{"webhook": {"url": "https://h/", "secret": "a/b"}}]}`, "targets[0].webhook.secret"},
		{"r", `{"name": "r", "pattern": {"kind": ["a"]}, "targets": [` + hook + `, {"copy": {"action": "nowhere"}}]}`, "targets[1].copy.action: no vault nowhere"},
		{"r", `{"name": "r", "enable": true, "pattern": {"kind": ["a"]}, "targets": [` + hook + `]}`, "enable: unknown field"},
		{"r", `{"name": "s", "pattern": {"kind": ["a"]}, "targets": [` + hook + `]}`, "name: the body names rule s but the path names r"},
		{"Bad", `{"name": "Bad", "pattern": {"kind": ["a"]}, "targets": [` + hook + `]}`, "name: "},
	} {
		_, err := vadmin.PutEventRule(ctx, c.name, json.RawMessage(c.body))
		if err == nil {
			t.Errorf("%s: accepted", c.body)
			continue
		}
		st, msg := apiStatus(t, err)
		if st != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 naming %q", c.body, st, msg, c.want)
		}
	}
	if rs, err := vadmin.EventRules(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("refused rules were stored: %+v %v", rs, err)
	}
	for _, c := range []struct {
		f    client.DeliveryFilter
		want string
	}{
		{client.DeliveryFilter{State: "lost"}, "state:"},
		{client.DeliveryFilter{Rule: "A B"}, "rule:"},
		{client.DeliveryFilter{Limit: 1001}, "limit:"},
	} {
		_, err := vadmin.Deliveries(ctx, c.f)
		if st, msg := apiStatus(t, err); st != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("%+v: %d %q, want 400 naming %q", c.f, st, msg, c.want)
		}
	}
	_, err := vadmin.ReplayDelivery(ctx, "xyz")
	if st, msg := apiStatus(t, err); st != http.StatusBadRequest || !strings.Contains(msg, "id:") {
		t.Errorf("replay of a malformed id: %d %q", st, msg)
	}
	failed := 0
	for _, e := range auditEntries(t, s.User(t, "auditor1", "auditor")) {
		if e.Action == "rule.put" && e.Outcome == audit.OutcomeFailed {
			failed++
		}
	}
	if failed != 10 {
		t.Errorf("%d refused rule.put calls audited, want 10", failed)
	}
}

// A rule whose target is a copy copies each new point of prod into
// central, once, as the event-rule principal.
func TestRuleCopyTarget(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{DeliveryPoll: 10 * time.Millisecond})
	vadmin := s.User(t, "vadmin", "vault-admin")
	for _, v := range []string{"prod", "central"} {
		if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: v, Retention: "30d"}); err != nil {
			t.Fatal(err)
		}
	}
	rule := json.RawMessage(`{"name": "to-central", "pattern": {"kind": ["backup.completed"], "vault": ["prod"]},
		"targets": [{"copy": {"action": "central"}}]}`)
	if _, err := vadmin.PutEventRule(ctx, "to-central", rule); err != nil {
		t.Fatal(err)
	}
	// An event about no point has nothing to copy: a dead letter at once.
	lockRule := json.RawMessage(`{"name": "lock-copy", "pattern": {"kind": ["vault.lock_changed"]},
		"targets": [{"copy": {"action": "central"}}]}`)
	if _, err := vadmin.PutEventRule(ctx, "lock-copy", lockRule); err != nil {
		t.Fatal(err)
	}
	if _, err := vadmin.Lock(ctx, "central", api.LockRequest{Mode: "governance", MinRetention: "1d"}); err != nil {
		t.Fatal(err)
	}
	var dead []store.Delivery
	waitFor(t, "the lock event's dead letter", func() bool {
		var err error
		dead, err = vadmin.Deliveries(ctx, client.DeliveryFilter{Rule: "lock-copy", State: store.DeliveryDead})
		return err == nil && len(dead) == 1
	})
	if d := dead[0]; d.Attempts != 1 || !strings.Contains(d.LastError, "names no point") {
		t.Fatalf("the lock event's delivery: %+v", d)
	}
	if err := vadmin.DeleteEventRule(ctx, "lock-copy"); err != nil {
		t.Fatal(err)
	}
	host := s.Service(t, "host1", "backup-operator@prod")
	src := t.TempDir()
	testfs.Build(t, src)
	p, _ := backupTo(t, host, "prod", "host1", src)

	var d store.Delivery
	waitFor(t, "the copy", func() bool {
		ds, err := vadmin.Deliveries(ctx, client.DeliveryFilter{Rule: "to-central"})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries of to-central: %+v %v", ds, err)
		}
		d = ds[0]
		return d.State != store.DeliveryPending
	})
	if d.State != store.DeliveryDelivered || d.TargetName != "copy central" {
		t.Fatalf("delivery %+v", d)
	}
	ps, err := vadmin.Points(ctx, "central", client.PointFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Origin == nil || ps[0].Origin.Vault != "prod" || ps[0].Origin.Point != p.ID.String() {
		t.Fatalf("central holds %+v; want one copy of prod's point %s", ps, p.ID)
	}
	ops := s.User(t, "ops", "restore-operator@central")
	target := restoreFrom(t, ops, "central", ps[0].ID[:8])
	testfs.Compare(t, src, filepath.Join(target, src))

	var copied bool
	for _, e := range auditEntries(t, s.User(t, "auditor1", "auditor")) {
		copied = copied || e.Action == "point.copy" && e.Outcome == audit.OutcomeOK && e.Actor == "event-rule" && e.Target == "point/central/"+ps[0].ID
	}
	if !copied {
		t.Fatal("the rule's copy is not audited as event-rule")
	}
}
