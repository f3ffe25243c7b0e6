// Package bufpool recycles byte buffers by size class, so that the chunk,
// compression and read buffers a backup or a check goes through are reused
// rather than left to the garbage collector.
//
// Unlike a sync.Pool, a Pool keeps its buffers across garbage collections.
// bunker runs the collector often (see cmd/bunker) to keep memory near the
// live set; a sync.Pool is emptied by every other collection, and each
// emptied buffer then comes back as a fresh allocation that the kernel must
// fault in and the runtime zero. What a Pool keeps is bounded by Limit, and
// never exceeds what was in use at once before.
package bufpool

import (
	"math/bits"
	"sync"
)

// Size classes are powers of two from 4 KiB to 64 MiB.
const (
	minShift = 12
	maxShift = 26
)

// DefaultLimit is how many bytes of idle buffers a Pool keeps when its
// Limit is zero.
const DefaultLimit = 64 << 20

// Pool hands out buffers of at least a requested size. The zero value is
// ready to use and safe for concurrent use.
type Pool struct {
	// Limit bounds the bytes of idle buffers kept for reuse; a buffer put
	// back beyond it is left to the garbage collector. Zero means
	// DefaultLimit. Set it before first use.
	Limit int

	mu   sync.Mutex
	idle [maxShift - minShift + 1][][]byte
	held int // bytes in idle
}

// class returns the index of the smallest class holding n bytes, or -1 when
// n is larger than the largest class.
func class(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxShift {
		return -1
	}
	return shift - minShift
}

// Get returns a buffer of length n. Its contents are undefined.
func (p *Pool) Get(n int) []byte {
	c := class(n)
	if c < 0 {
		return make([]byte, n)
	}
	p.mu.Lock()
	if k := len(p.idle[c]); k > 0 {
		b := p.idle[c][k-1]
		p.idle[c][k-1] = nil
		p.idle[c] = p.idle[c][:k-1]
		p.held -= cap(b)
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return make([]byte, n, 1<<(c+minShift))
}

// Put returns b for reuse. Buffers whose capacity is not exactly a size
// class (those Get did not make) are dropped. When keeping b would take the
// idle buffers beyond the limit, idle buffers of other classes make room,
// the largest class first, so that the pool follows the sizes in use now;
// if that is not enough, b is dropped.
func (p *Pool) Put(b []byte) {
	c := class(cap(b))
	if c < 0 || cap(b) != 1<<(c+minShift) {
		return
	}
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if cap(b) > limit {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for other := len(p.idle) - 1; p.held+cap(b) > limit && other >= 0; other-- {
		for other != c && len(p.idle[other]) > 0 && p.held+cap(b) > limit {
			k := len(p.idle[other]) - 1
			p.held -= cap(p.idle[other][k])
			p.idle[other][k] = nil
			p.idle[other] = p.idle[other][:k]
		}
	}
	if p.held+cap(b) > limit {
		return
	}
	p.idle[c] = append(p.idle[c], b[:0])
	p.held += cap(b)
}

// Idle returns the bytes of idle buffers the pool keeps.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}
