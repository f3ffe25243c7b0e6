package store

import (
	"context"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
)

// CopyPair says that the source blob Src of a copy was stored in the
// destination vault as Dst, of the same type.
type CopyPair struct {
	Src blob.Handle
	Dst blob.ID
}

// CopyPairs remembers, per scope (one source vault copied into one
// destination vault), which source blob became which destination blob, so
// that later copies read only what is new.
type CopyPairs interface {
	// LookupCopyPairs returns the destination ids known in scope for hs;
	// those it does not know are absent.
	LookupCopyPairs(ctx context.Context, scope string, hs []blob.Handle) (map[blob.Handle]blob.ID, error)
	// RecordCopyPairs adds pairs to scope; a known pair is replaced.
	RecordCopyPairs(ctx context.Context, scope string, ps []CopyPair) error
	// DeleteCopyPairs forgets every pair of scope.
	DeleteCopyPairs(ctx context.Context, scope string) error
}

// Remote is another bunker server that this one pulls points from: its
// URL, the pinned fingerprint of its certificate, the read-only
// replication token it issued (sealed by the server's secret box), and the
// vaults followed there.
type Remote struct {
	Name        string
	URL         string
	Fingerprint string
	TokenSealed []byte
	// WebhookSealed is the secret that signs the remote's events sent to
	// this server (POST /v1/remotes/{name}/events), sealed like the token.
	WebhookSealed []byte
	Follow        []Follow
	CreatedAt     time.Time
	CreatedBy     string
	UpdatedAt     time.Time
	UpdatedBy     string
}

// Follow says that every new point of vault Vault on a remote is pulled
// into vault ToVault of this server.
type Follow struct {
	Vault   string `json:"vault"`
	ToVault string `json:"to_vault"`
}

// Remotes stores the remotes.
type Remotes interface {
	// PutRemote creates or replaces a remote.
	PutRemote(ctx context.Context, r *Remote) error
	Remote(ctx context.Context, name string) (*Remote, error)
	Remotes(ctx context.Context) ([]Remote, error) // by name
	DeleteRemote(ctx context.Context, name string) error
}

// PushTarget is a central bunker server that this one pushes points to:
// its URL, the pinned fingerprint of its certificate, the append-only push
// token it issued (sealed by the server's secret box), the vault there,
// and the vaults here whose new points are pushed on their own.
type PushTarget struct {
	Name        string
	URL         string
	Fingerprint string
	TokenSealed []byte
	Vault       string   // the central server's vault
	Vaults      []string // vaults of this server pushed on their own
	Site        string   // the name this server goes by in its pushed points' origin
	Principal   string   // who the token acts as at the central site
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	UpdatedBy   string
}

// Push records that point Point of vault Vault was pushed to target
// Target, where the central server recorded it as ToPoint.
type Push struct {
	Target  string
	Vault   string
	Point   string
	ToPoint string
	At      time.Time
}

// PushTargets stores the push targets and what was pushed to them.
type PushTargets interface {
	// PutPushTarget creates or replaces a push target. Replacing it with
	// another URL or central vault forgets what was pushed to it.
	PutPushTarget(ctx context.Context, p *PushTarget) error
	PushTarget(ctx context.Context, name string) (*PushTarget, error)
	PushTargets(ctx context.Context) ([]PushTarget, error) // by name
	// DeletePushTarget forgets a target and what was pushed to it.
	DeletePushTarget(ctx context.Context, name string) error
	// RecordPush records a push; recording a known push again replaces it.
	RecordPush(ctx context.Context, p *Push) error
	// Pushed returns the push of a point to a target, or ErrNotFound.
	Pushed(ctx context.Context, target, vault, point string) (*Push, error)
}

// Kinds of copies whose failures in a row are counted.
const (
	StreakPush = "push" // a point's push to a target
	StreakPull = "pull" // a remote vault's listing, or a point's pull from it
)

// A FailureStreak counts the failures in a row of one copy: the push of
// point Point of vault Vault to target Peer, or the pull from remote Peer
// of point Point of its vault Vault (Point empty: listing that vault).
type FailureStreak struct {
	Kind     string // StreakPush or StreakPull
	Peer     string
	Vault    string
	Point    string
	Failures int
}

// FailureStreaks stores the failures in a row of pushes and pulls, so that
// an alert raised from the third one on still is after a restart.
type FailureStreaks interface {
	// AddFailure counts one more failure of the streak's copy (its
	// Failures is ignored) and returns the count.
	AddFailure(ctx context.Context, s FailureStreak) (int, error)
	// ClearFailures forgets the failures of the streak's copy.
	ClearFailures(ctx context.Context, s FailureStreak) error
	// FailureStreaks returns every copy failing now, in no order.
	FailureStreaks(ctx context.Context) ([]FailureStreak, error)
}
