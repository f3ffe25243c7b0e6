package s3

import (
	"sync"
	"time"
)

// maxCachedVersions bounds the version cache: about 100 MiB when full, and
// enough for every pack of a vault of several TiB.
const maxCachedVersions = 1 << 19

// version is what the backend knows of the version of a key it reads: on
// a versioned bucket the oldest version that is not a delete marker.
type version struct {
	id      string // "" on a bucket without versioning
	size    int64
	modTime time.Time
	etag    string
}

// versionCache maps keys to the version the backend reads. Versions are
// immutable, so an entry stays right until the version is deleted; readers
// drop an entry when the service reports its version gone.
type versionCache struct {
	mu sync.Mutex
	m  map[string]version
}

func (c *versionCache) get(key string) (version, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

// put records v for key, replacing what was known unless keepOld is set.
func (c *versionCache) put(key string, v version, keepOld bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]version{}
	}
	if _, ok := c.m[key]; ok && keepOld {
		return
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxCachedVersions {
		for k := range c.m { // map order is random: random eviction
			delete(c.m, k)
			break
		}
	}
	c.m[key] = v
}

func (c *versionCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
