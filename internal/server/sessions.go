package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/store"
)

// session is a backup being uploaded, or a restore being read. It lives in
// memory: a server restart ends it, and the client starts again, sending
// only what the vault still lacks.
type session struct {
	id        string
	restore   bool
	vault     string
	principal string
	created   time.Time

	mu       sync.Mutex
	lastUsed time.Time
	busy     int // requests in flight

	// A backup session's host and paths are fixed when it opens.
	hostname string
	paths    []string
	tags     []string
	parent   *store.Point
	// trees the client may read from the parent point: its root, then the
	// subtrees of every listing it has read.
	parentTrees map[blob.ID]bool
	// claims are blobs the session relies on (uploaded, or reported
	// present): garbage collection keeps them while the session lives.
	claims   map[blob.Handle]struct{}
	received int64
	stored   int64
	bytes    int64 // uploaded
	job      int64 // the backup's job

	// A restore session reads only what its point needs.
	point     *store.Point
	reachable map[blob.Handle]struct{}
	// grant is the grant whose token opened a restore session: only that
	// token uses it.
	grant *store.Grant
}

func (se *session) touch(now time.Time) {
	se.mu.Lock()
	se.lastUsed = now
	se.mu.Unlock()
}

func (se *session) claim(hs ...blob.Handle) {
	se.mu.Lock()
	for _, h := range hs {
		se.claims[h] = struct{}{}
	}
	se.mu.Unlock()
}

// sessionSet holds the open sessions.
type sessionSet struct {
	idle time.Duration
	now  func() time.Time
	mu   sync.Mutex
	m    map[string]*session
}

func newSessionSet(idle time.Duration, now func() time.Time) *sessionSet {
	return &sessionSet{idle: idle, now: now, m: map[string]*session{}}
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (ss *sessionSet) add(se *session) {
	ss.mu.Lock()
	ss.m[se.id] = se
	ss.mu.Unlock()
}

// get returns the session id when it belongs to who, and marks it busy;
// call done when the request ends. A session a grant opened belongs to
// the grant's token alone, and a grant's token uses no other session.
func (ss *sessionSet) get(id string, who *identity, restore bool) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	se, ok := ss.m[id]
	if !ok || se.principal != who.name() || se.restore != restore {
		return nil, false
	}
	if (se.grant != nil || who.grant != nil) && (se.grant == nil || who.grant == nil || se.grant.ID != who.grant.ID) {
		return nil, false
	}
	se.mu.Lock()
	se.busy++
	se.lastUsed = ss.now()
	se.mu.Unlock()
	return se, true
}

func (ss *sessionSet) done(se *session) {
	se.mu.Lock()
	se.busy--
	se.lastUsed = ss.now()
	se.mu.Unlock()
}

func (ss *sessionSet) remove(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

func (ss *sessionSet) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// reap ends sessions idle longer than the limit and returns them.
func (ss *sessionSet) reap() []*session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	var ended []*session
	for id, se := range ss.m {
		se.mu.Lock()
		stale := se.busy == 0 && now.Sub(se.lastUsed) > ss.idle
		se.mu.Unlock()
		if stale {
			delete(ss.m, id)
			ended = append(ended, se)
		}
	}
	return ended
}

// claims returns every blob that open sessions of vault rely on: what
// backups uploaded or were told is present, and what restores are reading.
func (ss *sessionSet) claims(vault string) map[blob.Handle]bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := map[blob.Handle]bool{}
	for _, se := range ss.m {
		if se.vault != vault {
			continue
		}
		if se.restore {
			for h := range se.reachable {
				out[h] = true
			}
			continue
		}
		se.mu.Lock()
		for h := range se.claims {
			out[h] = true
		}
		if se.parent != nil {
			if id, err := blob.ParseID(se.parent.Tree); err == nil {
				out[blob.Handle{ID: id, Type: blob.TreeBlob}] = true
			}
		}
		se.mu.Unlock()
	}
	return out
}

// reapLoop ends idle sessions, and expires approval requests and
// restore-access grants, every minute.
func (s *Server) reapLoop(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if ended := s.sessions.reap(); len(ended) > 0 {
				s.log.Info("ended idle sessions", "sessions", len(ended))
				for _, se := range ended {
					if !se.restore {
						s.finishBackupJob(ctx, se, "", "the session expired")
					}
				}
			}
			if err := s.expireRequests(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expire approval requests", "err", err)
			}
			if err := s.expireGrants(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expire restore-access grants", "err", err)
			}
			s.metrics.sessions.Set(float64(s.sessions.count()))
		}
	}
}
