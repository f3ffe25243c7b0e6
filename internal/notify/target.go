package notify

import (
	"context"
	"errors"
	"time"
)

// Target is somewhere notifications are delivered.
type Target interface {
	// Name identifies the target in logs and outcomes. It holds no
	// secret: no password, and no webhook URL path, which often is one.
	Name() string
	// Deliver makes one attempt to deliver e, and returns soon after ctx
	// is done (the dispatcher's Close waits for it). A failure that
	// retrying cannot fix is a *DeliveryError with Permanent set; one
	// that it may fix is any other error, or a *DeliveryError that may
	// ask for a RetryAfter wait.
	Deliver(ctx context.Context, e Event) error
}

// DeliveryError is a failed attempt with what it means for the next one.
type DeliveryError struct {
	// Err is what went wrong.
	Err error
	// Permanent means retrying will not help: the receiver refused the
	// notification or the target is misconfigured.
	Permanent bool
	// RetryAfter, if positive, is how long the receiver asked to be left
	// alone before the next attempt.
	RetryAfter time.Duration
}

// Error returns the underlying error's text.
func (e *DeliveryError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// permanent marks err as not worth retrying.
func permanent(err error) error { return &DeliveryError{Err: err, Permanent: true} }

// IsPermanent reports whether err, or an error it wraps, is a permanent
// *DeliveryError.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// retryAfter returns the wait err asks for, or 0.
func retryAfter(err error) time.Duration {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}
