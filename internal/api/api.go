// Package api holds the request and response bodies of the bunker server's
// JSON API, shared by the server and its clients. The OpenAPI document
// (internal/server/openapi.yaml) describes the same shapes.
package api

import (
	"time"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/prune"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

// AuditPage is one page of the audit log.
type AuditPage struct {
	Entries []audit.Entry `json:"entries"`
	Next    uint64        `json:"next"` // pass as ?after= for the next page; 0 when done
}

// SessionRequest is a request body.
type SessionRequest struct {
	Hostname string   `json:"hostname"`
	Paths    []string `json:"paths"`
	Tags     []string `json:"tags,omitempty"`
	Parent   string   `json:"parent,omitempty"`
}

// SessionResponse tells a backup client how to chunk and name content.
type SessionResponse struct {
	Session    string       `json:"session"`
	ContentKey string       `json:"content_key"` // base64: blob-id MAC key and chunker seed, never the encryption key
	ChunkMin   int          `json:"chunk_min"`
	ChunkAvg   int          `json:"chunk_avg"`
	ChunkMax   int          `json:"chunk_max"`
	PackSize   int          `json:"pack_size"`
	Parent     *store.Point `json:"parent,omitempty"`
}

// UploadResult is a response body.
type UploadResult struct {
	Received int `json:"received"`
	Stored   int `json:"stored"`
}

// CommitRequest is a request body.
type CommitRequest struct {
	Tree       string        `json:"tree"`
	Username   string        `json:"username,omitempty"`
	Summary    *repo.Summary `json:"summary,omitempty"`
	ClientTime time.Time     `json:"client_time,omitzero"`
	// Origin names the point this one copies, when another server pushes
	// it: the server keeps it in the point's stamp, and answers a second
	// commit of the same origin by the same principal with the first
	// point rather than recording another.
	Origin *repo.Origin `json:"origin,omitempty"`
}

// BindingRequest is a request body.
type BindingRequest struct {
	Principal        string `json:"principal"`
	Role             string `json:"role"`
	Vault            string `json:"vault"`
	BypassGovernance bool   `json:"bypass_governance,omitempty"`
}

// Role is a response body.
type Role struct {
	Role        rbac.Role         `json:"role"`
	Global      bool              `json:"global"`
	Permissions []rbac.Permission `json:"permissions"`
}

// ErrorBody is the JSON of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a response body.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
	// PlanErrors are the refusals of a plan file (code invalid_plan).
	PlanErrors []PlanError `json:"plan_errors,omitempty"`
}

// PlanError is one refusal of a plan file: the plan, the field and its
// line in the file, and why.
type PlanError struct {
	Plan  string `json:"plan"`
	Field string `json:"field,omitempty"`
	Line  int    `json:"line,omitempty"`
	Error string `json:"error"`
}

// Plan is a response body: a stored backup plan in canonical form, who
// made and last changed it, and where its schedule stands.
type Plan struct {
	Plan      plan.Plan `json:"plan"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
	// LastSlot is the newest time run or reported missed; Next the next
	// time due.
	LastSlot time.Time `json:"last_slot,omitzero"`
	Next     time.Time `json:"next,omitzero"`
}

// PlanList is a response body.
type PlanList struct {
	Plans []Plan `json:"plans"`
}

// MaintenanceReport says what one maintenance pass over a vault did.
type MaintenanceReport struct {
	Vault   string   `json:"vault"`
	Job     int64    `json:"job"`
	Expired []string `json:"expired"` // moved to the bin
	Purged  []string `json:"purged"`  // removed from the bin and the storage
	Kept    []string `json:"kept"`    // due, but held or retained
	// RetentionExtended counts storage objects whose retention the pass
	// extended; LegalHoldsPlaced and LegalHoldsLifted the storage legal
	// holds it changed (storage with retention of its own only).
	RetentionExtended int          `json:"retention_extended"`
	LegalHoldsPlaced  int          `json:"legal_holds_placed"`
	LegalHoldsLifted  int          `json:"legal_holds_lifted"`
	GC                *prune.Stats `json:"gc"`
	// Plans says what the plans writing to the vault did to its points:
	// their retention, their expiry and their cold tier.
	Plans []PlanMaintenance `json:"plans"`
}

// PlanMaintenance is what one maintenance pass did with one plan's points.
type PlanMaintenance struct {
	Plan string `json:"plan"`
	// CopiesFrom, when set, says that this is the retention of the plan's
	// copy action into this vault, applied to the copies of the plan's
	// points of vault CopiesFrom, rather than the plan's own.
	CopiesFrom string `json:"copies_from,omitempty"`
	// Dropped are the points the plan's retention rules or its
	// expire_after moved to the recycle bin.
	Dropped []PlanPoint `json:"dropped"`
	// Kept are the points the plan would drop that the vault's lock, a
	// legal hold or the lock's minimum retention keeps for now.
	Kept []PlanPoint `json:"kept"`
	// Unverified counts the plan's points not verified intact, or found
	// infected: they count towards no rule and no rule drops them.
	Unverified int `json:"unverified"`
	// Cold are the points whose packs moved to the plan's storage class in
	// this pass; ColdFailed those whose move failed, with why.
	Cold       []string    `json:"cold"`
	ColdFailed []PlanPoint `json:"cold_failed"`
	// Note says why the lifecycle's cold tier was not applied at all, as
	// "no cold tier on this storage".
	Note string `json:"note,omitempty"`
}

// PlanPoint is one point of a plan's maintenance and why it is listed.
type PlanPoint struct {
	Point  string `json:"point"`
	Reason string `json:"reason"`
}

// Point is a catalog entry as the API shows it.
type Point struct {
	*store.Point
	Retained bool           `json:"retained"` // the vault's lock keeps it from deletion now
	Holds    []int64        `json:"holds,omitempty"`
	Lock     retention.Mode `json:"lock_mode,omitempty"`
	// Verified is the point's latest verification; absent until one ran.
	Verified *PointVerified `json:"verified,omitempty"`
	// Verdict is the point's latest ransomware scan; absent until one ran.
	Verdict *PointVerdict `json:"verdict,omitempty"`
}

// PointVerdict is the outcome of a point's latest scan.
type PointVerdict struct {
	Level     string    `json:"level"` // clean, suspicious, infected
	Score     float64   `json:"score"`
	ScannedAt time.Time `json:"scanned_at"`
	Job       int64     `json:"job"`
	// Previous is the point it was compared with; empty for the first
	// point of its source.
	Previous      string `json:"previous,omitempty"`
	EvidenceCount int    `json:"evidence_count"`
	// Evidence is the findings behind it, heaviest first (point show only).
	Evidence []store.ScanEvidence `json:"evidence,omitempty"`
}

// PointList is the answer of a point listing. FirstInfected and LastClean
// read the listed points as a timeline, oldest first: the oldest point
// whose verdict is infected, and the newest clean point older than it (the
// newest clean point when none is infected).
type PointList struct {
	Points        []Point `json:"points"`
	FirstInfected string  `json:"first_infected,omitempty"`
	LastClean     string  `json:"last_clean,omitempty"`
}

// TimelineEnds returns the first infected and the last clean point of
// points, oldest first, as PointList describes them.
func TimelineEnds(points []Point) (firstInfected, lastClean string) {
	for _, p := range points {
		if p.Verdict == nil {
			continue
		}
		switch p.Verdict.Level {
		case store.VerdictInfected:
			return p.ID, lastClean
		case store.VerdictClean:
			lastClean = p.ID
		}
	}
	return "", lastClean
}

// ScanRequest is the optional body of a scan request.
type ScanRequest struct {
	// Previous names the point to compare with (an id prefix); by default
	// the newest active point of the same source before it.
	Previous string `json:"previous,omitempty"`
}

// ScanReport is the verdict of one scan of a point.
type ScanReport struct {
	Vault    string    `json:"vault"`
	Point    string    `json:"point"`
	Previous string    `json:"previous,omitempty"` // the point compared with; empty for the first of its source
	Hostname string    `json:"hostname"`
	Paths    []string  `json:"paths"`
	Job      int64     `json:"job"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Level    string    `json:"level"` // clean, suspicious, infected
	Score    float64   `json:"score"`
	// PreviousLevel is the previous point's latest verdict, if it has one;
	// Changed says the level differs from it.
	PreviousLevel string               `json:"previous_level,omitempty"`
	Changed       bool                 `json:"changed"`
	Evidence      []store.ScanEvidence `json:"evidence"` // heaviest first
	EvidenceTotal int                  `json:"evidence_total"`
	Stats         store.ScanStats      `json:"stats"`
}

// RestoreRequest is the optional body of a restore request.
type RestoreRequest struct {
	// AllowInfected restores a point whose verdict is infected (audited).
	AllowInfected bool `json:"allow_infected,omitempty"`
}

// EventPage is one page of the event stream.
type EventPage struct {
	Events []store.Event `json:"events"`
	Next   int64         `json:"next"` // the last id returned: pass as ?after= to follow; the request's after when none
}

// PointVerified is the outcome of a point's latest verification.
type PointVerified struct {
	At          time.Time `json:"at"`
	OK          bool      `json:"ok"`
	SignatureOK bool      `json:"signature_ok"`
	Job         int64     `json:"job"`
	Problems    int       `json:"problems"` // how many defects affect it
}

// VerifyRequest is the body of a verification request; both fields are
// optional.
type VerifyRequest struct {
	// MaxAge skips packs verified sound within this span ("7d"); the
	// server's --verify-max-age when empty.
	MaxAge string `json:"max_age,omitempty"`
	// Full reads every pack, whatever was verified before.
	Full bool `json:"full,omitempty"`
}

// VerifyReport is what one verification of a vault found.
type VerifyReport struct {
	Vault         string          `json:"vault"`
	Job           int64           `json:"job"`
	Started       time.Time       `json:"started"`
	Finished      time.Time       `json:"finished"`
	MaxAge        string          `json:"max_age"` // "0" with full
	Full          bool            `json:"full"`
	OK            bool            `json:"ok"`             // no problem found at all
	Points        int             `json:"points"`         // points verified
	PointsOK      []string        `json:"points_ok"`      // ids
	PointsDamaged []string        `json:"points_damaged"` // ids: a problem affects them or their signature is invalid
	Packs         int             `json:"packs"`          // indexed packs
	PacksRead     int             `json:"packs_read"`
	PacksSkipped  int             `json:"packs_skipped"` // verified sound within max_age
	BytesRead     int64           `json:"bytes_read"`
	Problems      []VerifyProblem `json:"problems"`
	Notes         []string        `json:"notes,omitempty"` // findings that damage nothing
}

// VerifyProblem is one defect a verification found: the damaged object,
// the files it damages and every point that needs it.
type VerifyProblem struct {
	Kind     string           `json:"kind"` // pack-missing, pack-damaged, blob-missing, blob-damaged, tree-damaged, index-damaged, point-damaged, point-missing, signature-invalid
	Object   string           `json:"object"`
	Detail   string           `json:"detail"`
	Affected []VerifyAffected `json:"affected,omitempty"` // files and directories
	Points   []string         `json:"points,omitempty"`   // every point it affects
}

// VerifyAffected is a file or directory of a point that a problem damages.
type VerifyAffected struct {
	Point string `json:"point"`
	Path  string `json:"path"`
}

// RetentionRequest is a request body.
type RetentionRequest struct {
	Expires  *time.Time `json:"expires,omitempty"`
	ExtendBy string     `json:"extend_by,omitempty"`
	Forever  bool       `json:"forever,omitempty"`
}

// HoldRequest is a request body.
type HoldRequest struct {
	Point  string     `json:"point,omitempty"`
	Tag    string     `json:"tag,omitempty"`
	From   *time.Time `json:"from,omitempty"`
	To     *time.Time `json:"to,omitempty"`
	Reason string     `json:"reason"`
}

// LoginRequest is a request body.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	TOTP     string `json:"totp,omitempty"`
}

// NewToken carries a new token's secret: the only time it is shown.
type NewToken struct {
	Token     string    `json:"token"`
	ID        string    `json:"id"`
	Principal string    `json:"principal"`
	ExpiresAt time.Time `json:"expires_at"`
	Vaults    []string  `json:"vaults,omitempty"`
	Hosts     []string  `json:"hosts,omitempty"`
}

// Whoami is a response body.
type Whoami struct {
	Principal string         `json:"principal"`
	Kind      string         `json:"kind"`
	TOTP      bool           `json:"totp"`
	Bindings  []rbac.Binding `json:"bindings"`
	Token     *store.Token   `json:"token"`
}

// PrincipalRequest is a request body.
type PrincipalRequest struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Password string `json:"password,omitempty"`
}

// Principal is a response body.
type Principal struct {
	*store.Principal
	TOTP     bool           `json:"totp"`
	Bindings []rbac.Binding `json:"bindings"`
}

// PrincipalUpdate is a request body.
type PrincipalUpdate struct {
	Disabled  *bool   `json:"disabled,omitempty"`
	Password  *string `json:"password,omitempty"`
	ResetTOTP bool    `json:"reset_totp,omitempty"`
}

// PasswordChange is a request body.
type PasswordChange struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// TOTPRequest is a request body.
type TOTPRequest struct {
	Code string `json:"code,omitempty"`
}

// TOTPEnrollment answers the two steps of a TOTP enrolment: first the
// secret (and its otpauth URL for an authenticator app), then, with a code
// confirmed, that the factor is on.
type TOTPEnrollment struct {
	Secret  string `json:"secret,omitempty"`
	URL     string `json:"url,omitempty"`
	Enabled bool   `json:"enabled"`
	Next    string `json:"next"`
}

// TokenRequest is a request body.
type TokenRequest struct {
	Principal string   `json:"principal,omitempty"`
	Label     string   `json:"label,omitempty"`
	Vaults    []string `json:"vaults,omitempty"`
	// Hosts limits the token's agent calls and backups to these host
	// names; empty means any host.
	Hosts     []string `json:"hosts,omitempty"`
	ExpiresIn string   `json:"expires_in,omitempty"`
}

// RestoreResponse is a response body.
type RestoreResponse struct {
	Session    string `json:"session"`
	ContentKey string `json:"content_key"`
	Point      Point  `json:"point"`
	Blobs      int    `json:"blobs"`
}

// ServerInfo is a response body.
type ServerInfo struct {
	Version   string    `json:"version"`
	KeyID     string    `json:"key_id"`
	PublicKey []byte    `json:"public_key"`
	Time      time.Time `json:"time"`
	Started   time.Time `json:"started"`
}

// VaultRequest is a request body.
type VaultRequest struct {
	Name         string `json:"name"`
	Retention    string `json:"retention,omitempty"`
	BinRetention string `json:"bin_retention,omitempty"`
	// Storage names the storage target: "local" (the default, under the
	// server's data directory) or an S3 target the server was started with.
	Storage string `json:"storage,omitempty"`
	// Lock, when set, locks the vault as it is created; a compliance lock
	// is refused on storage without retention of its own (a bucket without
	// Object Lock).
	Lock *LockRequest `json:"lock,omitempty"`
	// Scan makes the server scan every new point for ransomware.
	Scan bool `json:"scan,omitempty"`
	// Team names the approval team that approves the vault's guarded
	// operations (all of them); it must be active.
	Team string `json:"team,omitempty"`
	// AirGapped makes the vault air-gapped: it needs a compliance Lock and
	// a Team, and its data is read only through restore-access grants.
	AirGapped bool `json:"air_gapped,omitempty"`
}

// Vault is a vault as the API shows it.
type Vault struct {
	*store.Vault
	LockDate  time.Time `json:"lock_date,omitzero"`
	Immutable bool      `json:"lock_immutable"`
	Points    int       `json:"points"`
	Binned    int       `json:"binned"`
	Holds     int       `json:"holds"`
	// StorageRetention says whether the vault's storage enforces retention
	// itself (S3 Object Lock, the immutable attribute), and if not, why:
	// then only the server enforces the lock.
	StorageRetention       bool   `json:"storage_retention"`
	StorageRetentionReason string `json:"storage_retention_reason,omitempty"`
	// Approval is who approves the vault's guarded operations; absent when
	// nobody does.
	Approval *ApprovalSettings `json:"approval,omitempty"`
}

// VaultUpdate is a request body.
type VaultUpdate struct {
	Retention    *string `json:"retention,omitempty"`
	BinRetention *string `json:"bin_retention,omitempty"`
	Scan         *bool   `json:"scan,omitempty"`
}

// LockRequest is a request body.
type LockRequest struct {
	Mode          string  `json:"mode"`
	MinRetention  string  `json:"min_retention,omitempty"`
	MaxRetention  string  `json:"max_retention,omitempty"`
	ChangeableFor string  `json:"changeable_for,omitempty"`
	Retention     *string `json:"retention,omitempty"` // optionally set the vault's retention in the same change
}
