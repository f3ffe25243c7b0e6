package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/tlsutil"
)

// Webhook request headers.
const (
	HeaderTimestamp = "X-Bunker-Timestamp" // Unix seconds when the request was signed
	HeaderSignature = "X-Bunker-Signature" // "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>"
	HeaderEvent     = "X-Bunker-Event"     // the event's kind
	HeaderEventID   = "X-Bunker-Event-ID"  // the event's ID, the same on every retry
	// HeaderDeliveryID is an event rule's delivery's ID, the same on every
	// attempt and replay; sent only for deliveries of event rules.
	HeaderDeliveryID = "X-Bunker-Delivery-ID"
)

// Webhook defaults and limits.
const (
	DefaultWebhookTimeout = 10 * time.Second
	MinWebhookSecret      = 16 // bytes
	maxErrorBody          = 256
	maxDrainBody          = 64 << 10
	maxURLLen             = 2048
)

// PayloadVersion is the version of the "bunker" object of a webhook body.
const PayloadVersion = 1

// WebhookConfig is a webhook target.
type WebhookConfig struct {
	// URL receives the POST requests. It is https, or http for a
	// loopback host only. Its path and query are treated as secret: they
	// appear in no log or error.
	URL string
	// Secret signs every request; at least MinWebhookSecret bytes.
	Secret []byte
	// Timeout bounds each request, from connecting to reading the reply;
	// 0 means DefaultWebhookTimeout.
	Timeout time.Duration
	// RootCAs, if set, replaces the system's roots for verifying the
	// receiver's certificate.
	RootCAs *x509.CertPool
	// Fingerprint, when set, pins the receiver's certificate instead
	// ("sha256:…", as tlsutil reads it): RootCAs and the host name are
	// not consulted.
	Fingerprint string
	// Now is the clock for the signature's timestamp and for Retry-After
	// dates; nil means time.Now.
	Now func() time.Time
}

// Validate checks c without touching the network.
func (c WebhookConfig) Validate() error {
	if _, err := parseWebhookURL(c.URL); err != nil {
		return err
	}
	if len(c.Secret) < MinWebhookSecret {
		return fmt.Errorf("webhook %s: the secret is %d bytes, want at least %d", redactURL(c.URL), len(c.Secret), MinWebhookSecret)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("webhook %s: negative timeout %v", redactURL(c.URL), c.Timeout)
	}
	return nil
}

// parseWebhookURL accepts an absolute https URL, or an http one to a
// loopback host, with no user information or fragment.
func parseWebhookURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLen {
		return nil, fmt.Errorf("webhook URL of %d bytes: at most %d", len(raw), maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return nil, errors.New("webhook URL: want https://host/path")
	}
	name := redactURL(raw)
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("webhook %s: plain http only to a loopback host; use https", name)
		}
	default:
		return nil, fmt.Errorf("webhook URL: scheme %q, want https", clip(clean(u.Scheme), 20))
	}
	if u.User != nil {
		return nil, fmt.Errorf("webhook %s: user information in the URL is not supported", name)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("webhook %s: a fragment (#…) is never sent; remove it", name)
	}
	if err := checkHost(u.Hostname()); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", name, err)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("webhook %s: port %q is not 1 to 65535", name, clip(p, 10))
		}
	}
	return u, nil
}

// redactURL names a URL by scheme and host only, with a short hash of the
// whole URL so that two webhooks on one host can be told apart, as in
// "https://hooks.example/…#1a2b3c4d".
func redactURL(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	tag := hex.EncodeToString(sum[:4])
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme == "" {
		return "webhook#" + tag
	}
	return clip(clean(u.Scheme+"://"+u.Host), 120) + "/…#" + tag
}

// ReadSecretFile reads a webhook secret from a file: its bytes without the
// trailing line breaks, at least MinWebhookSecret of them.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < MinWebhookSecret {
		return nil, fmt.Errorf("webhook secret %s: %d bytes, want at least %d", path, len(b), MinWebhookSecret)
	}
	return b, nil
}

// Webhook delivers events as signed JSON POST requests.
type Webhook struct {
	url    string
	name   string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns a webhook target for c.
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultWebhookTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	if c.Fingerprint != "" {
		pinned, err := tlsutil.ClientConfig(c.Fingerprint, "")
		if err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		tr.TLSClientConfig = pinned
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Webhook{
		url:    c.URL,
		name:   redactURL(c.URL),
		secret: bytes.Clone(c.Secret),
		client: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// A redirect would carry a signed notification elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: now,
	}, nil
}

// Name returns the URL's scheme and host and a hash of the whole URL.
func (w *Webhook) Name() string { return w.name }

// Payload is the body of a webhook request. Slack and Microsoft Teams
// incoming webhooks show Text; other receivers read Bunker.
type Payload struct {
	// Text is Event.Text with '&', '<' and '>' escaped as HTML entities,
	// as Slack requires, so that no event can mention or link.
	Text string `json:"text"`
	// Bunker is the event itself.
	Bunker PayloadEvent `json:"bunker"`
}

// PayloadEvent is the event in a webhook body, with the payload's version.
type PayloadEvent struct {
	Version int `json:"version"`
	Event
}

// NewPayload returns the webhook body for e.
func NewPayload(e Event) Payload {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return Payload{Text: esc.Replace(e.Text()), Bunker: PayloadEvent{Version: PayloadVersion, Event: e}}
}

// Deliver posts e once. A 2xx reply is success; 408, 429 and 5xx replies
// and network errors may be retried (after the reply's Retry-After, if
// any); any other reply is a permanent failure.
func (w *Webhook) Deliver(ctx context.Context, e Event) error {
	body, err := json.Marshal(NewPayload(e))
	if err != nil {
		return permanent(fmt.Errorf("webhook %s: encode event: %w", w.name, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("webhook %s: %w", w.name, stripURL(err)))
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bunker")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	req.Header.Set(HeaderEvent, clean(e.Kind))
	if e.ID != "" {
		req.Header.Set(HeaderEventID, clean(e.ID))
	}
	if e.DeliveryID != "" {
		req.Header.Set(HeaderDeliveryID, clean(e.DeliveryID))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		err = fmt.Errorf("webhook %s: %w", w.name, stripURL(err))
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			return permanent(err)
		}
		return err
	}
	defer resp.Body.Close()
	return w.reply(resp)
}

// reply turns a response into Deliver's result.
func (w *Webhook) reply(resp *http.Response) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody))
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	err := fmt.Errorf("webhook %s: %s", w.name, resp.Status)
	if s := strings.TrimSpace(clean(string(snippet))); s != "" {
		err = fmt.Errorf("%w: %s", err, clip(s, 200))
	}
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &DeliveryError{Err: err, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), w.now())}
	case code >= 300 && code <= 399:
		return permanent(fmt.Errorf("%w (redirects are not followed: give the final URL)", err))
	default:
		return permanent(err)
	}
}

// parseRetryAfter reads a Retry-After value, seconds or an HTTP date, as a
// wait from now; 0 if it is absent, malformed or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// stripURL removes the URL that net/http puts in its errors, since the
// URL may hold a secret.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Sign returns the X-Bunker-Signature value for a body sent at Unix time
// ts: "sha256=" followed by the hex HMAC-SHA256, keyed with secret, of the
// decimal timestamp, a dot and the body.
func Sign(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of VerifyWebhook.
var (
	ErrNoSignature  = errors.New("webhook: no X-Bunker-Timestamp or X-Bunker-Signature header")
	ErrBadSignature = errors.New("webhook: the signature does not match the body")
	ErrStale        = errors.New("webhook: the timestamp is too far from now")
)

// DefaultMaxSkew is VerifyWebhook's tolerance when it is given none.
const DefaultMaxSkew = 5 * time.Minute

// VerifyWebhook checks a received webhook request: its X-Bunker-Signature
// must be the HMAC of its X-Bunker-Timestamp and body under secret, and the
// timestamp within maxSkew of now (DefaultMaxSkew if maxSkew ≤ 0), so that
// a captured request cannot be replayed later. The signature header may
// hold several comma-separated values; one matching is enough. Receivers
// should also drop events whose ID they have already seen.
func VerifyWebhook(secret []byte, header http.Header, body []byte, now time.Time, maxSkew time.Duration) error {
	if len(secret) == 0 {
		return errors.New("webhook: no secret to verify with")
	}
	tsText, sigs := header.Get(HeaderTimestamp), header.Values(HeaderSignature)
	if tsText == "" || len(sigs) == 0 {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts < 0 || strings.HasPrefix(tsText, "+") {
		return fmt.Errorf("webhook: timestamp %q is not Unix seconds", clip(clean(tsText), 30))
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if skew := now.Unix() - ts; skew > int64(maxSkew/time.Second) || -skew > int64(maxSkew/time.Second) {
		return fmt.Errorf("%w: signed at %s, %d s from now, more than %v", ErrStale, time.Unix(ts, 0).UTC().Format(time.RFC3339), skew, maxSkew)
	}
	want := []byte(Sign(secret, ts, body))
	for _, h := range sigs {
		for s := range strings.SplitSeq(h, ",") {
			if hmac.Equal([]byte(strings.TrimSpace(s)), want) {
				return nil
			}
		}
	}
	return ErrBadSignature
}
