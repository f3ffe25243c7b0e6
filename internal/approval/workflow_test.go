package approval

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const hour = time.Hour

func openRequest(t *testing.T, requester string) *Record {
	t.Helper()
	req := sampleRequest()
	req.Requester = requester
	r, err := Open(req, t0, DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != AwaitingConfirmation || !r.Deadline.Equal(t0.Add(DefaultTimeout)) {
		t.Fatalf("new request %+v", r)
	}
	return r
}

func ballot(t *testing.T, r *Record, member string, v Vote) Ballot {
	t.Helper()
	sig, id, err := Sign(memberKeys[member], r.Hash, v)
	if err != nil {
		t.Fatal(err)
	}
	return Ballot{Member: member, Vote: v, KeyID: id, Signature: sig, Reason: "ok"}
}

func TestWorkflowToExecution(t *testing.T) {
	team := activeTeam(t, 2, "amy", "bob", "cat")
	r := openRequest(t, "ann")
	now := t0.Add(hour)
	if err := r.Confirm("mallory", r.Hash, now, DefaultTimeout); !errors.Is(err, ErrNotRequester) {
		t.Fatalf("confirm by another: %v", err)
	}
	if err := r.Confirm("ann", testHash(9), now, DefaultTimeout); !errors.Is(err, ErrHash) {
		t.Fatalf("confirm of another hash: %v", err)
	}
	if err := r.Vote(ballot(t, r, "amy", Approve), team, now, DefaultTimeout); !errors.Is(err, ErrState) {
		t.Fatalf("vote before confirmation: %v", err)
	}
	if err := r.Confirm("ann", r.Hash, now, DefaultTimeout); err != nil || r.State != PendingApproval {
		t.Fatalf("confirm: %v %s", err, r.State)
	}
	if _, err := r.Final("ann", r.Hash, team, now); !errors.Is(err, ErrState) {
		t.Fatalf("final before approval: %v", err)
	}
	if err := r.Vote(ballot(t, r, "amy", Approve), team, now, DefaultTimeout); err != nil || r.State != PendingApproval {
		t.Fatalf("first approval: %v %s", err, r.State)
	}
	if err := r.Vote(ballot(t, r, "amy", Approve), team, now, DefaultTimeout); !errors.Is(err, ErrVoted) {
		t.Fatalf("second vote: %v", err)
	}
	if err := r.Vote(ballot(t, r, "bob", Approve), team, now, DefaultTimeout); err != nil || r.State != Approved {
		t.Fatalf("second approval: %v %s", err, r.State)
	}
	if err := r.Vote(ballot(t, r, "cat", Approve), team, now, DefaultTimeout); !errors.Is(err, ErrState) {
		t.Fatalf("vote after approval: %v", err)
	}
	if _, err := r.Final("amy", r.Hash, team, now); !errors.Is(err, ErrNotRequester) {
		t.Fatalf("final by an approver: %v", err)
	}
	approvals, err := r.Final("ann", r.Hash, team, now)
	if err != nil || len(approvals) != 2 {
		t.Fatalf("final: %v %d", err, len(approvals))
	}
	r.Done(now)
	if r.State != Executed || !r.State.Final() {
		t.Fatal("not executed")
	}
	if _, err := r.Final("ann", r.Hash, team, now); !errors.Is(err, ErrState) {
		t.Fatalf("executed twice: %v", err)
	}
}

func pending(t *testing.T, requester string) *Record {
	t.Helper()
	r := openRequest(t, requester)
	if err := r.Confirm(requester, r.Hash, t0, DefaultTimeout); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVoteRefusals(t *testing.T) {
	team := activeTeam(t, 2, "amy", "bob", "cat")
	r := pending(t, "amy")
	if err := r.Vote(ballot(t, r, "amy", Approve), team, t0, DefaultTimeout); !errors.Is(err, ErrSelfApproval) {
		t.Fatalf("self-approval: %v", err)
	}
	if err := r.Vote(ballot(t, r, "dan", Approve), team, t0, DefaultTimeout); !errors.Is(err, ErrNotMember) {
		t.Fatalf("stranger: %v", err)
	}
	other := pending(t, "ann")
	if err := r.Vote(ballot(t, other, "bob", Approve), team, t0, DefaultTimeout); !errors.Is(err, ErrSignature) {
		t.Fatalf("signature of another request: %v", err)
	}
	b := ballot(t, r, "bob", Reject)
	b.Vote = Approve
	if err := r.Vote(b, team, t0, DefaultTimeout); !errors.Is(err, ErrSignature) {
		t.Fatalf("rejection turned approval: %v", err)
	}
	team.Apply(Change{Remove: []string{"cat"}}, "admin", t0)
	if err := r.Vote(ballot(t, r, "cat", Approve), team, t0, DefaultTimeout); !errors.Is(err, ErrNotMember) {
		t.Fatalf("removed member: %v", err)
	}
	if len(r.Ballots) != 0 || r.State != PendingApproval {
		t.Fatalf("refused votes changed the request: %+v", r)
	}
}

func TestRemovedApproverNoLongerCounts(t *testing.T) {
	team := activeTeam(t, 2, "amy", "bob", "cat")
	r := pending(t, "ann")
	for _, m := range []string{"amy", "bob"} {
		if err := r.Vote(ballot(t, r, m, Approve), team, t0, DefaultTimeout); err != nil {
			t.Fatal(err)
		}
	}
	team.Apply(Change{Remove: []string{"bob"}}, "admin", t0)
	if _, err := r.Final("ann", r.Hash, team, t0); !errors.Is(err, ErrThreshold) {
		t.Fatalf("final with a removed approver: %v", err)
	}
}

func TestExpiryAtEveryStep(t *testing.T) {
	team := activeTeam(t, 2, "amy", "bob", "cat")
	late := t0.Add(DefaultTimeout)
	r := openRequest(t, "ann")
	if err := r.Confirm("ann", r.Hash, late, DefaultTimeout); !errors.Is(err, ErrExpired) || r.State != Expired {
		t.Fatalf("late confirmation: %v %s", err, r.State)
	}
	r = pending(t, "ann")
	if err := r.Vote(ballot(t, r, "amy", Approve), team, late, DefaultTimeout); !errors.Is(err, ErrExpired) || r.State != Expired {
		t.Fatalf("late vote: %v %s", err, r.State)
	}
	r = pending(t, "ann")
	for _, m := range []string{"amy", "bob"} {
		if err := r.Vote(ballot(t, r, m, Approve), team, t0.Add(hour), DefaultTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if r.Expire(t0.Add(DefaultTimeout)) {
		t.Fatal("the final step has its own deadline")
	}
	if _, err := r.Final("ann", r.Hash, team, t0.Add(hour+DefaultTimeout)); !errors.Is(err, ErrExpired) || r.State != Expired || r.Note == "" {
		t.Fatalf("late final confirmation: %v %s", err, r.State)
	}
	if err := r.Cancel("ann", late); !errors.Is(err, ErrExpired) {
		t.Fatalf("cancel an expired request: %v", err)
	}
}

func TestRejections(t *testing.T) {
	team := activeTeam(t, 2, "amy", "bob", "cat")
	r := pending(t, "ann")
	if err := r.Vote(ballot(t, r, "amy", Reject), team, t0, DefaultTimeout); err != nil || r.State != Rejected {
		t.Fatalf("any rejection: %v %s", err, r.State)
	}
	team.Reject = RejectUnreachable
	r = pending(t, "ann")
	if err := r.Vote(ballot(t, r, "amy", Reject), team, t0, DefaultTimeout); err != nil || r.State != PendingApproval {
		t.Fatalf("one rejection of three, threshold 2: %v %s", err, r.State)
	}
	if err := r.Vote(ballot(t, r, "bob", Reject), team, t0, DefaultTimeout); err != nil || r.State != Rejected {
		t.Fatalf("two rejections of three, threshold 2: %v %s", err, r.State)
	}
}

func TestCancel(t *testing.T) {
	r := pending(t, "ann")
	if err := r.Cancel("bob", t0); !errors.Is(err, ErrNotRequester) {
		t.Fatal(err)
	}
	if err := r.Cancel("ann", t0); err != nil || r.State != Cancelled {
		t.Fatalf("%v %s", err, r.State)
	}
	if err := r.Cancel("ann", t0); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
}

// The final confirmation checks the pinned form again: parameters changed
// after the approvals are refused.
func TestFinalCatchesChangedParameters(t *testing.T) {
	team := activeTeam(t, 2, "amy", "bob", "cat")
	r := pending(t, "ann")
	for _, m := range []string{"amy", "bob"} {
		if err := r.Vote(ballot(t, r, m, Approve), team, t0, DefaultTimeout); err != nil {
			t.Fatal(err)
		}
	}
	changed := *r
	changed.Canonical = strings.Replace(r.Canonical, `"point":"3fa9"`, `"point":"9999"`, 1)
	if _, err := changed.Final("ann", r.Hash, team, t0); !errors.Is(err, ErrHash) {
		t.Fatalf("changed params: %v", err)
	}
	// Rehashed too: the approvals no longer verify.
	rehashed := changed
	rehashed.Hash = Hash([]byte(changed.Canonical))
	if _, err := rehashed.Final("ann", rehashed.Hash, team, t0); !errors.Is(err, ErrThreshold) {
		t.Fatalf("changed and rehashed: %v", err)
	}
	var req Request
	if err := json.Unmarshal([]byte(r.Canonical), &req); err != nil || req.ID != r.Request.ID {
		t.Fatal("canonical form does not decode")
	}
	if _, err := r.Final("ann", r.Hash, team, t0); err != nil {
		t.Fatalf("the untouched request: %v", err)
	}
}
