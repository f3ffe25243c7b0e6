// Package store is the server's control plane: principals, tokens, role
// bindings, vault settings, the recovery-point catalog, legal holds, jobs, backup
// plans and their runs, approval teams, requests and grants, and the audit log. The data itself lives on the vaults' storage; this is
// everything else. Package sqlstore implements it on SQLite (embedded) and
// PostgreSQL.
//
// All access goes through transactions: Update runs a read-write
// transaction, View a read-only one. A state change and its audit entry are
// written in the same Update, so neither lands without the other.
package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
)

// Errors returned by every implementation; test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict: a conditional update found the record changed meanwhile.
	ErrConflict = errors.New("changed meanwhile")
)

// Store opens transactions on the control plane.
type Store interface {
	// Update runs fn in a read-write transaction; an error from fn rolls it
	// back and is returned.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Close releases the database.
	Close() error
}

// PrincipalKind says whether a principal is a person or a machine.
type PrincipalKind string

// Principal kinds.
const (
	User    PrincipalKind = "user"    // logs in with a password (and TOTP)
	Service PrincipalKind = "service" // authenticates with API tokens only
)

// Principal is a user or a service account.
type Principal struct {
	ID           int64         `json:"id"`
	Name         string        `json:"name"`
	Kind         PrincipalKind `json:"kind"`
	PasswordHash string        `json:"-"`
	TOTPSealed   []byte        `json:"-"` // the TOTP secret, sealed with the server's secret box
	TOTPLastStep int64         `json:"-"`
	Disabled     bool          `json:"disabled"`
	CreatedAt    time.Time     `json:"created_at"`
	CreatedBy    string        `json:"created_by"`
}

// HasTOTP reports whether the principal enrolled a TOTP second factor.
func (p *Principal) HasTOTP() bool { return len(p.TOTPSealed) > 0 }

// TokenKind says how a token came to be.
type TokenKind string

// Token kinds.
const (
	APIToken     TokenKind = "api"     // made with `bunker token create`
	SessionToken TokenKind = "session" // made by a password login
	GrantToken   TokenKind = "grant"   // a restore-access grant (see Grant)
)

// Token is an API credential. Only the hash of its secret is stored.
type Token struct {
	ID          string    `json:"id"`
	PrincipalID int64     `json:"-"`
	Principal   string    `json:"principal"` // filled by reads
	Hash        []byte    `json:"-"`
	Kind        TokenKind `json:"kind"`
	Label       string    `json:"label,omitempty"`
	// Vaults limits the token to these vaults; empty means every vault the
	// principal's bindings cover.
	Vaults []string `json:"vaults,omitempty"`
	// Hosts limits the token's agent calls and backups to these host
	// names; empty means any host.
	Hosts     []string  `json:"hosts,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

// Valid reports whether the token may authenticate at now.
func (t *Token) Valid(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// Binding is a stored role binding.
type Binding struct {
	rbac.Binding
	PrincipalID int64     `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
}

// Vault is a vault's settings. Its data lives on the storage at Location.
type Vault struct {
	Name      string           `json:"name"`
	StorageID string           `json:"storage_id"` // the id in the vault's config object
	Backend   string           `json:"backend"`    // "local"
	Location  string           `json:"location"`
	Policy    retention.Policy `json:"policy"`
	// Scan makes the server scan every new point of the vault for
	// ransomware against the previous point of the same source.
	Scan bool `json:"scan"`
	// AirGapped vaults are always compliance-locked, and their data is
	// read only through restore-access grants.
	AirGapped bool      `json:"air_gapped"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// PointState is where a point is in its life.
type PointState string

// Point states.
const (
	Active PointState = "active" // restorable, listed
	Binned PointState = "binned" // deleted or expired; in the recycle bin until purged
)

// Point is a recovery point's catalog entry. The signed record itself is an
// object in the vault.
type Point struct {
	Vault      string        `json:"vault"`
	ID         string        `json:"id"`
	Time       time.Time     `json:"time"` // the server's stamp
	Hostname   string        `json:"hostname"`
	Username   string        `json:"username,omitempty"`
	Paths      []string      `json:"paths"`
	Tags       []string      `json:"tags,omitempty"`
	Tree       string        `json:"tree"`
	Parent     string        `json:"parent,omitempty"`
	Summary    *repo.Summary `json:"summary,omitempty"`
	ClientTime time.Time     `json:"client_time,omitzero"` // what the client claimed; a label only
	CreatedBy  string        `json:"created_by"`
	Expires    time.Time     `json:"expires,omitzero"` // zero: kept until deleted by hand
	State      PointState    `json:"state"`
	BinnedAt   time.Time     `json:"binned_at,omitzero"`
	PurgeAfter time.Time     `json:"purge_after,omitzero"`
	BinnedBy   string        `json:"binned_by,omitempty"`
	BinReason  string        `json:"bin_reason,omitempty"` // "deleted", "expired", or a plan's "retention" or "lifecycle"
	KeyID      string        `json:"key_id"`
	Signature  []byte        `json:"signature"`
	// Origin is set on a copy: the point it was copied from.
	Origin *repo.Origin `json:"origin,omitempty"`
}

// RetentionView returns the fields the retention rules need.
func (p *Point) RetentionView() retention.Point {
	return retention.Point{ID: p.ID, Time: p.Time, Expires: p.Expires, Tags: p.Tags}
}

// PointFilter selects points; zero fields select everything.
type PointFilter struct {
	Vault    string
	State    PointState
	Hostname string
	Tag      string
	Prefix   string    // id prefix
	Since    time.Time // stamped at or after this time
	CopyOf   string    // copies of the point with this id (their origin's point)
}

// Hold is a stored legal hold.
type Hold struct {
	retention.Hold
	Vault      string    `json:"vault"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
	ReleasedAt time.Time `json:"released_at,omitzero"`
	ReleasedBy string    `json:"released_by,omitempty"`
}

// Active reports whether the hold still applies.
func (h *Hold) Active() bool { return h.ReleasedAt.IsZero() }

// JobState is where a job is.
type JobState string

// Job states.
const (
	JobQueued   JobState = "queued" // waiting for an agent to start it
	JobRunning  JobState = "running"
	JobSucceded JobState = "succeeded"
	JobFailed   JobState = "failed"
	JobSkipped  JobState = "skipped" // a plan's run that a pre hook skipped
)

// Job is one run of background or requested work: a backup, maintenance.
type Job struct {
	ID       int64          `json:"id"`
	Kind     string         `json:"kind"` // "backup", "maintenance"
	Vault    string         `json:"vault,omitempty"`
	State    JobState       `json:"state"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished,omitzero"`
	By       string         `json:"by"`
	Detail   map[string]any `json:"detail,omitempty"`
	Error    string         `json:"error,omitempty"`
	// Progress is how far a running job has come; a finished job keeps
	// its last progress.
	Progress JobProgress `json:"progress,omitzero"`
	// Bytes is how many bytes the job wrote or read, once it is done.
	Bytes int64 `json:"bytes,omitempty"`
}

// JobProgress is how far a job has come: bytes and items done out of a
// total (zero when unknown) and the phase it is in.
type JobProgress struct {
	Phase      string `json:"phase,omitempty"`
	BytesDone  int64  `json:"bytes_done,omitempty"`
	BytesTotal int64  `json:"bytes_total,omitempty"`
	ItemsDone  int64  `json:"items_done,omitempty"`
	ItemsTotal int64  `json:"items_total,omitempty"`
}

// JobFilter selects jobs. Zero fields select everything.
type JobFilter struct {
	Kind   string
	State  JobState
	Vault  string
	Since  time.Time // started at or after
	Before time.Time // started before
	After  int64     // cursor: only jobs with an id below this one (newest first)
	Limit  int       // at most this many; 0 means 100
}

// Plan is a stored backup plan: its canonical form as package plan writes
// it in JSON, and who made and last changed it.
type Plan struct {
	Name      string
	Vault     string // the vault the plan writes to, for permission checks
	Spec      []byte // canonical JSON, as plan.Plan marshals it
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	// ScheduleSince is when the plan's schedule began to count: its
	// creation, or the last change of its schedule or windows.
	ScheduleSince time.Time
}

// PlanRun is what the scheduler recorded of a plan's runs, so that a
// restart neither fires nor reports a slot again.
type PlanRun struct {
	Plan string
	// LastSlot is the newest slot fired or reported missed.
	LastSlot time.Time
	// RunSlot is the slot of the run waiting to start or going; zero when
	// none is. RunStarted is when it started (zero while it waits), on
	// Host.
	RunSlot    time.Time
	RunStarted time.Time
	Host       string
}

// ObjectRetention is the write-once protection the server set on one stored
// object ("packs/<id>", "points/<id>", …) of a vault on a backend that
// enforces it.
type ObjectRetention struct {
	Object string
	Until  time.Time
	Mode   string // "GOVERNANCE" or "COMPLIANCE"
	Held   bool   // under a legal hold
}

// PackVerification is the last time a pack of a vault was read whole and
// checked: complete, hashing to its name, every blob authentic.
type PackVerification struct {
	Pack       string    `json:"pack"`
	VerifiedAt time.Time `json:"verified_at"`
	OK         bool      `json:"ok"`
}

// VerifyProblem is one defect a verification found that affects a point.
type VerifyProblem struct {
	Kind   string   `json:"kind"`   // as the checker names it, or "signature-invalid", "point-missing"
	Object string   `json:"object"` // the stored object concerned
	Detail string   `json:"detail"`
	Paths  []string `json:"paths,omitempty"` // files and directories of the point it damages
}

// PointVerification is the result of one verification of one point.
type PointVerification struct {
	Vault       string          `json:"vault"`
	Point       string          `json:"point"`
	Job         int64           `json:"job"`
	VerifiedAt  time.Time       `json:"verified_at"`
	OK          bool            `json:"ok"` // no problem affects it and its signature is valid
	SignatureOK bool            `json:"signature_ok"`
	Problems    []VerifyProblem `json:"problems,omitempty"`
	PacksRead   int             `json:"packs_read"` // by the run, for the whole vault
	BytesRead   int64           `json:"bytes_read"`
}

// Verdict levels of a scanned point, as package scan names them.
const (
	VerdictClean      = "clean"
	VerdictSuspicious = "suspicious"
	VerdictInfected   = "infected"
)

// ScanEvidence is one finding behind a verdict: about a file (Path is the
// file) or about the point (Path names the pattern).
type ScanEvidence struct {
	Path   string  `json:"path"`
	Reason string  `json:"reason"`
	Weight float64 `json:"weight"`
	Strong bool    `json:"strong,omitempty"`
}

// ScanStats count what a verdict is based on.
type ScanStats struct {
	Changes      int   `json:"changes"`
	Added        int   `json:"added"`
	Modified     int   `json:"modified"`
	Deleted      int   `json:"deleted"`
	Renamed      int   `json:"renamed"`
	Examined     int   `json:"examined"`
	Strong       int   `json:"strong"`
	Weak         int   `json:"weak"`
	Unreadable   int   `json:"unreadable"`
	BytesChanged int64 `json:"bytes_changed"` // size of the examined files' new versions
	BytesRead    int64 `json:"bytes_read"`
	TreesLoaded  int   `json:"trees_loaded"`
}

// MaxStoredEvidence bounds the evidence kept with a verdict; the count of
// all of it is kept besides.
const MaxStoredEvidence = 200

// PointVerdict is the result of one scan of one point.
type PointVerdict struct {
	Vault     string    `json:"vault"`
	Point     string    `json:"point"`
	Job       int64     `json:"job"`
	ScannedAt time.Time `json:"scanned_at"`
	Level     string    `json:"level"` // clean, suspicious, infected
	Score     float64   `json:"score"`
	// Previous is the point it was compared with; empty for the first
	// point of its source.
	Previous      string         `json:"previous,omitempty"`
	Evidence      []ScanEvidence `json:"evidence,omitempty"` // the heaviest, at most MaxStoredEvidence
	EvidenceTotal int            `json:"evidence_total"`
	Stats         ScanStats      `json:"stats"`
}

// Event is one entry of the server's event stream, which notifications
// and other systems follow: GET /v1/events?after=ID. Events emitted
// through package eventrule carry their envelope's fields: UID is its id,
// Data its detail.
type Event struct {
	ID      int64          `json:"id"`
	UID     string         `json:"uid,omitempty"`
	Time    time.Time      `json:"time"`
	Kind    string         `json:"kind"` // "scan.verdict", "backup.completed", … (docs/EVENTS.md)
	Source  string         `json:"source,omitempty"`
	Vault   string         `json:"vault,omitempty"`
	Point   string         `json:"point,omitempty"`
	Subject string         `json:"subject,omitempty"`
	Actor   string         `json:"actor,omitempty"`
	Data    map[string]any `json:"data"`
}

// ApprovalSettings say which team approves the guarded operations of a
// scope (a vault, or approval.ServerScope) and which it does not guard.
type ApprovalSettings struct {
	Scope     string               `json:"scope"`
	Team      string               `json:"team"`
	Unguarded []approval.Operation `json:"unguarded"`
	SetAt     time.Time            `json:"set_at"`
	SetBy     string               `json:"set_by"`
}

// Guards reports whether op needs the team's approval.
func (a *ApprovalSettings) Guards(op approval.Operation) bool {
	return a != nil && a.Team != "" && !slices.Contains(a.Unguarded, op)
}

// Grant is a time-boxed credential that an executed request issued: a
// token (of kind GrantToken, with the grant's id) that can list and
// restore from one vault and do nothing else, or, with Point set, start
// one restore of that point.
type Grant struct {
	ID        string    `json:"id"` // the token's id
	Request   string    `json:"request"`
	Vault     string    `json:"vault"`
	Point     string    `json:"point,omitempty"`
	Principal string    `json:"principal"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// Valid reports whether the grant may be used at now.
func (g *Grant) Valid(now time.Time) bool { return g.RevokedAt.IsZero() && now.Before(g.ExpiresAt) }

// ApprovalFilter selects approval requests; zero fields select everything.
type ApprovalFilter struct {
	State     approval.State
	Requester string
	Team      string
	Scope     string
	Prefix    string // id prefix
	Limit     int    // 0: 1000
}

// Tx is a transaction on the control plane. Reads return ErrNotFound for a
// missing record; creates return ErrExists for a duplicate name.
type Tx interface {
	Outbox
	EventRules
	CopyPairs
	Remotes
	PushTargets
	FailureStreaks

	CreatePrincipal(ctx context.Context, p *Principal) error
	Principal(ctx context.Context, name string) (*Principal, error)
	Principals(ctx context.Context) ([]Principal, error)
	UpdatePrincipal(ctx context.Context, p *Principal) error

	CreateToken(ctx context.Context, t *Token) error
	Token(ctx context.Context, id string) (*Token, error)
	Tokens(ctx context.Context, principal string) ([]Token, error) // "" for all
	UpdateToken(ctx context.Context, t *Token) error
	// TouchToken records when a token was last used, and nothing else.
	TouchToken(ctx context.Context, id string, at time.Time) error

	CreateBinding(ctx context.Context, b *Binding) error
	Bindings(ctx context.Context, principal string) ([]Binding, error) // "" for all
	DeleteBinding(ctx context.Context, id int64) error

	CreateVault(ctx context.Context, v *Vault) error
	Vault(ctx context.Context, name string) (*Vault, error)
	Vaults(ctx context.Context) ([]Vault, error)
	UpdateVault(ctx context.Context, v *Vault) error
	DeleteVault(ctx context.Context, name string) error

	CreatePoint(ctx context.Context, p *Point) error
	Point(ctx context.Context, vault, id string) (*Point, error)
	Points(ctx context.Context, f PointFilter) ([]Point, error) // oldest first
	UpdatePoint(ctx context.Context, p *Point) error
	// CountPoints counts a vault's points by state.
	CountPoints(ctx context.Context, vault string) (map[PointState]int, error)
	DeletePoint(ctx context.Context, vault, id string) error

	CreateHold(ctx context.Context, h *Hold) error
	Hold(ctx context.Context, vault string, id int64) (*Hold, error)
	Holds(ctx context.Context, vault string, released bool) ([]Hold, error)
	UpdateHold(ctx context.Context, h *Hold) error

	CreateJob(ctx context.Context, j *Job) error
	UpdateJob(ctx context.Context, j *Job) error
	Jobs(ctx context.Context, limit int) ([]Job, error) // newest first
	// QueryJobs returns the jobs f selects, newest first.
	QueryJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// Job returns one job by id, or ErrNotFound.
	Job(ctx context.Context, id int64) (*Job, error)

	// AppendAudit chains e after the last entry and stores it.
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
	LastAudit(ctx context.Context) (*audit.Entry, error) // nil when the log is empty
	AuditEntries(ctx context.Context, afterSeq uint64, limit int) ([]audit.Entry, error)
	AddCheckpoint(ctx context.Context, c audit.Checkpoint) error
	Checkpoints(ctx context.Context) ([]audit.Checkpoint, error)
	LastCheckpoint(ctx context.Context) (*audit.Checkpoint, error) // nil when none

	// ObjectRetentions returns what the server last set on each object of
	// a vault's storage: its retention and legal hold.
	ObjectRetentions(ctx context.Context, vault string) (map[string]ObjectRetention, error)
	SetObjectRetention(ctx context.Context, vault string, r ObjectRetention) error
	DeleteObjectRetention(ctx context.Context, vault, object string) error

	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error

	// PackVerifications returns the last verification of each pack of a
	// vault, by pack id.
	PackVerifications(ctx context.Context, vault string) (map[string]PackVerification, error)
	// RecordPackVerifications stores verifications, replacing earlier ones
	// of the same packs.
	RecordPackVerifications(ctx context.Context, vault string, vs []PackVerification) error
	// ForgetPackVerifications drops what is recorded of packs (deleted ones).
	ForgetPackVerifications(ctx context.Context, vault string, packs []string) error
	// RecordPointVerification adds a point's verification to its history.
	RecordPointVerification(ctx context.Context, v *PointVerification) error
	// PointVerification returns the latest verification of a point.
	PointVerification(ctx context.Context, vault, point string) (*PointVerification, error)
	// PointVerifications returns the latest verification of each point of a
	// vault, by point id.
	PointVerifications(ctx context.Context, vault string) (map[string]PointVerification, error)

	// RecordPointVerdict adds a point's verdict to its history.
	RecordPointVerdict(ctx context.Context, v *PointVerdict) error
	// PointVerdict returns the latest verdict on a point.
	PointVerdict(ctx context.Context, vault, point string) (*PointVerdict, error)
	// PointVerdicts returns the latest verdict on each point of a vault, by
	// point id, without evidence.
	PointVerdicts(ctx context.Context, vault string) (map[string]PointVerdict, error)

	CreateTeam(ctx context.Context, t *approval.Team) error
	Team(ctx context.Context, name string) (*approval.Team, error)
	Teams(ctx context.Context) ([]approval.Team, error)
	// UpdateTeam writes a team's threshold, policy and every member.
	UpdateTeam(ctx context.Context, t *approval.Team) error

	// ApprovalSettings returns a scope's settings (ErrNotFound: none).
	ApprovalSettings(ctx context.Context, scope string) (*ApprovalSettings, error)
	SetApprovalSettings(ctx context.Context, a *ApprovalSettings) error
	DeleteApprovalSettings(ctx context.Context, scope string) error

	CreateApprovalRequest(ctx context.Context, r *approval.Record) error
	// ApprovalRequest returns a request with its ballots. Its Request is
	// decoded from the stored canonical form without checking it: see
	// approval.Record.Check.
	ApprovalRequest(ctx context.Context, id string) (*approval.Record, error)
	ApprovalRequests(ctx context.Context, f ApprovalFilter) ([]approval.Record, error) // newest first
	// UpdateApprovalRequest writes a request's state, times and note, if
	// its stored state is still from (ErrConflict otherwise).
	UpdateApprovalRequest(ctx context.Context, r *approval.Record, from approval.State) error
	// AddBallot records a vote; a member's second vote is ErrExists.
	AddBallot(ctx context.Context, request string, b approval.Ballot) error

	// CreateGrant stores a grant; a second grant of one request is ErrExists.
	CreateGrant(ctx context.Context, g *Grant) error
	Grant(ctx context.Context, id string) (*Grant, error)
	Grants(ctx context.Context, principal string) ([]Grant, error) // "" for all; newest first
	UpdateGrant(ctx context.Context, g *Grant) error

	// PutPlan creates or replaces a plan by name.
	PutPlan(ctx context.Context, p *Plan) error
	Plan(ctx context.Context, name string) (*Plan, error)
	Plans(ctx context.Context) ([]Plan, error) // by name
	// DeletePlan deletes a plan and what is recorded of its runs.
	DeletePlan(ctx context.Context, name string) error
	// PlanRuns returns what is recorded of every plan's runs, by plan.
	PlanRuns(ctx context.Context) (map[string]PlanRun, error)
	// SetPlanRun records a plan's runs, replacing what was recorded.
	SetPlanRun(ctx context.Context, r *PlanRun) error

	// AppendEvent stores e, setting its id (ascending).
	AppendEvent(ctx context.Context, e *Event) error
	// Events returns up to limit events with ids above after, oldest first.
	Events(ctx context.Context, after int64, limit int) ([]Event, error)
}
