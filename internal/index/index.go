// Package index maps blobs to the packs that hold them, in memory, and
// encodes that map for storage as index objects.
package index

import (
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/pack"
)

// Location says where a blob is stored.
type Location struct {
	Pack   blob.ID
	Salt   [crypto.SaltSize]byte // the pack's salt, from which its object key derives
	Offset uint64
	Length uint32
	RawLen uint32
	Flags  uint8
}

// Entry returns the pack entry for the blob at l.
func (l Location) Entry(h blob.Handle) pack.Entry {
	return pack.Entry{Type: h.Type, Flags: l.Flags, Offset: l.Offset, Length: l.Length, RawLen: l.RawLen, ID: h.ID}
}

type loc struct {
	pack   uint32
	offset uint64
	length uint32
	rawLen uint32
	flags  uint8
}

// Index is a concurrency-safe in-memory index. A blob may be stored in
// several packs (two writers racing, or an interrupted prune); Lookup returns
// the first one recorded.
type Index struct {
	mu    sync.RWMutex
	packs []blob.ID
	salts [][crypto.SaltSize]byte
	ends  []uint64 // per pack: where its last blob ends
	pack  map[blob.ID]uint32
	blobs map[blob.Handle]loc
	extra map[blob.Handle][]loc // further copies of a blob, for check and prune
}

// New returns an empty index.
func New() *Index {
	return &Index{pack: map[blob.ID]uint32{}, blobs: map[blob.Handle]loc{}, extra: map[blob.Handle][]loc{}}
}

// AddPack records every blob of a pack.
func (x *Index) AddPack(id blob.ID, salt [crypto.SaltSize]byte, entries []pack.Entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	p, ok := x.pack[id]
	if ok {
		return
	}
	p = uint32(len(x.packs))
	x.packs = append(x.packs, id)
	x.salts = append(x.salts, salt)
	x.pack[id] = p
	var end uint64
	for _, e := range entries {
		end = max(end, e.Offset+uint64(e.Length))
		h := blob.Handle{ID: e.ID, Type: e.Type}
		l := loc{pack: p, offset: e.Offset, length: e.Length, rawLen: e.RawLen, flags: e.Flags}
		if _, dup := x.blobs[h]; dup {
			x.extra[h] = append(x.extra[h], l)
			continue
		}
		x.blobs[h] = l
	}
	x.ends = append(x.ends, end)
}

// Replace makes x hold exactly what y holds. y must not be used afterwards.
func (x *Index) Replace(y *Index) {
	y.mu.Lock()
	defer y.mu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.packs, x.salts, x.ends, x.pack, x.blobs, x.extra = y.packs, y.salts, y.ends, y.pack, y.blobs, y.extra
}

// BlobsEnd returns where the last blob of an indexed pack ends: reading a
// pack up to there never reaches past its end.
func (x *Index) BlobsEnd(id blob.ID) (uint64, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.pack[id]
	if !ok {
		return 0, false
	}
	return x.ends[p], true
}

// HasPack reports whether the pack is indexed.
func (x *Index) HasPack(id blob.ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.pack[id]
	return ok
}

// Has reports whether the blob is indexed.
func (x *Index) Has(h blob.Handle) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.blobs[h]
	return ok
}

// Lookup returns where the blob is stored.
func (x *Index) Lookup(h blob.Handle) (Location, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l, ok := x.blobs[h]
	if !ok {
		return Location{}, false
	}
	return x.location(l), true
}

// LookupAll returns every stored copy of the blob.
func (x *Index) LookupAll(h blob.Handle) []Location {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l, ok := x.blobs[h]
	if !ok {
		return nil
	}
	out := []Location{x.location(l)}
	for _, e := range x.extra[h] {
		out = append(out, x.location(e))
	}
	return out
}

func (x *Index) location(l loc) Location {
	return Location{Pack: x.packs[l.pack], Salt: x.salts[l.pack], Offset: l.offset, Length: l.length, RawLen: l.rawLen, Flags: l.flags}
}

// Packs returns the ids of all indexed packs.
func (x *Index) Packs() []blob.ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]blob.ID(nil), x.packs...)
}

// Len returns the number of distinct blobs.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.blobs)
}

// PackContents returns the entries of every indexed pack, keyed by pack id.
func (x *Index) PackContents() map[blob.ID]*PackEntries {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[blob.ID]*PackEntries, len(x.packs))
	for i, id := range x.packs {
		out[id] = &PackEntries{Pack: id, Salt: x.salts[i]}
	}
	add := func(h blob.Handle, l loc) {
		p := out[x.packs[l.pack]]
		p.Entries = append(p.Entries, x.location(l).Entry(h))
	}
	for h, l := range x.blobs {
		add(h, l)
		for _, e := range x.extra[h] {
			add(h, e)
		}
	}
	return out
}
