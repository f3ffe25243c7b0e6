package bufpool

import "testing"

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

func TestReuse(t *testing.T) {
	var p Pool
	b := p.Get(100000)
	b[0] = 42
	p.Put(b)
	// sync.Pool may drop items at any GC; reuse is likely, not guaranteed.
	if c := p.Get(90000); cap(c) != cap(b) {
		t.Fatalf("class mismatch: %d vs %d", cap(c), cap(b))
	}
}
