package fsmeta

import (
	"os/user"
	"testing"
)

func TestNamesResolvesRoot(t *testing.T) {
	c := NewNames()
	if got := c.User(0); got != "root" {
		t.Errorf("User(0) = %q, want root", got)
	}
	if got := c.Group(0); got != "root" {
		t.Errorf("Group(0) = %q, want root", got)
	}
	if id, ok := c.UID("root"); !ok || id != 0 {
		t.Errorf("UID(root) = %d, %v; want 0, true", id, ok)
	}
	if id, ok := c.GID("root"); !ok || id != 0 {
		t.Errorf("GID(root) = %d, %v; want 0, true", id, ok)
	}
}

func TestNamesUnknown(t *testing.T) {
	requireUnknownID(t)
	c := NewNames()
	if got := c.User(unknownID); got != "" {
		t.Errorf("User(%d) = %q, want empty", unknownID, got)
	}
	if got := c.Group(unknownID); got != "" {
		t.Errorf("Group(%d) = %q, want empty", unknownID, got)
	}
	for _, name := range []string{"", "bunker-no-such-name", "0"} {
		if _, ok := c.UID(name); ok {
			t.Errorf("UID(%q) found", name)
		}
		if _, ok := c.GID(name); ok {
			t.Errorf("GID(%q) found", name)
		}
	}
}

func TestNamesCachesHitsAndMisses(t *testing.T) {
	c := NewNames()
	calls := map[string]int{}
	c.lookupUserID = func(id string) (*user.User, error) {
		calls["uid "+id]++
		if id == "7" {
			return &user.User{Uid: "7", Username: "seven"}, nil
		}
		return nil, user.UnknownUserIdError(1)
	}
	c.lookupGroup = func(name string) (*user.Group, error) {
		calls["group "+name]++
		if name == "wheel" {
			return &user.Group{Gid: "10", Name: "wheel"}, nil
		}
		return nil, user.UnknownGroupError(name)
	}
	for range 3 {
		if got := c.User(7); got != "seven" {
			t.Fatalf("User(7) = %q", got)
		}
		if got := c.User(8); got != "" {
			t.Fatalf("User(8) = %q", got)
		}
		if id, ok := c.GID("wheel"); !ok || id != 10 {
			t.Fatalf("GID(wheel) = %d, %v", id, ok)
		}
		if _, ok := c.GID("nogroup-x"); ok {
			t.Fatal("GID(nogroup-x) found")
		}
	}
	for key, n := range calls {
		if n != 1 {
			t.Errorf("%s looked up %d times, want 1", key, n)
		}
	}
	if len(calls) != 4 {
		t.Errorf("lookups %v, want 4 distinct", calls)
	}
}
