package approval

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// keys of the members of test teams, by name.
var memberKeys = map[string]ed25519.PrivateKey{"amy": testKey(11), "bob": testKey(12), "cat": testKey(13), "dan": testKey(14), "eve": testKey(15)}

func pubOf(name string) ed25519.PublicKey { return memberKeys[name].Public().(ed25519.PublicKey) }

// activeTeam is a team of the named members, all active, threshold m.
func activeTeam(t *testing.T, m int, names ...string) *Team {
	t.Helper()
	team := &Team{Name: "guards", Threshold: m, Reject: RejectAny}
	if err := team.CheckChange(Change{Invite: names}); err != nil {
		t.Fatal(err)
	}
	team.Apply(Change{Invite: names}, "admin", t0)
	for _, n := range names {
		if err := team.Accept(n, pubOf(n), t0); err != nil {
			t.Fatal(err)
		}
	}
	return team
}

func TestTeamForming(t *testing.T) {
	team := &Team{Name: "guards", Threshold: 2}
	if team.Validate() != nil || team.Active() {
		t.Fatal("a new team is valid and forming")
	}
	team.Apply(Change{Invite: []string{"amy", "bob"}}, "admin", t0)
	if err := team.Accept("amy", pubOf("amy"), t0); err != nil {
		t.Fatal(err)
	}
	if team.Active() {
		t.Fatal("active with one member")
	}
	if err := team.Accept("bob", pubOf("amy"), t0); err == nil {
		t.Fatal("two members share a key")
	}
	if err := team.Accept("cat", pubOf("cat"), t0); err == nil {
		t.Fatal("accepted without an invitation")
	}
	if err := team.Accept("bob", pubOf("bob"), t0); err != nil || !team.Active() {
		t.Fatalf("two members of threshold 2: %v, %s", err, team.Status())
	}
	if err := team.Accept("bob", pubOf("bob"), t0); err == nil {
		t.Fatal("accepted twice")
	}
	if err := (&Team{Name: "x", Threshold: 1}).Validate(); err == nil {
		t.Fatal("threshold 1 accepted")
	}
}

func TestTeamCheckChange(t *testing.T) {
	team := activeTeam(t, 2, "amy", "bob", "cat")
	for name, ch := range map[string]Change{
		"nothing":            {},
		"invite a member":    {Invite: []string{"amy"}},
		"remove a stranger":  {Remove: []string{"zed"}},
		"named twice":        {Invite: []string{"dan"}, Remove: []string{"dan"}},
		"too few left":       {Remove: []string{"amy", "bob"}},
		"threshold 1":        {Threshold: 1},
		"threshold too high": {Threshold: 4, Invite: []string{"dan"}},
	} {
		if err := team.CheckChange(ch); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, ch := range map[string]Change{
		"invite":           {Invite: []string{"dan"}},
		"remove one":       {Remove: []string{"cat"}},
		"raise to 3":       {Threshold: 3},
		"remove and lower": {Remove: []string{"cat"}, Threshold: 2},
	} {
		if err := team.CheckChange(ch); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	team.Apply(Change{Remove: []string{"cat"}}, "admin", t0)
	if team.ActiveMember("cat") != nil || team.Member("cat").State != Removed {
		t.Fatal("removed member still active")
	}
	if err := team.CheckChange(Change{Invite: []string{"cat"}}); err != nil {
		t.Fatalf("a removed member can be invited again: %v", err)
	}
}

// Steps of a change apply one by one, each leaving the team valid.
func TestChangeSteps(t *testing.T) {
	for _, ch := range []Change{
		{Remove: []string{"cat"}, Threshold: 2},
		{Invite: []string{"dan"}, Remove: []string{"amy"}},
		{Threshold: 3},
	} {
		team := activeTeam(t, 3, "amy", "bob", "cat")
		if ch.Threshold != 2 {
			team.Threshold = 2
		}
		if err := team.CheckChange(ch); err != nil {
			t.Fatalf("%+v: %v", ch, err)
		}
		for _, st := range ch.Steps(team) {
			if err := team.CheckChange(st); err != nil {
				t.Fatalf("%+v: step %+v: %v", ch, st, err)
			}
			team.Apply(st, "x", t0)
		}
	}
}

func TestRejectPolicy(t *testing.T) {
	for in, want := range map[string]RejectPolicy{"": RejectAny, "any": RejectAny, "unreachable": RejectUnreachable} {
		if got, err := ParseRejectPolicy(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseRejectPolicy("never"); err == nil || !strings.Contains(err.Error(), "never") {
		t.Error("unknown policy accepted")
	}
}
