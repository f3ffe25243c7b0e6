package bufpool

import (
	"runtime"
	"testing"
)

func TestGetPut(t *testing.T) {
	var p Pool
	for _, n := range []int{0, 1, 4096, 4097, 1 << 20, 3<<20 + 5, 64 << 20} {
		b := p.Get(n)
		if len(b) != n || cap(b) < n || cap(b) > 2*n+4096 {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
		p.Put(b)
	}
	huge := p.Get(64<<20 + 1)
	if len(huge) != 64<<20+1 {
		t.Fatal("oversized buffer has the wrong length")
	}
	p.Put(huge) // dropped, must not panic
	p.Put(make([]byte, 5000))
	if b := p.Get(5000); cap(b) != 8192 {
		t.Fatalf("a foreign buffer was recycled: cap %d", cap(b))
	}
}

// TestReuseSurvivesGC checks that a buffer put back is handed out again even
// after garbage collections, which empty a sync.Pool.
func TestReuseSurvivesGC(t *testing.T) {
	var p Pool
	b := p.Get(100000)
	b[0] = 42
	p.Put(b)
	runtime.GC()
	runtime.GC()
	c := p.Get(90000)
	if cap(c) != cap(b) || &c[:1][0] != &b[:1][0] {
		t.Fatal("the buffer put back was not reused after two collections")
	}
	if p.Idle() != 0 {
		t.Fatalf("%d bytes idle after the only buffer was taken", p.Idle())
	}
}

func TestLimitBoundsIdleBuffers(t *testing.T) {
	p := Pool{Limit: 1 << 20}
	var bufs [][]byte
	for range 10 {
		bufs = append(bufs, p.Get(256<<10))
	}
	for _, b := range bufs {
		p.Put(b)
	}
	if got := p.Idle(); got != 1<<20 {
		t.Fatalf("%d bytes idle, want the limit of %d", got, 1<<20)
	}
	var zero Pool
	for _, b := range [][]byte{zero.Get(DefaultLimit / 2), zero.Get(DefaultLimit / 2), zero.Get(DefaultLimit / 2)} {
		zero.Put(b)
	}
	if got := zero.Idle(); got != DefaultLimit {
		t.Fatalf("zero Pool keeps %d bytes idle, want DefaultLimit %d", got, DefaultLimit)
	}
}

// TestPutMakesRoomFromOtherClasses checks that buffers of the sizes in use
// now displace idle buffers of other sizes instead of being dropped.
func TestPutMakesRoomFromOtherClasses(t *testing.T) {
	p := Pool{Limit: 1 << 20}
	var small [][]byte
	for range 16 {
		small = append(small, p.Get(64<<10))
	}
	for _, b := range small {
		p.Put(b)
	}
	big := p.Get(512 << 10)
	p.Put(big)
	if c := p.Get(512 << 10); &c[:1][0] != &big[:1][0] {
		t.Fatal("a buffer of the size in use was dropped while idle buffers of another size were kept")
	}
	if got := p.Idle(); got != 512<<10 {
		t.Fatalf("%d bytes idle, want the 512 KiB of small buffers that still fit", got)
	}
	p.Put(make([]byte, 0, 2<<20)) // larger than the limit: not even a class of its own
	if got := p.Idle(); got != 512<<10 {
		t.Fatalf("%d bytes idle after putting a buffer larger than the limit", got)
	}
}
