package approval

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bunkerhq/bunker/internal/audit"
)

// MemberState is where a member is in a team.
type MemberState string

// Member states.
const (
	Invited MemberState = "invited" // asked to join; votes once it accepts
	Active  MemberState = "active"  // accepted with its public key; votes
	Removed MemberState = "removed" // no longer a member
)

// Member is one principal of a team.
type Member struct {
	Principal  string      `json:"principal"`
	State      MemberState `json:"state"`
	PublicKey  []byte      `json:"public_key,omitempty"` // ed25519, set when it accepts
	KeyID      string      `json:"key_id,omitempty"`
	InvitedAt  time.Time   `json:"invited_at"`
	InvitedBy  string      `json:"invited_by"`
	AcceptedAt time.Time   `json:"accepted_at,omitzero"`
	RemovedAt  time.Time   `json:"removed_at,omitzero"`
}

// RejectPolicy says when rejections end a request.
type RejectPolicy string

// Rejection policies.
const (
	// RejectAny ends a request at its first rejection.
	RejectAny RejectPolicy = "any"
	// RejectUnreachable ends a request once the members who have not
	// rejected it are too few to reach the threshold.
	RejectUnreachable RejectPolicy = "unreachable"
)

// ParseRejectPolicy checks s; empty is RejectAny.
func ParseRejectPolicy(s string) (RejectPolicy, error) {
	switch RejectPolicy(s) {
	case "":
		return RejectAny, nil
	case RejectAny, RejectUnreachable:
		return RejectPolicy(s), nil
	}
	return "", fmt.Errorf("reject policy %q: want %q or %q", audit.Clean(s), RejectAny, RejectUnreachable)
}

// Team is an approval team.
type Team struct {
	Name      string       `json:"name"`
	Threshold int          `json:"threshold"`
	Reject    RejectPolicy `json:"reject"`
	Members   []Member     `json:"members"`
	CreatedAt time.Time    `json:"created_at"`
	CreatedBy string       `json:"created_by"`
}

// MinThreshold is the smallest threshold a team may have.
const MinThreshold = 2

// MaxMembers bounds a team's size.
const MaxMembers = 64

// Validate checks a team's own fields.
func (t *Team) Validate() error {
	if t.Threshold < MinThreshold || t.Threshold > MaxMembers {
		return fmt.Errorf("team %s: threshold %d: want %d to %d approvals", t.Name, t.Threshold, MinThreshold, MaxMembers)
	}
	if _, err := ParseRejectPolicy(string(t.Reject)); err != nil {
		return err
	}
	return nil
}

// Member returns the team's record of principal, or nil.
func (t *Team) Member(principal string) *Member {
	for i := range t.Members {
		if t.Members[i].Principal == principal {
			return &t.Members[i]
		}
	}
	return nil
}

// ActiveMember returns principal's record if it is an active member.
func (t *Team) ActiveMember(principal string) *Member {
	if m := t.Member(principal); m != nil && m.State == Active {
		return m
	}
	return nil
}

// ActiveCount is the number of active members.
func (t *Team) ActiveCount() int {
	n := 0
	for _, m := range t.Members {
		if m.State == Active {
			n++
		}
	}
	return n
}

// Active reports whether the team can approve requests: it has at least
// max(2, threshold) active members.
func (t *Team) Active() bool {
	n := t.ActiveCount()
	return n >= MinThreshold && n >= t.Threshold
}

// Status is "active" or "forming", for people.
func (t *Team) Status() string {
	if t.Active() {
		return "active"
	}
	return "forming"
}

// Change is a change of a team's members or threshold.
type Change struct {
	Invite    []string `json:"invite,omitempty"`
	Remove    []string `json:"remove,omitempty"`
	Threshold int      `json:"threshold,omitempty"` // 0 leaves it
}

// Empty reports whether the change changes nothing.
func (ch Change) Empty() bool { return len(ch.Invite) == 0 && len(ch.Remove) == 0 && ch.Threshold == 0 }

// CheckChange decides whether ch may be applied to t. Of an active team it
// must leave enough active members for the threshold (invited members
// count only once they accept).
func (t *Team) CheckChange(ch Change) error {
	if ch.Empty() {
		return errors.New("nothing to change: invite or remove members, or set the threshold")
	}
	seen := map[string]bool{}
	for _, p := range append(slices.Clone(ch.Invite), ch.Remove...) {
		if p == "" {
			return errors.New("a member's name is empty")
		}
		if seen[p] {
			return fmt.Errorf("%s is named twice", audit.Clean(p))
		}
		seen[p] = true
	}
	for _, p := range ch.Invite {
		if m := t.Member(p); m != nil && m.State != Removed {
			return fmt.Errorf("%s is already %s in team %s", p, m.State, t.Name)
		}
	}
	removedActive := 0
	for _, p := range ch.Remove {
		m := t.Member(p)
		if m == nil || m.State == Removed {
			return fmt.Errorf("%s is not a member of team %s", audit.Clean(p), t.Name)
		}
		if m.State == Active {
			removedActive++
		}
	}
	next := *t
	if ch.Threshold != 0 {
		next.Threshold = ch.Threshold
	}
	if err := next.Validate(); err != nil {
		return err
	}
	if n := len(t.Members) + len(ch.Invite); n > MaxMembers {
		return fmt.Errorf("team %s would have %d members, at most %d", t.Name, n, MaxMembers)
	}
	if t.Active() {
		if left := t.ActiveCount() - removedActive; left < next.Threshold {
			return fmt.Errorf("team %s would keep %d active members, fewer than its threshold %d: lower the threshold with the same change, or invite members first", t.Name, left, next.Threshold)
		}
	}
	return nil
}

// Apply applies a checked change.
func (t *Team) Apply(ch Change, by string, now time.Time) {
	for _, p := range ch.Invite {
		m := Member{Principal: p, State: Invited, InvitedAt: now, InvitedBy: by}
		if old := t.Member(p); old != nil {
			*old = m
		} else {
			t.Members = append(t.Members, m)
		}
	}
	for _, p := range ch.Remove {
		if m := t.Member(p); m != nil {
			m.State, m.RemovedAt = Removed, now
		}
	}
	if ch.Threshold != 0 {
		t.Threshold = ch.Threshold
	}
}

// Accept makes an invited member active with its public key.
func (t *Team) Accept(principal string, pub ed25519.PublicKey, now time.Time) error {
	m := t.Member(principal)
	if m == nil || m.State == Removed {
		return fmt.Errorf("%s is not invited to team %s", audit.Clean(principal), t.Name)
	}
	if m.State == Active {
		return fmt.Errorf("%s is already an active member of team %s", principal, t.Name)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	for _, o := range t.Members {
		if o.State == Active && o.KeyID == KeyID(pub) {
			return fmt.Errorf("key %s is already %s's in team %s: every member has a key of its own", KeyID(pub), o.Principal, t.Name)
		}
	}
	m.State, m.PublicKey, m.KeyID, m.AcceptedAt = Active, pub, KeyID(pub), now
	return nil
}

// Steps splits a change into changes of one member or of the threshold,
// in an order in which each step on its own leaves t valid: a lower
// threshold first, a higher one last. The audit log records a change as
// these steps.
func (ch Change) Steps(t *Team) []Change {
	var out []Change
	lower := ch.Threshold != 0 && ch.Threshold < t.Threshold
	if lower {
		out = append(out, Change{Threshold: ch.Threshold})
	}
	for _, p := range ch.Remove {
		out = append(out, Change{Remove: []string{p}})
	}
	for _, p := range ch.Invite {
		out = append(out, Change{Invite: []string{p}})
	}
	if ch.Threshold != 0 && !lower {
		out = append(out, Change{Threshold: ch.Threshold})
	}
	return out
}
