package repo

import (
	"container/list"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
)

// treeCache keeps the plaintext of recently used tree blobs, up to a number
// of bytes, evicting the least recently used. Trees are named by their
// content, so an entry never goes stale. A vault server walks every
// listing of a new point to prove it complete, and hands the parent
// point's listings to the next backup of the same source: on object
// storage each miss is a request, so the listings a server has just
// received or read stay at hand.
type treeCache struct {
	mu    sync.Mutex
	limit int
	used  int
	order *list.List // of *treeEntry, most recent first
	byID  map[blob.ID]*list.Element
}

type treeEntry struct {
	id   blob.ID
	data []byte
}

func newTreeCache(limit int) *treeCache {
	if limit <= 0 {
		return nil
	}
	return &treeCache{limit: limit, order: list.New(), byID: map[blob.ID]*list.Element{}}
}

// get appends the cached plaintext of id to buf[:0], reporting whether it
// was cached. The caller owns the result.
func (c *treeCache) get(id blob.ID, buf []byte) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return append(buf[:0], e.Value.(*treeEntry).data...), true
}

// add caches a copy of data as the plaintext of tree id. A tree larger
// than a quarter of the cache is not kept.
func (c *treeCache) add(id blob.ID, data []byte) {
	if c == nil || len(data) > c.limit/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byID[id] = c.order.PushFront(&treeEntry{id: id, data: append([]byte(nil), data...)})
	c.used += len(data)
	for c.used > c.limit {
		last := c.order.Back()
		te := last.Value.(*treeEntry)
		c.order.Remove(last)
		delete(c.byID, te.id)
		c.used -= len(te.data)
	}
}
