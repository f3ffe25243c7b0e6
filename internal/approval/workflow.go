package approval

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is where a request is in the workflow.
type State string

// Request states.
const (
	AwaitingConfirmation State = "awaiting-confirmation" // the requester has to confirm its intent
	PendingApproval      State = "pending-approval"      // the team votes
	Approved             State = "approved"              // enough approvals: the requester confirms once more
	Executed             State = "executed"              // done, once
	Rejected             State = "rejected"
	Expired              State = "expired"
	Cancelled            State = "cancelled"
)

// Final reports whether nothing more can happen to a request in state s.
func (s State) Final() bool {
	return s == Executed || s == Rejected || s == Expired || s == Cancelled
}

// DefaultTimeout is how long each waiting step lasts by default.
const DefaultTimeout = 24 * time.Hour

// Ballot is one member's signed vote.
type Ballot struct {
	Member    string    `json:"member"`
	Vote      Vote      `json:"vote"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// Record is a request with where it is in the workflow.
type Record struct {
	Request     Request   `json:"request"`
	Canonical   string    `json:"canonical"` // the canonical form, exactly as hashed
	Hash        string    `json:"hash"`
	State       State     `json:"state"`
	Deadline    time.Time `json:"deadline,omitzero"` // of the current waiting step
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	ApprovedAt  time.Time `json:"approved_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	Note        string    `json:"note,omitempty"` // why it ended, when it did not execute
	Ballots     []Ballot  `json:"ballots"`
}

// Workflow errors; test with errors.Is.
var (
	ErrState        = errors.New("not allowed in the request's state")
	ErrExpired      = errors.New("the request has expired")
	ErrNotRequester = errors.New("only the requester may do this")
	ErrSelfApproval = errors.New("the requester may not vote on its own request")
	ErrNotMember    = errors.New("not an active member of the request's team")
	ErrVoted        = errors.New("already voted on this request")
	ErrHash         = errors.New("the request's hash does not match")
	ErrThreshold    = errors.New("not enough valid approvals")
)

// Open records a new request, awaiting its requester's confirmation until
// now + timeout.
func Open(req Request, now time.Time, timeout time.Duration) (*Record, error) {
	c, err := req.Canonical()
	if err != nil {
		return nil, err
	}
	return &Record{Request: req, Canonical: string(c), Hash: Hash(c), State: AwaitingConfirmation, Deadline: now.Add(timeout), Ballots: []Ballot{}}, nil
}

// Expire moves a waiting request past its deadline to Expired, and
// reports whether it did.
func (r *Record) Expire(now time.Time) bool {
	if r.State.Final() || r.Deadline.IsZero() || now.Before(r.Deadline) {
		return false
	}
	r.State, r.FinishedAt, r.Note = Expired, now, fmt.Sprintf("no %s before %s", r.waitingFor(), r.Deadline.UTC().Format(time.RFC3339))
	return true
}

func (r *Record) waitingFor() string {
	switch r.State {
	case AwaitingConfirmation:
		return "confirmation by the requester"
	case PendingApproval:
		return "approval by the team"
	}
	return "final confirmation by the requester"
}

// Check verifies that the stored canonical form is a valid request that
// hashes to the stored hash and is the request recorded.
func (r *Record) Check() error {
	req, h, err := ParseCanonical([]byte(r.Canonical))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHash, err)
	}
	if h != r.Hash {
		return fmt.Errorf("%w: its pinned form hashes to %s, not %s", ErrHash, h[:16], short(r.Hash))
	}
	if req.ID != r.Request.ID {
		return fmt.Errorf("%w: it pins request %s", ErrHash, req.ID)
	}
	r.Request = req
	return nil
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// step checks what every step checks: the request is in state want, not
// past its deadline, and the caller gave the right hash.
func (r *Record) step(want State, hash string, now time.Time) error {
	if r.Expire(now) {
		return ErrExpired
	}
	if r.State == Expired {
		return ErrExpired
	}
	if r.State != want {
		return fmt.Errorf("%w: it is %s", ErrState, r.State)
	}
	if hash != r.Hash {
		return fmt.Errorf("%w: you confirmed %s, the request is %s", ErrHash, short(hash), short(r.Hash))
	}
	return nil
}

// Confirm is the requester confirming its intent: the request goes to the
// team, which has until now + timeout.
func (r *Record) Confirm(actor, hash string, now time.Time, timeout time.Duration) error {
	if actor != r.Request.Requester {
		return ErrNotRequester
	}
	if err := r.step(AwaitingConfirmation, hash, now); err != nil {
		return err
	}
	r.State, r.ConfirmedAt, r.Deadline = PendingApproval, now, now.Add(timeout)
	return nil
}

// Vote records a member's signed vote, checked against the member's key
// in team. With the threshold of approvals the request is approved and
// awaits the final confirmation until now + timeout; a rejection may end
// it, as the team's policy says.
func (r *Record) Vote(b Ballot, team *Team, now time.Time, timeout time.Duration) error {
	if b.Member == r.Request.Requester {
		return ErrSelfApproval
	}
	if err := r.step(PendingApproval, r.Hash, now); err != nil {
		return err
	}
	if team.Name != r.Request.Team {
		return fmt.Errorf("%w: the request is for team %s", ErrNotMember, r.Request.Team)
	}
	m := team.ActiveMember(b.Member)
	if m == nil {
		return ErrNotMember
	}
	for _, o := range r.Ballots {
		if o.Member == b.Member {
			return ErrVoted
		}
	}
	if err := CheckSignature(ed25519.PublicKey(m.PublicKey), r.Hash, b.Vote, b.KeyID, b.Signature); err != nil {
		return err
	}
	b.At = now
	r.Ballots = append(r.Ballots, b)
	approvals, _ := Tally(r.Hash, r.Request.Requester, r.Ballots, team)
	switch {
	case len(approvals) >= team.Threshold:
		r.State, r.ApprovedAt, r.Deadline = Approved, now, now.Add(timeout)
	case b.Vote == Reject && r.rejectionEnds(team):
		r.State, r.FinishedAt, r.Deadline, r.Note = Rejected, now, time.Time{}, fmt.Sprintf("rejected by %s: %s", b.Member, b.Reason)
	}
	return nil
}

// rejectionEnds applies the team's rejection policy.
func (r *Record) rejectionEnds(team *Team) bool {
	if team.Reject != RejectUnreachable {
		return true
	}
	open := 0
	for _, m := range team.Members {
		if m.State != Active || m.Principal == r.Request.Requester {
			continue
		}
		rejected := false
		for _, b := range r.Ballots {
			rejected = rejected || (b.Member == m.Principal && b.Vote == Reject)
		}
		if !rejected {
			open++
		}
	}
	return open < team.Threshold
}

// Tally returns the approvals among ballots that count for the request
// with the given hash and requester with team as it is: approving votes,
// each by a distinct active member other than the requester, with a
// distinct key, signed with that member's key. It also says why each
// other approving ballot does not count.
func Tally(hash, requester string, ballots []Ballot, team *Team) (approvals []Ballot, problems []string) {
	members, keys := map[string]bool{}, map[string]bool{}
	for _, b := range ballots {
		if b.Vote != Approve {
			continue
		}
		m := team.ActiveMember(b.Member)
		switch {
		case b.Member == requester:
			problems = append(problems, fmt.Sprintf("%s approved its own request", b.Member))
		case m == nil:
			problems = append(problems, fmt.Sprintf("%s is not an active member of team %s", b.Member, team.Name))
		case members[b.Member]:
			problems = append(problems, fmt.Sprintf("%s approved twice", b.Member))
		case keys[b.KeyID]:
			problems = append(problems, fmt.Sprintf("key %s signed twice", b.KeyID))
		default:
			if err := CheckSignature(ed25519.PublicKey(m.PublicKey), hash, Approve, b.KeyID, b.Signature); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", b.Member, err))
				continue
			}
			members[b.Member], keys[b.KeyID] = true, true
			approvals = append(approvals, b)
		}
	}
	return approvals, problems
}

// Final is the requester's final confirmation. It checks everything
// again, with team as it is now: the pinned form still hashes to the
// request's hash, and the threshold of valid approvals holds. It returns
// the approvals the execution rests on; the caller executes and then calls
// Done, in one transaction.
func (r *Record) Final(actor, hash string, team *Team, now time.Time) ([]Ballot, error) {
	if actor != r.Request.Requester {
		return nil, ErrNotRequester
	}
	if err := r.step(Approved, hash, now); err != nil {
		return nil, err
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	if team.Name != r.Request.Team {
		return nil, fmt.Errorf("%w: the request is for team %s", ErrNotMember, r.Request.Team)
	}
	approvals, problems := Tally(r.Hash, r.Request.Requester, r.Ballots, team)
	if len(approvals) < team.Threshold {
		return nil, fmt.Errorf("%w: %d valid approvals, team %s needs %d (%s)", ErrThreshold, len(approvals), team.Name, team.Threshold, strings.Join(problems, "; "))
	}
	return approvals[:team.Threshold], nil
}

// Done marks an approved request executed.
func (r *Record) Done(now time.Time) {
	r.State, r.FinishedAt, r.Deadline = Executed, now, time.Time{}
}

// Cancel is the requester withdrawing a request that is not final.
func (r *Record) Cancel(actor string, now time.Time) error {
	if actor != r.Request.Requester {
		return ErrNotRequester
	}
	if r.Expire(now) || r.State == Expired {
		return ErrExpired
	}
	if r.State.Final() {
		return fmt.Errorf("%w: it is %s", ErrState, r.State)
	}
	r.State, r.FinishedAt, r.Deadline, r.Note = Cancelled, now, time.Time{}, "cancelled by "+actor
	return nil
}
