package api

import (
	"time"

	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/store"
)

// TeamRequest is a request body: a new approval team, with the approvers
// it invites.
type TeamRequest struct {
	Name      string   `json:"name"`
	Threshold int      `json:"threshold"`
	Reject    string   `json:"reject,omitempty"` // "any" (default) or "unreachable"
	Invite    []string `json:"invite,omitempty"`
}

// TeamChange is a request body: invite or remove members, or set the
// threshold. Of an active team it becomes a request the team approves.
type TeamChange struct {
	Invite    []string `json:"invite,omitempty"`
	Remove    []string `json:"remove,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
}

// TeamAccept is a request body: an invited approver joins with the public
// key of a key pair it made on its own machine.
type TeamAccept struct {
	PublicKey string `json:"public_key"` // standard base64 of 32 bytes
}

// Team is an approval team as the API shows it.
type Team struct {
	approval.Team
	Status string `json:"status"` // "active" or "forming"
	Active int    `json:"active"` // active members
}

// ApprovalSettingsRequest is a request body: the team that approves a
// scope's guarded operations ("" for none), and the operations it does
// not guard.
type ApprovalSettingsRequest struct {
	Team      string   `json:"team"`
	Unguarded []string `json:"unguarded,omitempty"`
}

// ApprovalSettings are a scope's approval settings as the API shows them.
type ApprovalSettings struct {
	store.ApprovalSettings
	Guarded []approval.Operation `json:"guarded"`
}

// Approval is an approval request as the API shows it.
type Approval struct {
	approval.Record
	Threshold int    `json:"threshold"` // the team's threshold now
	Approvals int    `json:"approvals"` // approvals that count now
	Next      string `json:"next"`      // what has to happen next, for people
	// Grant is the credential the request issued: shown once, in the
	// answer to the final confirmation.
	Grant *NewGrant `json:"grant,omitempty"`
	// Result is the executed operation's answer (as its own endpoint
	// gives it), in the answer to the final confirmation.
	Result any `json:"result,omitempty"`
}

// Pending is the answer (202 Accepted) to a guarded operation: nothing
// was done; the request waits for its requester's confirmation.
type Pending struct {
	Approval Approval `json:"approval"`
	Message  string   `json:"message"`
}

// ConfirmRequest is a request body: the requester confirms the request
// with this hash (its intent, or finally, once approved).
type ConfirmRequest struct {
	Hash string `json:"hash"`
}

// VoteRequest is a request body: a member's signed vote.
type VoteRequest struct {
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"` // standard base64 in JSON
	Reason    string `json:"reason,omitempty"`
}

// AccessRequest is a request body: read-only restore access to an
// air-gapped vault, for a duration.
type AccessRequest struct {
	Duration string `json:"duration,omitempty"` // default 8h, at most 30d
	Reason   string `json:"reason,omitempty"`
}

// NewGrant carries a grant's credential: the only time it is shown.
type NewGrant struct {
	Token     string    `json:"token"`
	ID        string    `json:"id"`
	Vault     string    `json:"vault"`
	Point     string    `json:"point,omitempty"`
	Principal string    `json:"principal"`
	ExpiresAt time.Time `json:"expires_at"`
}
