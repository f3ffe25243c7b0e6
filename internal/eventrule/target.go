package eventrule

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/notify"
)

// Attempt is one attempt to deliver an event to a target.
type Attempt struct {
	// DeliveryID is the delivery's stable id; Number counts the attempts
	// from 1.
	DeliveryID string
	Number     int
	Rule       string
	Target     Target
	Event      *event.Envelope
	// Raw is the envelope's JSON encoding, as the outbox holds it.
	Raw []byte
}

// Sender makes attempts. A failure that retrying cannot fix is a
// *notify.DeliveryError with Permanent set; any other error is retried,
// after the wait a *notify.DeliveryError's RetryAfter asks for, if longer
// than the backoff.
type Sender interface {
	Send(ctx context.Context, a Attempt) error
}

// SecretFunc returns the secret of the given name.
type SecretFunc func(ctx context.Context, name string) ([]byte, error)

// CopyFunc runs the named copy action for an event (whose Subject is the
// point to copy).
type CopyFunc func(ctx context.Context, action string, e *event.Envelope) error

// Runner is the Sender of bunker's targets: webhooks and email through
// package notify, commands, and copy actions through a callback.
type Runner struct {
	// Secret looks up webhook secrets by name.
	Secret SecretFunc
	// Copy runs copy actions; nil fails copy targets permanently.
	Copy CopyFunc
	// CommandDir, if set, is the directory whose programs command
	// targets may run; empty refuses every command target. Programs
	// must lie under it, as /etc/bunker/hooks/page-oncall.
	CommandDir string
	// RootCAs, if set, replaces the system's roots for webhooks.
	RootCAs *x509.CertPool
	// Now is the clock for webhook signatures; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	hooks map[string]*notify.Webhook // by URL, timeout and secret hash
}

// maxCachedHooks bounds the webhook targets a Runner keeps for reuse of
// their connections.
const maxCachedHooks = 64

// Send makes one attempt.
func (r *Runner) Send(ctx context.Context, a Attempt) error {
	t := a.Target
	switch {
	case t.Webhook != nil:
		return r.sendWebhook(ctx, t.Webhook, a)
	case t.Email != nil:
		return r.sendEmail(ctx, t.Email, a)
	case t.Command != nil:
		return r.runCommand(ctx, t.Command, a)
	case t.Copy != nil:
		if r.Copy == nil {
			return permanent(fmt.Errorf("copy %s: this server runs no copy actions", t.Copy.Action))
		}
		if err := r.Copy(ctx, t.Copy.Action, a.Event); err != nil {
			return fmt.Errorf("copy %s: %w", t.Copy.Action, err)
		}
		return nil
	}
	return permanent(errors.New("a target of no known kind"))
}

// permanent marks err as not worth retrying.
func permanent(err error) error { return &notify.DeliveryError{Err: err, Permanent: true} }

// notification returns the event in package notify's form. Its ID is the
// event's, the same on every attempt and every target.
func notification(e *event.Envelope) notify.Event {
	subject := e.Subject
	if k, ok := event.Lookup(e.Kind); ok && subject != "" && k.Subject != event.SubjectVault {
		subject = k.Subject + " " + subject
	}
	return notify.Event{ID: e.ID, Kind: e.Kind, Time: e.Time, Source: e.Source, Vault: e.Vault, Subject: subject,
		Actor: e.Actor, Detail: e.Detail}
}

func (r *Runner) sendWebhook(ctx context.Context, w *WebhookTarget, a Attempt) error {
	if r.Secret == nil {
		return permanent(fmt.Errorf("webhook secret %s: this server keeps no secrets", w.Secret))
	}
	secret, err := r.Secret(ctx, w.Secret)
	if err != nil {
		return fmt.Errorf("webhook secret %s: %w", w.Secret, err)
	}
	hook, err := r.webhook(w, secret)
	if err != nil {
		return permanent(err)
	}
	n := notification(a.Event)
	n.DeliveryID = a.DeliveryID
	return hook.Deliver(ctx, n)
}

// webhook returns the notify target for w with secret, reusing one made
// before so that its connections are reused.
func (r *Runner) webhook(w *WebhookTarget, secret []byte) (*notify.Webhook, error) {
	sum := sha256.Sum256(secret)
	key := w.URL + "\x00" + time.Duration(w.Timeout).String() + "\x00" + w.Fingerprint + "\x00" + hex.EncodeToString(sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[key]; h != nil {
		return h, nil
	}
	h, err := notify.NewWebhook(notify.WebhookConfig{URL: w.URL, Secret: secret, Timeout: time.Duration(w.Timeout), RootCAs: r.RootCAs,
		Fingerprint: w.Fingerprint, Now: r.Now})
	if err != nil {
		return nil, err
	}
	if r.hooks == nil || len(r.hooks) >= maxCachedHooks {
		r.hooks = map[string]*notify.Webhook{}
	}
	r.hooks[key] = h
	return h, nil
}

func (r *Runner) sendEmail(ctx context.Context, e *EmailTarget, a Attempt) error {
	spec, err := notify.ParseTarget(e.SMTP)
	if err != nil {
		return permanent(err)
	}
	if spec.Email != nil {
		spec.Email.Now = r.Now
	}
	t, err := spec.Target(nil) // reads the password and CA files
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	return t.Deliver(ctx, notification(a.Event))
}

// underDir reports whether the clean absolute path p lies under dir.
func underDir(p, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return dir != "" && strings.HasPrefix(p, dir+"/")
}
