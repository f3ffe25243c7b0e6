package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var testSecret = []byte("0123456789abcdef-webhook-secret")

// hook is a webhook receiver that verifies each request and answers with
// the next of its statuses (200 once they run out).
type hook struct {
	t        testing.TB
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	header   http.Header // sent with every reply
	requests []hookRequest
}

// hookRequest is one request a hook received.
type hookRequest struct {
	header http.Header
	body   []byte
	verify error
}

// startHook starts a receiver on a loopback port.
func startHook(t testing.TB, statuses ...int) *hook {
	h := &hook{t: t, statuses: statuses, header: http.Header{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = append(h.requests, hookRequest{header: r.Header.Clone(), body: body,
		verify: VerifyWebhook(testSecret, r.Header, body, time.Now(), time.Minute)})
	status := http.StatusOK
	if len(h.statuses) > 0 {
		status, h.statuses = h.statuses[0], h.statuses[1:]
	}
	for k, v := range h.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

// received returns the requests so far.
func (h *hook) received() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.requests...)
}

// url is the receiver's URL, with a path that stands for a secret token.
func (h *hook) url() string { return h.srv.URL + "/services/T0/B0/tokenXYZ?sig=querysecret" }

func newWebhook(t testing.TB, url string) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookConfig{URL: url, Secret: testSecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookSignedPayload(t *testing.T) {
	h := startHook(t)
	e := testEvent()
	e.Subject = "<!channel> & <https://evil.example|click>"
	if err := newWebhook(t, h.url()).Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	reqs := h.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.verify != nil {
		t.Fatalf("signature does not verify: %v", r.verify)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.header.Get(HeaderEvent) != e.Kind || r.header.Get(HeaderEventID) != e.ID {
		t.Errorf("event headers %q %q", r.header.Get(HeaderEvent), r.header.Get(HeaderEventID))
	}
	var p struct {
		Text   string `json:"text"`
		Bunker struct {
			Version   int            `json:"version"`
			ID        string         `json:"id"`
			Kind      string         `json:"kind"`
			Time      time.Time      `json:"time"`
			Vault     string         `json:"vault"`
			Subject   string         `json:"subject"`
			Actor     string         `json:"actor"`
			RequestID string         `json:"request_id"`
			Detail    map[string]any `json:"detail"`
		} `json:"bunker"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	b := p.Bunker
	if b.Version != 1 || b.ID != e.ID || b.Kind != e.Kind || !b.Time.Equal(e.Time) || b.Vault != e.Vault ||
		b.Subject != e.Subject || b.Actor != e.Actor || b.RequestID != e.RequestID || b.Detail["operation"] != "point.delete" {
		t.Errorf("bunker object %+v", b)
	}
	// Slack turns <…> into mentions and links: the text has none.
	if strings.ContainsAny(p.Text, "<>") || !strings.Contains(p.Text, "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;") {
		t.Errorf("text %q is not escaped", p.Text)
	}
	if !strings.HasPrefix(p.Text, "[bunker] approval.requested, vault prod: ") {
		t.Errorf("text %q", p.Text)
	}
}

func TestVerifyWebhook(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"text":"hello","bunker":{"kind":"grant.issued"}}`)
	signed := func(ts int64, secret, body []byte) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, Sign(secret, ts, body))
		return h
	}
	good := signed(now.Unix(), testSecret, body)
	if err := VerifyWebhook(testSecret, good, body, now, time.Minute); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	replayed := good.Clone()
	replayed.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+30, 10))
	rotated := good.Clone()
	rotated.Set(HeaderSignature, "sha256=00, "+good.Get(HeaderSignature))
	if err := VerifyWebhook(testSecret, rotated, body, now, time.Minute); err != nil {
		t.Errorf("one matching signature among several: %v", err)
	}
	tampered := bytes.Replace(body, []byte("grant.issued"), []byte("grant.revoked"), 1)
	for _, tc := range []struct {
		name   string
		secret []byte
		header http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"tampered body", testSecret, good, tampered, now, ErrBadSignature},
		{"body with a byte added", testSecret, good, append(bytes.Clone(body), ' '), now, ErrBadSignature},
		{"wrong secret", []byte("another secret of enough length"), good, body, now, ErrBadSignature},
		{"timestamp changed", testSecret, replayed, body, now, ErrBadSignature},
		{"stale", testSecret, good, body, now.Add(61 * time.Second), ErrStale},
		{"from the future", testSecret, good, body, now.Add(-61 * time.Second), ErrStale},
		{"old, re-signed with the wrong secret", testSecret, signed(now.Unix(), []byte("x"), body), body, now, ErrBadSignature},
		{"no headers", testSecret, http.Header{}, body, now, ErrNoSignature},
	} {
		if err := VerifyWebhook(tc.secret, tc.header, tc.body, tc.now, time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, ts := range []string{"", "abc", "-5", "+1800000000", "1800000000.5", "99999999999999999999"} {
		h := good.Clone()
		h.Set(HeaderTimestamp, ts)
		if err := VerifyWebhook(testSecret, h, body, now, time.Minute); err == nil {
			t.Errorf("timestamp %q accepted", ts)
		}
	}
	if err := VerifyWebhook(nil, good, body, now, time.Minute); err == nil {
		t.Error("an empty secret verified")
	}
	// maxSkew 0 means the default of five minutes.
	if err := VerifyWebhook(testSecret, good, body, now.Add(4*time.Minute), 0); err != nil {
		t.Errorf("4 minutes with the default skew: %v", err)
	}
	if err := VerifyWebhook(testSecret, good, body, now.Add(6*time.Minute), 0); !errors.Is(err, ErrStale) {
		t.Errorf("6 minutes with the default skew: %v", err)
	}
}

// The result of one reply: what is permanent, what is retried after how
// long. No error names the URL's path or query.
func TestWebhookReplies(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		status     int
		retryAfter string
		permanent  bool
		wait       time.Duration
	}{
		{200, "", false, 0},
		{204, "", false, 0},
		{400, "", true, 0},
		{401, "", true, 0},
		{404, "", true, 0},
		{410, "", true, 0},
		{302, "", true, 0},
		{408, "", false, 0},
		{429, "7", false, 7 * time.Second},
		{429, now.Add(90 * time.Second).Format(http.TimeFormat), false, 90 * time.Second},
		{429, "soon", false, 0},
		{500, "", false, 0},
		{503, "120", false, 2 * time.Minute},
	} {
		h := startHook(t, tc.status)
		if tc.retryAfter != "" {
			h.header.Set("Retry-After", tc.retryAfter)
		}
		if tc.status == 302 {
			h.header.Set("Location", h.srv.URL+"/elsewhere")
		}
		w, err := NewWebhook(WebhookConfig{URL: h.url(), Secret: testSecret, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		err = w.Deliver(context.Background(), testEvent())
		if tc.status < 300 {
			if err != nil {
				t.Errorf("%d: %v", tc.status, err)
			}
			continue
		}
		if err == nil || IsPermanent(err) != tc.permanent || retryAfter(err) != tc.wait {
			t.Errorf("%d Retry-After %q: %v (permanent %v, retry after %v), want permanent %v, retry after %v",
				tc.status, tc.retryAfter, err, IsPermanent(err), retryAfter(err), tc.permanent, tc.wait)
		}
		if err != nil && (strings.Contains(err.Error(), "tokenXYZ") || strings.Contains(err.Error(), "querysecret")) {
			t.Errorf("%d: error %q shows the URL", tc.status, err)
		}
		if n := len(h.received()); n != 1 {
			t.Errorf("%d: %d requests, want 1 (redirects are not followed)", tc.status, n)
		}
	}
}

// Network errors are temporary and do not show the URL either.
func TestWebhookNetworkError(t *testing.T) {
	h := startHook(t)
	url := h.url()
	h.srv.Close()
	err := newWebhook(t, url).Deliver(context.Background(), testEvent())
	if err == nil || IsPermanent(err) {
		t.Fatalf("Deliver to a closed port: %v, want a temporary failure", err)
	}
	if strings.Contains(err.Error(), "tokenXYZ") || strings.Contains(err.Error(), "querysecret") {
		t.Errorf("error %q shows the URL", err)
	}
}

// A receiver that does not answer in time fails the attempt.
func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	w, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: testSecret, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = w.Deliver(context.Background(), testEvent())
	if err == nil || IsPermanent(err) {
		t.Fatalf("Deliver: %v, want a temporary failure", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Deliver took %v with a 100ms timeout", d)
	}
}

// Over https the receiver's certificate is verified: against RootCAs when
// given, the system's roots otherwise (which refuse a test certificate,
// permanently).
func TestWebhookTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := VerifyWebhook(testSecret, r.Header, body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hook", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Deliver(context.Background(), testEvent()); err == nil || !IsPermanent(err) {
		t.Errorf("untrusted certificate: %v, want a permanent failure", err)
	}
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	w, err = NewWebhook(WebhookConfig{URL: srv.URL + "/hook", Secret: testSecret, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Deliver(context.Background(), testEvent()); err != nil {
		t.Errorf("trusted certificate: %v", err)
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		url    string
		secret []byte
		want   string
	}{
		{"http://hooks.example.com/x", testSecret, "plain http only to a loopback host"},
		{"ftp://hooks.example.com/x", testSecret, "scheme"},
		{"https://user:pw@hooks.example.com/x", testSecret, "user information"},
		{"https://hooks.example.com/x#frag", testSecret, "fragment"},
		{"https:///x", testSecret, "want https://host/path"},
		{"https://hooks.example.com:0/x", testSecret, "port"},
		{"https://hooks.example.com/x", []byte("short"), "at least 16"},
		{"https://hooks.example.com/x", nil, "at least 16"},
	} {
		err := WebhookConfig{URL: tc.url, Secret: tc.secret}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: error %q shows the credentials", tc.url, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]/x", "https://hooks.slack.com/services/T/B/X"} {
		if err := (WebhookConfig{URL: u, Secret: testSecret}).Validate(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// Two webhooks on one host have different names, and neither shows the path.
func TestWebhookName(t *testing.T) {
	a := newWebhook(t, "https://hooks.example.com/services/AAA")
	b := newWebhook(t, "https://hooks.example.com/services/BBB")
	if a.Name() == b.Name() || strings.Contains(a.Name(), "AAA") || !strings.HasPrefix(a.Name(), "https://hooks.example.com/…#") {
		t.Errorf("names %q and %q", a.Name(), b.Name())
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := ReadSecretFile(write("ok", string(testSecret)+"\r\n\n"))
	if err != nil || !bytes.Equal(got, testSecret) {
		t.Errorf("ReadSecretFile: %q, %v", got, err)
	}
	if _, err := ReadSecretFile(write("short", "tooshort\n")); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("a short secret: %v", err)
	}
	if _, err := ReadSecretFile(dir + "/missing"); err == nil {
		t.Error("a missing file")
	}
}
