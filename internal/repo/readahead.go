package repo

import (
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
)

// readAhead keeps the last few stretches of packs that LoadPayloads read,
// each extended beyond what was asked for. A restore through a vault server
// asks for blobs in the order of the files, which is the order they were
// stored in: the next requests then find their blobs in memory instead of
// sending a request each to the storage.
type readAhead struct {
	mu    sync.Mutex
	size  int // bytes a read is extended to
	segs  []segment
	limit int // segments kept
}

type segment struct {
	pack  blob.ID
	start uint64
	data  []byte
}

func newReadAhead(size int) *readAhead {
	if size <= 0 {
		return nil
	}
	return &readAhead{size: size, limit: 8}
}

// find returns the bytes [start, end) of pack if a kept stretch holds them.
// The result must not be modified.
func (ra *readAhead) find(pack blob.ID, start, end uint64) ([]byte, bool) {
	if ra == nil {
		return nil, false
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for i, s := range ra.segs {
		if s.pack == pack && start >= s.start && end <= s.start+uint64(len(s.data)) {
			// Most recently used last.
			copy(ra.segs[i:], ra.segs[i+1:])
			ra.segs[len(ra.segs)-1] = s
			return s.data[start-s.start : end-s.start], true
		}
	}
	return nil, false
}

// worth reports whether the reads of runs should be extended: not when
// they add up to a read-ahead's worth already. A caller that asks for that
// much at once (a copy, in batches) says what it wants next itself, and
// extending each of its runs would read several times what it asked for.
func (ra *readAhead) worth(runs []*run) bool {
	if ra == nil {
		return false
	}
	var n uint64
	for _, rn := range runs {
		n += rn.end - rn.start
	}
	return n < uint64(ra.size)
}

// extend returns how far to read from start when end was asked for, at most
// to limit (where the pack's last blob ends).
func (ra *readAhead) extend(start, end, limit uint64) uint64 {
	if ra == nil {
		return end
	}
	return min(max(end, start+uint64(ra.size)), max(end, limit))
}

// keep remembers a stretch read, dropping the least recently used.
func (ra *readAhead) keep(pack blob.ID, start uint64, data []byte) {
	if ra == nil {
		return
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if len(ra.segs) == ra.limit {
		copy(ra.segs, ra.segs[1:])
		ra.segs = ra.segs[:len(ra.segs)-1]
	}
	ra.segs = append(ra.segs, segment{pack: pack, start: start, data: data})
}
