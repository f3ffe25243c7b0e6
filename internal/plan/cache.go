package plan

import "sync"

// maxCached bounds a Cache: once it holds this many plans it starts
// afresh.
const maxCached = 10000

// Cache decodes stored plans once. DecodePlan checks every field of a plan
// and samples its schedule, about a millisecond for a cron plan; a server
// that decodes its stored plans for every run that comes due and every
// agent's poll would spend seconds a minute on it with a thousand plans.
// The zero value is ready to use, and it is safe for concurrent use.
type Cache struct {
	mu sync.Mutex
	m  map[string]Plan // by encoding
}

// Decode is DecodePlan, remembered: a plan decoded before is returned at
// once. Each call returns a copy of its own, which the caller may change.
func (c *Cache) Decode(data []byte) (Plan, error) {
	c.mu.Lock()
	p, ok := c.m[string(data)]
	c.mu.Unlock()
	if ok {
		return p.clone(), nil
	}
	p, err := DecodePlan(data)
	if err != nil {
		return Plan{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[string]Plan)
	}
	c.m[string(data)] = p.clone()
	return p, nil
}
