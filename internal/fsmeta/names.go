package fsmeta

import (
	"os/user"
	"strconv"
	"sync"
)

// Names resolves user and group ids to names and back, caching every answer,
// including the ids and names that the system does not know. A Names is safe
// for use by multiple goroutines. The zero value is not usable; call NewNames.
type Names struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
	uids   map[string]lookup
	gids   map[string]lookup

	lookupUserID  func(string) (*user.User, error)
	lookupGroupID func(string) (*user.Group, error)
	lookupUser    func(string) (*user.User, error)
	lookupGroup   func(string) (*user.Group, error)
}

type lookup struct {
	id uint32
	ok bool
}

// NewNames returns an empty cache backed by the system's user and group
// databases.
func NewNames() *Names {
	return &Names{
		users:         make(map[uint32]string),
		groups:        make(map[uint32]string),
		uids:          make(map[string]lookup),
		gids:          make(map[string]lookup),
		lookupUserID:  user.LookupId,
		lookupGroupID: user.LookupGroupId,
		lookupUser:    user.Lookup,
		lookupGroup:   user.LookupGroup,
	}
}

// User returns the name of the user with the given id, or "" if the system
// has no such user.
func (c *Names) User(uid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.users[uid]; ok {
		return name
	}
	var name string
	if u, err := c.lookupUserID(strconv.FormatUint(uint64(uid), 10)); err == nil {
		name = u.Username
	}
	c.users[uid] = name
	return name
}

// Group returns the name of the group with the given id, or "" if the system
// has no such group.
func (c *Names) Group(gid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.groups[gid]; ok {
		return name
	}
	var name string
	if g, err := c.lookupGroupID(strconv.FormatUint(uint64(gid), 10)); err == nil {
		name = g.Name
	}
	c.groups[gid] = name
	return name
}

// UID returns the local id of the named user. ok is false when the name is
// empty or the system has no such user.
func (c *Names) UID(name string) (uid uint32, ok bool) {
	if name == "" {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, found := c.uids[name]; found {
		return r.id, r.ok
	}
	var r lookup
	if u, err := c.lookupUser(name); err == nil {
		r = parseID(u.Uid)
	}
	c.uids[name] = r
	return r.id, r.ok
}

// GID returns the local id of the named group. ok is false when the name is
// empty or the system has no such group.
func (c *Names) GID(name string) (gid uint32, ok bool) {
	if name == "" {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, found := c.gids[name]; found {
		return r.id, r.ok
	}
	var r lookup
	if g, err := c.lookupGroup(name); err == nil {
		r = parseID(g.Gid)
	}
	c.gids[name] = r
	return r.id, r.ok
}

func parseID(s string) lookup {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return lookup{}
	}
	return lookup{id: uint32(id), ok: true}
}
