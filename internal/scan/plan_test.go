package scan

import "testing"

func TestPlanBounds(t *testing.T) {
	o := DefaultOptions()
	for _, size := range []int64{0, 1, 4095, 1 << 20, 1<<20 + 1, 3<<20 + 17, 100 << 20, 1 << 40} {
		spans := o.plan(size)
		var total int64
		for i, sp := range spans {
			if sp.n <= 0 || sp.off < 0 || sp.off+sp.n > size {
				t.Fatalf("size %d: bad span %+v", size, sp)
			}
			if i > 0 && sp.off < spans[i-1].off+spans[i-1].n {
				t.Fatalf("size %d: overlapping spans %+v %+v", size, spans[i-1], sp)
			}
			total += sp.n
		}
		if total > o.MaxRead {
			t.Errorf("size %d: plan reads %d > %d", size, total, o.MaxRead)
		}
		if size > 0 && (spans[0].off != 0 || spans[len(spans)-1].off+spans[len(spans)-1].n != size) {
			t.Errorf("size %d: head or tail missing", size)
		}
		if size > o.MaxRead && len(spans) < 40 {
			t.Errorf("size %d: only %d spans", size, len(spans))
		}
	}
}
