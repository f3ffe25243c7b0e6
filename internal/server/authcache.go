package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// authCache remembers authenticated tokens for a few seconds, so that a
// busy client does not cost three database reads a request. Any change to
// a principal, a token or a binding empties it, through the store wrapper
// below; the few seconds bound what a change made outside this process
// could leave stale.
type authCache struct {
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[string]authEntry
}

type authEntry struct {
	id    *identity
	gen   uint64
	until time.Time
}

// authCacheTTL is how long an entry is used without reading the database.
const authCacheTTL = 5 * time.Second

func newAuthCache() *authCache { return &authCache{m: map[string]authEntry{}} }

// get returns the identity cached for token id, if still good at now.
func (a *authCache) get(id string, now time.Time) (*identity, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[id]
	if !ok || e.gen != a.gen.Load() || !now.Before(e.until) {
		return nil, false
	}
	return e.id, true
}

// put caches an identity read at generation gen.
func (a *authCache) put(id string, ident *identity, gen uint64, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) > 10000 {
		a.m = map[string]authEntry{}
	}
	a.m[id] = authEntry{id: ident, gen: gen, until: now.Add(authCacheTTL)}
}

// invalidate forgets every entry.
func (a *authCache) invalidate() { a.gen.Add(1) }

// authStore is the control-plane store with every change to who may do
// what invalidating the cache, both when it is made and once it commits.
type authStore struct {
	store.Store
	cache *authCache
}

func (s *authStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	t := &authTx{cache: s.cache}
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		t.Tx = tx
		return fn(t)
	})
	if t.changed {
		s.cache.invalidate()
	}
	return err
}

type authTx struct {
	store.Tx
	cache   *authCache
	changed bool
}

func (t *authTx) mark() {
	t.changed = true
	t.cache.invalidate()
}

func (t *authTx) UpdatePrincipal(ctx context.Context, p *store.Principal) error {
	t.mark()
	return t.Tx.UpdatePrincipal(ctx, p)
}

func (t *authTx) UpdateToken(ctx context.Context, tk *store.Token) error {
	t.mark()
	return t.Tx.UpdateToken(ctx, tk)
}

func (t *authTx) UpdateGrant(ctx context.Context, g *store.Grant) error {
	t.mark()
	return t.Tx.UpdateGrant(ctx, g)
}

func (t *authTx) CreateBinding(ctx context.Context, b *store.Binding) error {
	t.mark()
	return t.Tx.CreateBinding(ctx, b)
}

func (t *authTx) DeleteBinding(ctx context.Context, id int64) error {
	t.mark()
	return t.Tx.DeleteBinding(ctx, id)
}

// identityFor reads a token's principal and bindings.
func identityFor(ctx context.Context, tx store.Tx, t *store.Token) (*identity, error) {
	p, err := tx.Principal(ctx, t.Principal)
	if err != nil {
		return nil, err
	}
	bs, err := tx.Bindings(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	id := &identity{principal: p, token: t}
	for _, b := range bs {
		id.bindings = append(id.bindings, rbac.Binding(b.Binding))
	}
	return id, nil
}
