package approval

import (
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/bunkerhq/bunker/internal/audit"
)

// Actions of the audit entries Verify reads.
const (
	ActionTeamCreate    = "team.create"      // TeamEvent: Team, Threshold, Reject
	ActionTeamInvite    = "team.invite"      // TeamEvent: Team, Member (and Request once the team is active)
	ActionTeamAccept    = "team.accept"      // TeamEvent: Team, Member, PublicKey, KeyID
	ActionTeamRemove    = "team.remove"      // TeamEvent: Team, Member (and Request once the team is active)
	ActionTeamThreshold = "team.threshold"   // TeamEvent: Team, Threshold (and Request once the team is active)
	ActionExecute       = "approval.execute" // Execution
)

// TeamEvent is the detail of the audit entries that make and change teams.
type TeamEvent struct {
	Team      string       `json:"team"`
	Member    string       `json:"member,omitempty"`
	Threshold int          `json:"threshold,omitempty"`
	Reject    RejectPolicy `json:"reject,omitempty"`
	PublicKey []byte       `json:"public_key,omitempty"`
	KeyID     string       `json:"key_id,omitempty"`
	// Request is the executed request that approved a change of an active
	// team.
	Request string `json:"request,omitempty"`
}

// Execution is the detail of the audit entry of an executed request,
// written in the transaction that performs the operation.
type Execution struct {
	Request   json.RawMessage `json:"request"` // the canonical form, as an object
	Hash      string          `json:"hash"`
	Team      string          `json:"team"`
	Threshold int             `json:"threshold"`
	Approvals []Ballot        `json:"approvals"` // the approvals it rests on
}

// TeamChangeParams are the parameters of a TeamChange request.
type TeamChangeParams struct {
	Team string `json:"team"`
	Change
}

// Kinds of problem Verify reports.
const (
	// KindMalformed: an entry Verify reads does not decode.
	KindMalformed = "malformed"
	// KindHash: an executed request's pinned form does not hash to the
	// hash it names, or is not a valid request.
	KindHash = "hash-mismatch"
	// KindSignature: an approval that does not count: a bad signature, a
	// signer that was not an active member then, the requester, or a
	// member or key that approved twice.
	KindSignature = "bad-approval"
	// KindThreshold: an executed request with fewer valid approvals than
	// its team's threshold then.
	KindThreshold = "below-threshold"
	// KindReplay: a request executed more than once.
	KindReplay = "executed-twice"
	// KindUnapproved: a change of an active team that names no executed
	// request approving it, a member accepting without an invitation, or
	// an operation naming a request that was never executed.
	KindUnapproved = "unapproved"
)

// Problem is one thing wrong with the approvals in a log.
type Problem struct {
	Seq     uint64 `json:"seq"`
	Request string `json:"request,omitempty"`
	Kind    string `json:"kind"`
	Detail  string `json:"detail"`
}

// Report is the result of Verify.
type Report struct {
	Audit    audit.Report `json:"audit"`    // the hash chain and checkpoints
	Teams    int          `json:"teams"`    // teams made in the log
	Executed int          `json:"executed"` // executed requests
	Verified int          `json:"verified"` // of them, with enough valid approvals
	Problems []Problem    `json:"problems"` // about approvals, in seq order
}

// OK reports whether the log and every approval in it verified.
func (r Report) OK() bool { return r.Audit.OK() && len(r.Problems) == 0 }

// Verify checks an audit log's chain and checkpoints against pub (as
// audit.Verify does) and every approval in it: each executed request must
// hash to its pinned form and carry its team's threshold of valid
// approvals by members of the team as it was at that point of the log,
// and each change of an active team must have been approved by it. pub
// must come from somewhere the attacker cannot write.
func Verify(entries []audit.Entry, checkpoints []audit.Checkpoint, pub ed25519.PublicKey) Report {
	r := replay{teams: map[string]*Team{}, approved: map[string]Request{}, executed: map[string]bool{}}
	r.report.Audit = audit.Verify(entries, checkpoints, pub)
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b audit.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, e := range sorted {
		if e.Outcome == audit.OutcomeOK {
			r.entry(e)
		}
	}
	if r.report.Problems == nil {
		r.report.Problems = []Problem{}
	}
	return r.report
}

type replay struct {
	report   Report
	teams    map[string]*Team
	approved map[string]Request // executed requests that verified
	executed map[string]bool    // every executed request
}

func (r *replay) problem(seq uint64, req, kind, format string, args ...any) {
	r.report.Problems = append(r.report.Problems, Problem{Seq: seq, Request: req, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (r *replay) entry(e audit.Entry) {
	switch e.Action {
	case ActionExecute:
		r.execution(e)
	case ActionTeamCreate, ActionTeamInvite, ActionTeamAccept, ActionTeamRemove, ActionTeamThreshold:
		var ev TeamEvent
		if err := json.Unmarshal(e.Detail, &ev); err != nil || ev.Team == "" {
			r.problem(e.Seq, "", KindMalformed, "%s entry: detail does not name a team", e.Action)
			return
		}
		r.teamEvent(e, ev)
	default:
		var ref struct {
			Approval string `json:"approval"`
		}
		if json.Unmarshal(e.Detail, &ref) == nil && ref.Approval != "" && !r.executed[ref.Approval] {
			r.problem(e.Seq, ref.Approval, KindUnapproved, "%s on %s names request %s, which was never executed", e.Action, audit.Clean(e.Target), audit.Clean(ref.Approval))
		}
	}
}

func (r *replay) execution(e audit.Entry) {
	var ex Execution
	if err := json.Unmarshal(e.Detail, &ex); err != nil || len(ex.Request) == 0 {
		r.problem(e.Seq, "", KindMalformed, "approval.execute entry: %v", err)
		return
	}
	r.report.Executed++
	canonical, err := audit.CanonicalJSON(ex.Request)
	if err != nil {
		r.problem(e.Seq, "", KindHash, "the pinned request is not JSON: %v", err)
		return
	}
	req, hash, err := ParseCanonical(canonical)
	if err != nil {
		r.problem(e.Seq, "", KindHash, "the pinned request: %v", err)
		return
	}
	if r.executed[req.ID] {
		r.problem(e.Seq, req.ID, KindReplay, "request %s was executed before", req.ID)
		return
	}
	r.executed[req.ID] = true
	if hash != ex.Hash {
		r.problem(e.Seq, req.ID, KindHash, "the pinned request hashes to %s, the entry names %s", hash, audit.Clean(ex.Hash))
		return
	}
	team := r.teams[req.Team]
	if team == nil {
		r.problem(e.Seq, req.ID, KindThreshold, "request %s names team %s, which the log never made", req.ID, audit.Clean(req.Team))
		return
	}
	approvals, problems := Tally(hash, req.Requester, ex.Approvals, team)
	for _, p := range problems {
		r.problem(e.Seq, req.ID, KindSignature, "%s", p)
	}
	if len(approvals) < team.Threshold || len(approvals) < MinThreshold {
		r.problem(e.Seq, req.ID, KindThreshold, "%s on %s executed with %d valid approvals; team %s needed %d", req.Operation, audit.Clean(req.Target), len(approvals), team.Name, team.Threshold)
		return
	}
	r.approved[req.ID] = req
	r.report.Verified++
}

func (r *replay) teamEvent(e audit.Entry, ev TeamEvent) {
	t := r.teams[ev.Team]
	if e.Action == ActionTeamCreate {
		if t != nil {
			r.problem(e.Seq, "", KindUnapproved, "team %s is made a second time", audit.Clean(ev.Team))
			return
		}
		reject, err := ParseRejectPolicy(string(ev.Reject))
		if err != nil {
			reject = RejectAny
		}
		r.teams[ev.Team] = &Team{Name: ev.Team, Threshold: ev.Threshold, Reject: reject}
		r.report.Teams++
		return
	}
	if t == nil {
		r.problem(e.Seq, "", KindMalformed, "%s of team %s, which the log never made", e.Action, audit.Clean(ev.Team))
		return
	}
	if e.Action == ActionTeamAccept {
		pub := ed25519.PublicKey(ev.PublicKey)
		if err := t.Accept(ev.Member, pub, e.Time); err != nil {
			r.problem(e.Seq, "", KindUnapproved, "%s", err)
		} else if KeyID(pub) != ev.KeyID {
			r.problem(e.Seq, "", KindMalformed, "team.accept of %s names key %s for a key whose id is %s", audit.Clean(ev.Member), audit.Clean(ev.KeyID), KeyID(pub))
		}
		return
	}
	var ch Change
	switch e.Action {
	case ActionTeamInvite:
		ch.Invite = []string{ev.Member}
	case ActionTeamRemove:
		ch.Remove = []string{ev.Member}
	case ActionTeamThreshold:
		ch.Threshold = ev.Threshold
	}
	if t.Active() && !r.approvedChange(ev, ch) {
		r.problem(e.Seq, ev.Request, KindUnapproved, "%s of active team %s%s names no executed request of the team approving it", e.Action, t.Name, describeMember(ev.Member))
		return
	}
	if err := t.CheckChange(ch); err != nil {
		r.problem(e.Seq, ev.Request, KindMalformed, "%s: %v", e.Action, err)
		return
	}
	t.Apply(ch, "", e.Time)
}

func describeMember(m string) string {
	if m == "" {
		return ""
	}
	return " (" + audit.Clean(m) + ")"
}

// approvedChange reports whether ev names an executed, verified request
// that approved exactly this change of its team.
func (r *replay) approvedChange(ev TeamEvent, ch Change) bool {
	req, ok := r.approved[ev.Request]
	if !ok || req.Operation != TeamChange || req.Team != ev.Team {
		return false
	}
	var p TeamChangeParams
	if err := json.Unmarshal(req.Params, &p); err != nil || p.Team != ev.Team {
		return false
	}
	switch {
	case len(ch.Invite) == 1:
		return slices.Contains(p.Invite, ch.Invite[0])
	case len(ch.Remove) == 1:
		return slices.Contains(p.Remove, ch.Remove[0])
	}
	return ch.Threshold != 0 && p.Threshold == ch.Threshold
}

// Summary says in one line what a report found.
func (r Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d executed requests, %d with enough valid approvals, %d teams", r.Executed, r.Verified, r.Teams)
	if n := len(r.Audit.Problems); n > 0 {
		fmt.Fprintf(&b, "; the audit chain has %d problems", n)
	}
	if n := len(r.Problems); n > 0 {
		fmt.Fprintf(&b, "; %d approval problems", n)
	}
	return b.String()
}
