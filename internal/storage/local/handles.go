package local

import (
	"os"
	"sync"
)

// maxOpenPacks bounds the pack files a Backend keeps open.
const maxOpenPacks = 64

// handles keeps recently read packs open. Objects never change, so an open
// descriptor stays valid, and reading many blobs from one pack costs one
// open, fstat and close instead of one per blob.
type handles struct {
	mu    sync.Mutex
	files map[string]*handle
}

// handle is one open pack, shared by concurrent readers.
type handle struct {
	f       *os.File
	size    int64
	refs    int  // readers holding the file, plus one while it is cached
	evicted bool // no longer in the cache; closed when refs reach zero
}

// acquire returns the open file for path, opening it on first use.
func (c *handles) acquire(path string) (*handle, error) {
	c.mu.Lock()
	if h, ok := c.files[path]; ok {
		h.refs++
		c.mu.Unlock()
		return h, nil
	}
	c.mu.Unlock()
	f, size, err := openObject(path)
	if err != nil {
		return nil, err
	}
	h := &handle{f: f, size: size, refs: 2}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]*handle{}
	}
	if old, ok := c.files[path]; ok {
		// Another reader opened it meanwhile: use theirs.
		f.Close()
		old.refs++
		return old, nil
	}
	if len(c.files) >= maxOpenPacks {
		c.evictOneLocked()
	}
	c.files[path] = h
	return h, nil
}

// release drops a reader's hold on h.
func (c *handles) release(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(h)
}

// forget removes path from the cache, as Delete does.
func (c *handles) forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.files[path]; ok {
		delete(c.files, path)
		h.evicted = true
		c.dropLocked(h)
	}
}

// closeAll empties the cache.
func (c *handles) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for path, h := range c.files {
		delete(c.files, path)
		h.evicted = true
		c.dropLocked(h)
	}
}

func (c *handles) evictOneLocked() {
	for path, h := range c.files { // map order is random: random eviction
		delete(c.files, path)
		h.evicted = true
		c.dropLocked(h)
		return
	}
}

func (c *handles) dropLocked(h *handle) {
	h.refs--
	if h.refs == 0 && h.evicted {
		h.f.Close()
	}
}
