package approval

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// testLog builds an audit log the way the server writes one.
type testLog struct {
	entries []audit.Entry
	cps     []audit.Checkpoint
	n       int
}

var serverKey = testKey(99)

func (l *testLog) add(t testing.TB, action, target string, detail any) audit.Entry {
	t.Helper()
	d, err := json.Marshal(detail)
	if err != nil {
		t.Fatal(err)
	}
	var last *audit.Entry
	if len(l.entries) > 0 {
		last = &l.entries[len(l.entries)-1]
	}
	e, err := audit.Next(last, audit.Entry{Time: t0.Add(time.Duration(len(l.entries)) * time.Second), Actor: "x", Action: action, Target: target, Outcome: audit.OutcomeOK, Detail: d})
	if err != nil {
		t.Fatal(err)
	}
	l.entries = append(l.entries, e)
	return e
}

func (l *testLog) seal(t testing.TB) {
	t.Helper()
	cp, err := audit.Sign(serverKey, l.entries[len(l.entries)-1], t0)
	if err != nil {
		t.Fatal(err)
	}
	l.cps = append(l.cps, cp)
}

func (l *testLog) verify(t testing.TB) Report {
	t.Helper()
	l.seal(t)
	return Verify(l.entries, l.cps, serverKey.Public().(ed25519.PublicKey))
}

// newTeamLog makes team guards (threshold 2) of amy, bob and cat.
func newTeamLog(t testing.TB) *testLog {
	l := &testLog{}
	l.add(t, ActionTeamCreate, "team/guards", TeamEvent{Team: "guards", Threshold: 2, Reject: RejectAny})
	for _, m := range []string{"amy", "bob", "cat"} {
		l.add(t, ActionTeamInvite, "team/guards", TeamEvent{Team: "guards", Member: m})
	}
	for _, m := range []string{"amy", "bob", "cat"} {
		l.add(t, ActionTeamAccept, "team/guards", TeamEvent{Team: "guards", Member: m, PublicKey: pubOf(m), KeyID: KeyID(pubOf(m))})
	}
	return l
}

// execute records the execution of req with approvals by the signers.
func (l *testLog) execute(t testing.TB, req Request, signers ...string) {
	t.Helper()
	c, err := req.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	h := Hash(c)
	ex := Execution{Request: c, Hash: h, Team: req.Team, Threshold: 2, Approvals: []Ballot{}}
	for _, s := range signers {
		sig, id, err := Sign(memberKeys[s], h, Approve)
		if err != nil {
			t.Fatal(err)
		}
		ex.Approvals = append(ex.Approvals, Ballot{Member: s, Vote: Approve, KeyID: id, Signature: sig, At: t0})
	}
	l.add(t, ActionExecute, "approval/"+req.ID, ex)
}

func request(n int, op Operation, params any) Request {
	p, _ := json.Marshal(params)
	return Request{ID: fmt.Sprintf("%032x", n), Operation: op, Scope: "prod", Target: "vault/prod", Params: p, Requester: "ann", Team: "guards", Created: t0}
}

func kinds(r Report) map[string]int {
	out := map[string]int{}
	for _, p := range r.Problems {
		out[p.Kind]++
	}
	return out
}

func TestVerifyGoodLog(t *testing.T) {
	l := newTeamLog(t)
	l.execute(t, request(1, VaultDelete, map[string]any{}), "amy", "bob")
	l.add(t, "vault.delete", "vault/prod", map[string]any{"approval": fmt.Sprintf("%032x", 1)})
	// An approved change: dan joins, cat leaves.
	ch := request(2, TeamChange, TeamChangeParams{Team: "guards", Change: Change{Invite: []string{"dan"}, Remove: []string{"cat"}}})
	l.execute(t, ch, "cat", "bob")
	l.add(t, ActionTeamRemove, "team/guards", TeamEvent{Team: "guards", Member: "cat", Request: ch.ID})
	l.add(t, ActionTeamInvite, "team/guards", TeamEvent{Team: "guards", Member: "dan", Request: ch.ID})
	l.add(t, ActionTeamAccept, "team/guards", TeamEvent{Team: "guards", Member: "dan", PublicKey: pubOf("dan"), KeyID: KeyID(pubOf("dan"))})
	l.execute(t, request(3, HoldRelease, map[string]any{"hold": 1}), "dan", "amy")
	rep := l.verify(t)
	if !rep.OK() || rep.Executed != 3 || rep.Verified != 3 || rep.Teams != 1 {
		t.Fatalf("good log: %+v", rep)
	}
}

func TestVerifyCatchesForgeries(t *testing.T) {
	for name, tc := range map[string]struct {
		build func(t *testing.T, l *testLog)
		want  string
	}{
		"approval by a stranger": {func(t *testing.T, l *testLog) {
			l.execute(t, request(1, VaultDelete, map[string]any{}), "amy", "dan")
		}, KindThreshold},
		"one approval": {func(t *testing.T, l *testLog) {
			l.execute(t, request(1, VaultDelete, map[string]any{}), "amy")
		}, KindThreshold},
		"self-approval": {func(t *testing.T, l *testLog) {
			r := request(1, VaultDelete, map[string]any{})
			r.Requester = "amy"
			l.execute(t, r, "amy", "bob")
		}, KindThreshold},
		"the same approver twice": {func(t *testing.T, l *testLog) {
			l.execute(t, request(1, VaultDelete, map[string]any{}), "amy", "amy")
		}, KindThreshold},
		"a signature of another request": {func(t *testing.T, l *testLog) {
			good := request(1, VaultDelete, map[string]any{})
			c, _ := good.Canonical()
			sig, id, _ := Sign(memberKeys["bob"], Hash(c), Approve)
			other := request(2, VaultDelete, map[string]any{})
			c2, _ := other.Canonical()
			sa, ida, _ := Sign(memberKeys["amy"], Hash(c2), Approve)
			l.add(t, ActionExecute, "approval/2", Execution{Request: c2, Hash: Hash(c2), Team: "guards", Threshold: 2,
				Approvals: []Ballot{{Member: "amy", Vote: Approve, KeyID: ida, Signature: sa}, {Member: "bob", Vote: Approve, KeyID: id, Signature: sig}}})
		}, KindThreshold},
		"parameters changed": {func(t *testing.T, l *testLog) {
			r := request(1, DeleteEarly, map[string]any{"point": "aaaa"})
			c, _ := r.Canonical()
			h := Hash(c)
			r.Params = json.RawMessage(`{"point":"bbbb"}`)
			c2, _ := r.Canonical()
			l.add(t, ActionExecute, "approval/1", Execution{Request: c2, Hash: h, Team: "guards", Threshold: 2, Approvals: []Ballot{}})
		}, KindHash},
		"executed twice": {func(t *testing.T, l *testLog) {
			r := request(1, VaultDelete, map[string]any{})
			l.execute(t, r, "amy", "bob")
			l.execute(t, r, "amy", "bob")
		}, KindReplay},
		"unapproved member": {func(t *testing.T, l *testLog) {
			l.add(t, ActionTeamInvite, "team/guards", TeamEvent{Team: "guards", Member: "dan"})
			l.add(t, ActionTeamAccept, "team/guards", TeamEvent{Team: "guards", Member: "dan", PublicKey: pubOf("dan"), KeyID: KeyID(pubOf("dan"))})
		}, KindUnapproved},
		"removed member approves": {func(t *testing.T, l *testLog) {
			ch := request(2, TeamChange, TeamChangeParams{Team: "guards", Change: Change{Remove: []string{"cat"}}})
			l.execute(t, ch, "amy", "bob")
			l.add(t, ActionTeamRemove, "team/guards", TeamEvent{Team: "guards", Member: "cat", Request: ch.ID})
			l.execute(t, request(3, VaultDelete, map[string]any{}), "amy", "cat")
		}, KindThreshold},
		"change approved for someone else": {func(t *testing.T, l *testLog) {
			ch := request(2, TeamChange, TeamChangeParams{Team: "guards", Change: Change{Invite: []string{"dan"}}})
			l.execute(t, ch, "amy", "bob")
			l.add(t, ActionTeamInvite, "team/guards", TeamEvent{Team: "guards", Member: "eve", Request: ch.ID})
		}, KindUnapproved},
		"operation without execution": {func(t *testing.T, l *testLog) {
			l.add(t, "point.delete", "point/prod/aaaa", map[string]any{"approval": "feed"})
		}, KindUnapproved},
		"unknown team": {func(t *testing.T, l *testLog) {
			r := request(1, VaultDelete, map[string]any{})
			r.Team = "others"
			l.execute(t, r, "amy", "bob")
		}, KindThreshold},
	} {
		t.Run(name, func(t *testing.T) {
			l := newTeamLog(t)
			tc.build(t, l)
			rep := l.verify(t)
			if rep.OK() || kinds(rep)[tc.want] == 0 {
				t.Fatalf("want a %s problem: %+v", tc.want, rep.Problems)
			}
			if !rep.Audit.OK() {
				t.Fatalf("the chain itself is fine: %+v", rep.Audit)
			}
		})
	}
}

func TestVerifyReportsTheChain(t *testing.T) {
	l := newTeamLog(t)
	l.execute(t, request(1, VaultDelete, map[string]any{}), "amy", "bob")
	l.seal(t)
	l.entries[2].Actor = "someone else"
	rep := Verify(l.entries, l.cps, serverKey.Public().(ed25519.PublicKey))
	if rep.OK() || rep.Audit.OK() {
		t.Fatalf("an edited entry passed: %+v", rep)
	}
}

// FuzzVerify: whatever the detail of an approval or team entry holds,
// Verify reports rather than fails, and never counts it as verified
// without valid approvals.
func FuzzVerify(f *testing.F) {
	good := request(1, VaultDelete, map[string]any{})
	c, _ := good.Canonical()
	seeds := []struct {
		action int
		detail string
	}{
		{0, fmt.Sprintf(`{"request":%s,"hash":%q,"team":"guards","threshold":2,"approvals":[]}`, c, Hash(c))},
		{0, `{"request":{"id":"x"},"approvals":[{"member":"amy","signature":"AAAA"}]}`},
		{1, `{"team":"guards","member":"dan"}`},
		{2, `{"team":"guards","member":"dan","public_key":"AAAA","key_id":"ed25519:00"}`},
		{3, `{"team":"guards","threshold":-1}`},
		{4, `{"team":"x","threshold":100000}`},
		{5, `{"approval":"x"}`},
	}
	for i, s := range seeds {
		f.Add(s.action, []byte(s.detail))
		if fuzzseed.Enabled() {
			fuzzseed.WriteEntry(f, "FuzzVerify", fmt.Sprintf("seed-%d", i), fmt.Sprintf("int(%d)", s.action), fmt.Sprintf("[]byte(%q)", s.detail))
		}
	}
	actions := []string{ActionExecute, ActionTeamInvite, ActionTeamAccept, ActionTeamThreshold, ActionTeamCreate, "point.delete", ActionTeamRemove}
	f.Fuzz(func(t *testing.T, action int, detail []byte) {
		if action < 0 {
			action = -action
		}
		l := newTeamLog(t)
		var last = &l.entries[len(l.entries)-1]
		e, err := audit.Next(last, audit.Entry{Time: t0, Action: actions[action%len(actions)], Target: "t", Outcome: audit.OutcomeOK, Detail: detail})
		if err != nil {
			return
		}
		l.entries = append(l.entries, e)
		rep := l.verify(t)
		if rep.Verified > 0 {
			t.Fatalf("verified an execution from %q: %+v", detail, rep)
		}
	})
}
