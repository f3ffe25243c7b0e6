// Package bufpool recycles byte buffers by size class, so that the chunk,
// compression and pack buffers a backup goes through are reused rather than
// left to the garbage collector.
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

// Pool hands out buffers of at least a requested size. The zero value is
// ready to use and safe for concurrent use.
type Pool struct {
	classes [maxShift - minShift + 1]sync.Pool
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
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<(c+minShift))
}

// Put returns b for reuse. Buffers whose capacity is not exactly a size
// class (those Get did not make) are dropped.
func (p *Pool) Put(b []byte) {
	c := class(cap(b))
	if c < 0 || cap(b) != 1<<(c+minShift) {
		return
	}
	b = b[:0]
	p.classes[c].Put(&b)
}
